"""Lab VMs on libvirt: one copy-on-write qcow2 overlay and one domain per student.

create_instance: overlay volume backed by `<image dir>/<image id>.qcow2` in Vigil's own
storage pool, a domain defined on it with a VNC console behind a fresh password, started.
kill: destroy, undefine, delete the overlay. libvirt calls block, so each runs in a thread.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from xml.sax.saxutils import quoteattr

import structlog

from vigil.labs.driver import CheckResult, LabsError, VmInfo, VmNotFound, VmState
from vigil.labs.ids import check_id
from vigil.labs.qcow2 import ImageError, virtual_size
from vigil.settings import Settings

log = structlog.get_logger("vigil.labs")

T = TypeVar("T")

DOMAIN_PREFIX = "vigil-lab-"
POOL_NAME = "vigil-lab-overlays"
VNC_PASSWORD_LENGTH = 8  # the VNC protocol uses only the first 8 characters
LIBVIRT_THREADS = 4  # libvirt calls in flight at once, per process


class _Abandoned(Exception):
    """The caller stopped waiting for this VM."""


def _still_wanted(abandoned: threading.Event) -> None:
    if abandoned.is_set():
        raise _Abandoned


class LibvirtDriver:
    name = "libvirt"

    def __init__(
        self,
        uri: str,
        image_dir: Path,
        overlay_dir: Path,
        network: str,
        memory_mib: int,
        vcpus: int,
        vnc_listen: str,
        vnc_host: str,
        domain_type: str = "kvm",
        timeout_seconds: float = 60,
    ) -> None:
        try:
            import libvirt
        except ImportError:
            raise LabsError(
                "the libvirt driver needs libvirt-python: pip install 'vigil[labs]'"
            ) from None
        self._libvirt: Any = libvirt
        self.uri = uri
        self.image_dir = image_dir
        self.overlay_dir = overlay_dir
        self.network = network
        self.memory_mib = memory_mib
        self.vcpus = vcpus
        self.vnc_listen = vnc_listen
        self.vnc_host = vnc_host
        self.domain_type = domain_type
        self.timeout_seconds = timeout_seconds
        self._connection: Any = None
        self._executor = ThreadPoolExecutor(LIBVIRT_THREADS, thread_name_prefix="vigil-libvirt")
        self._connect_lock = threading.Lock()
        # libvirt's default handler prints every error to stderr; ours are raised and logged.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

    @classmethod
    def from_settings(cls, settings: Settings) -> LibvirtDriver:
        if settings.libvirt_image_dir is None:
            raise LabsError("VIGIL_LABS_DRIVER=libvirt needs VIGIL_LIBVIRT_IMAGE_DIR")
        return cls(
            uri=settings.libvirt_uri,
            image_dir=settings.libvirt_image_dir,
            overlay_dir=settings.resolved_libvirt_overlay_dir,
            network=settings.libvirt_network,
            memory_mib=settings.libvirt_memory_mib,
            vcpus=settings.libvirt_vcpus,
            vnc_listen=settings.libvirt_vnc_listen,
            vnc_host=settings.resolved_libvirt_vnc_host,
            domain_type=settings.libvirt_domain_type,
            timeout_seconds=settings.labs_timeout_seconds,
        )

    async def create_instance(self, image_id: str) -> VmInfo:
        check_id(image_id, "VM image id")
        # Set when the caller stops waiting: the thread then undoes what it made, so a
        # start that outlives its time-out leaves no VM that nobody knows the id of.
        abandoned = threading.Event()
        try:
            return await self._blocking(self._create, image_id, abandoned)
        except BaseException:
            abandoned.set()
            raise

    async def status(self, vm_id: str) -> VmInfo:
        return await self._blocking(self._status, self._domain_name(vm_id))

    async def kill(self, vm_id: str) -> None:
        await self._blocking(self._kill, self._domain_name(vm_id))

    async def check(self, vm_id: str, task_id: str, personal_task_id: str) -> CheckResult:
        raise LabsError(
            "this task has no checker command, and the libvirt driver cannot check a task itself"
        )

    def close(self) -> None:
        """Close the hypervisor connection (on shutdown); the next call opens a new one."""
        with self._connect_lock:
            if self._connection is not None:
                self._quietly(self._connection.close)
                self._connection = None

    # --- blocking parts, each run in a worker thread ---

    def _create(self, image_id: str, abandoned: threading.Event) -> VmInfo:
        image = self._base_image(image_id)
        try:
            capacity = virtual_size(image)
        except ImageError as error:
            raise LabsError(f"VM image {image.stem!r} cannot be used: {error}") from None
        name = f"{DOMAIN_PREFIX}{uuid.uuid4().hex}"
        password = secrets.token_urlsafe(VNC_PASSWORD_LENGTH)[:VNC_PASSWORD_LENGTH]
        pool = self._overlay_pool()
        volume = self._call(
            "create the VM's disk", pool.createXML, _overlay_xml(name, image, capacity), 0
        )
        domain = None
        try:
            _still_wanted(abandoned)
            domain = self._call(
                "define the VM",
                self._conn().defineXML,
                self._domain_xml(name, volume.path(), password),
            )
            _still_wanted(abandoned)
            self._call("start the VM", domain.create)
            _still_wanted(abandoned)
        except (LabsError, _Abandoned) as error:
            self._undo(domain, volume)
            if isinstance(error, _Abandoned):
                log.warning("lab VM start finished after its caller gave up: undone", vm_id=name)
            raise
        log.info("lab VM started", vm_id=name, image_id=image.stem)
        return self._info(domain)

    def _undo(self, domain: Any, volume: Any) -> None:
        if domain is not None:
            if self._is_active(domain):
                self._quietly(domain.destroy)
            self._quietly(domain.undefine)
        self._quietly(volume.delete, 0)

    def _is_active(self, domain: Any) -> bool:
        try:
            return bool(domain.isActive())
        except self._libvirt.libvirtError:
            return False

    def _status(self, name: str) -> VmInfo:
        return self._info(self._lookup(name))

    def _kill(self, name: str) -> None:
        try:
            domain = self._lookup(name)
        except VmNotFound:
            self._delete_overlay(name)  # a half-finished kill: the disk may be left
            raise
        if domain.isActive():
            self._call("stop the VM", domain.destroy)
        self._call("remove the VM", domain.undefine)
        self._delete_overlay(name)
        log.info("lab VM removed", vm_id=name)

    def _info(self, domain: Any) -> VmInfo:
        state = _vm_state(self._libvirt, self._call("read the VM's state", domain.state)[0])
        if state is not VmState.RUNNING:
            return VmInfo(vm_id=domain.name(), state=state)
        secure = self._libvirt.VIR_DOMAIN_XML_SECURE  # the VNC password is left out without it
        xml = self._call("read the VM's console", domain.XMLDesc, secure)
        port, password = _vnc_console(xml)
        return VmInfo(
            vm_id=domain.name(),
            state=state,
            address=self.vnc_host,
            port=port,
            password=password,
        )

    def _lookup(self, name: str) -> Any:
        try:
            return self._conn().lookupByName(name)
        except self._libvirt.libvirtError as error:
            if error.get_error_code() == self._libvirt.VIR_ERR_NO_DOMAIN:
                raise VmNotFound(f"no such VM: {name}") from None
            raise self._refused("find the VM", error) from None

    def _overlay_pool(self) -> Any:
        conn = self._conn()
        try:
            pool = conn.storagePoolLookupByName(POOL_NAME)
        except self._libvirt.libvirtError as error:
            if error.get_error_code() != self._libvirt.VIR_ERR_NO_STORAGE_POOL:
                raise self._refused("open the VM disk pool", error) from None
            pool = self._call(
                "create the VM disk pool", conn.storagePoolDefineXML, self._pool_xml()
            )
            self._call("create the VM disk folder", pool.build, 0)
        if not pool.isActive():
            self._call("start the VM disk pool", pool.create, 0)
        return pool

    def _delete_overlay(self, name: str) -> None:
        pool = self._overlay_pool()
        try:
            volume = pool.storageVolLookupByName(_overlay_name(name))
        except self._libvirt.libvirtError as error:
            if error.get_error_code() == self._libvirt.VIR_ERR_NO_STORAGE_VOL:
                return
            raise self._refused("find the VM's disk", error) from None
        self._call("delete the VM's disk", volume.delete, 0)

    def _conn(self) -> Any:
        with self._connect_lock:
            if self._connection is None or not self._connection.isAlive():
                try:
                    self._connection = self._libvirt.open(self.uri)
                except self._libvirt.libvirtError as error:
                    raise self._refused("connect to the hypervisor", error) from None
            return self._connection

    def _call(self, doing: str, method: Callable[..., T], *args: Any) -> T:
        try:
            return method(*args)
        except self._libvirt.libvirtError as error:
            raise self._refused(doing, error) from None

    def _quietly(self, method: Callable[..., Any], *args: Any) -> None:
        try:
            method(*args)
        except self._libvirt.libvirtError as error:
            log.warning("lab VM clean-up failed", error=str(error))

    def _refused(self, doing: str, error: Any) -> LabsError:
        # libvirt's own text names host paths and URIs: the log gets it, the client does not.
        log.error("libvirt call failed", doing=doing, error=str(error))
        return LabsError(f"the hypervisor could not {doing}")

    async def _blocking(self, function: Callable[..., T], *args: Any) -> T:
        """Run a libvirt step in one of the driver's threads; past the time-out the caller
        hears so and moves on.

        Own threads, not asyncio's default pool: a stalled hypervisor then cannot hold
        the threads that password hashing and file writes need. A step still queued when
        its caller gives up never runs; a running one cannot be interrupted and finishes
        in the background.
        """
        call = asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(function, *args)
        )
        try:
            return await asyncio.wait_for(call, self.timeout_seconds)
        except TimeoutError:
            raise LabsError(
                f"the hypervisor did not answer within {self.timeout_seconds:g} s"
            ) from None

    def _base_image(self, image_id: str) -> Path:
        image = self.image_dir / f"{image_id}.qcow2"
        if not image.is_file():
            raise LabsError(f"no VM image {image_id!r} on this server")
        return image.resolve()

    def _domain_name(self, vm_id: str) -> str:
        check_id(vm_id, "VM id")
        if not vm_id.startswith(DOMAIN_PREFIX):
            raise VmNotFound(f"no such VM: {vm_id}")  # never touch domains Vigil did not make
        return vm_id

    def _pool_xml(self) -> str:
        return (
            f"<pool type='dir'><name>{POOL_NAME}</name>"
            f"<target><path>{_xml_text(str(self.overlay_dir.resolve()))}</path></target></pool>"
        )

    def _domain_xml(self, name: str, disk: str, password: str) -> str:
        return f"""<domain type={quoteattr(self.domain_type)}>
  <name>{name}</name>
  <memory unit='MiB'>{self.memory_mib}</memory>
  <vcpu>{self.vcpus}</vcpu>
  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file={quoteattr(disk)}/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'><source network={quoteattr(self.network)}/></interface>
    <graphics type='vnc' autoport='yes' listen={quoteattr(self.vnc_listen)} \
passwd={quoteattr(password)}/>
  </devices>
</domain>"""


def _overlay_name(domain_name: str) -> str:
    return f"{domain_name}.qcow2"


def _overlay_xml(domain_name: str, base: Path, capacity: int) -> str:
    return f"""<volume>
  <name>{_overlay_name(domain_name)}</name>
  <capacity unit='bytes'>{capacity}</capacity>
  <target><format type='qcow2'/></target>
  <backingStore><path>{_xml_text(str(base))}</path><format type='qcow2'/></backingStore>
</volume>"""


def _xml_text(text: str) -> str:
    return quoteattr(text)[1:-1]


def _vm_state(libvirt: Any, state: int) -> VmState:
    if state in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED, libvirt.VIR_DOMAIN_PAUSED):
        return VmState.RUNNING
    if state in (libvirt.VIR_DOMAIN_NOSTATE, libvirt.VIR_DOMAIN_PMSUSPENDED):
        return VmState.LOADING
    return VmState.KILLED  # shut off, shutting down, crashed


def _vnc_console(domain_xml: str) -> tuple[int | None, str | None]:
    """The VNC port libvirt picked (None until it has) and the console password."""
    graphics = ET.fromstring(domain_xml).find("./devices/graphics[@type='vnc']")
    if graphics is None:
        return None, None
    port_text = graphics.get("port", "-1")
    port = int(port_text) if port_text.lstrip("-").isdigit() and int(port_text) > 0 else None
    return port, graphics.get("passwd")

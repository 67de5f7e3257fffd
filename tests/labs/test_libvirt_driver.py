"""The libvirt driver against libvirt's built-in test hypervisor (test:///default).

test:///default is a real libvirt connection with in-memory state and no daemon: domains,
networks and storage pools behave as on a real host, but nothing boots and no file is
written, so the overlay volume exists in libvirt's books only and VNC gets no port.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.labs.conftest import write_qcow2_header
from tests.support.required import skip_or_fail
from vigil.labs.driver import LabsError, VmNotFound, VmState, driver_from_settings
from vigil.labs.libvirt_driver import POOL_NAME, LibvirtDriver
from vigil.settings import Settings

try:
    import libvirt
except ImportError:  # the [labs] extra is not installed
    libvirt = None

pytestmark = pytest.mark.anyio

GiB = 1024**3


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "labs_driver": "libvirt",
        "libvirt_uri": "test:///default",
        "libvirt_domain_type": "test",
        "libvirt_image_dir": tmp_path / "images",
        "libvirt_overlay_dir": tmp_path / "overlays",
        "libvirt_vnc_listen": "0.0.0.0",
        "libvirt_vnc_host": "lab.example.edu",
        "libvirt_memory_mib": 512,
        "libvirt_vcpus": 1,
    }
    return Settings(**{**values, **overrides})


@pytest.fixture(autouse=True)
def needs_libvirt() -> None:
    if libvirt is None:
        skip_or_fail("libvirt-python is not installed (pip install 'vigil[labs]')")


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    write_qcow2_header(folder / "debian-12.qcow2", 20 * GiB)
    (folder / "notes.qcow2").write_text("not an image")
    return folder


@pytest.fixture
def labs(tmp_path: Path, images: Path) -> Iterator[LibvirtDriver]:
    driver = driver_from_settings(settings(tmp_path))
    assert isinstance(driver, LibvirtDriver)
    yield driver
    driver.close()  # the last connection closed resets test:///default for the next test


@pytest.fixture
def host(labs: LibvirtDriver) -> Iterator[Any]:
    """A second connection to the same hypervisor: what an operator's `virsh` would see."""
    connection = libvirt.open("test:///default")
    yield connection
    connection.close()


async def test_create_defines_and_starts_a_domain_on_an_overlay(
    labs: LibvirtDriver, host: Any, images: Path, tmp_path: Path
) -> None:
    vm = await labs.create_instance("debian-12")
    assert vm.vm_id.startswith("vigil-lab-")
    assert vm.state is VmState.RUNNING
    assert vm.address == "lab.example.edu"
    assert vm.port is None  # the test hypervisor assigns no VNC port; a real one does
    assert vm.password is not None
    assert len(vm.password) == 8

    domain = host.lookupByName(vm.vm_id)
    assert domain.isActive()
    xml = ET.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE))
    disk = xml.find("./devices/disk/source")
    assert disk is not None
    overlay_path = tmp_path / "overlays" / f"{vm.vm_id}.qcow2"
    assert disk.get("file") == str(overlay_path)
    graphics = xml.find("./devices/graphics")
    assert graphics is not None
    assert (graphics.get("type"), graphics.get("autoport")) == ("vnc", "yes")
    assert graphics.get("listen") == "0.0.0.0"
    assert graphics.get("passwd") == vm.password
    network = xml.find("./devices/interface/source")
    assert network is not None
    assert network.get("network") == "default"

    volume = host.storagePoolLookupByName(POOL_NAME).storageVolLookupByName(overlay_path.name)
    volume_xml = ET.fromstring(volume.XMLDesc(0))
    assert volume_xml.findtext("./backingStore/path") == str(images / "debian-12.qcow2")
    assert volume_xml.find("./target/format").get("type") == "qcow2"  # type: ignore[union-attr]
    assert int(volume_xml.findtext("./capacity") or 0) == 20 * GiB


async def test_each_student_gets_an_own_vm_and_password(labs: LibvirtDriver) -> None:
    first = await labs.create_instance("debian-12")
    second = await labs.create_instance("debian-12")
    assert first.vm_id != second.vm_id
    assert first.password != second.password


async def test_status_follows_the_domain(labs: LibvirtDriver, host: Any) -> None:
    vm = await labs.create_instance("debian-12")
    status = await labs.status(vm.vm_id)
    assert (status.state, status.password) == (VmState.RUNNING, vm.password)
    host.lookupByName(vm.vm_id).destroy()  # powered off from inside, or by an operator
    stopped = await labs.status(vm.vm_id)
    assert stopped.state is VmState.KILLED
    assert stopped.address is None


async def test_kill_removes_domain_and_overlay(labs: LibvirtDriver, host: Any) -> None:
    vm = await labs.create_instance("debian-12")
    await labs.kill(vm.vm_id)
    with pytest.raises(libvirt.libvirtError):
        host.lookupByName(vm.vm_id)
    assert host.storagePoolLookupByName(POOL_NAME).listVolumes() == []
    with pytest.raises(VmNotFound, match=f"no such VM: {vm.vm_id}"):
        await labs.status(vm.vm_id)
    with pytest.raises(VmNotFound):
        await labs.kill(vm.vm_id)


async def test_domains_vigil_did_not_make_are_left_alone(labs: LibvirtDriver, host: Any) -> None:
    assert host.lookupByName("test").isActive()  # test:///default's own domain
    with pytest.raises(VmNotFound):
        await labs.kill("test")
    assert host.lookupByName("test").isActive()


async def test_unknown_or_unusable_images_are_refused(labs: LibvirtDriver, host: Any) -> None:
    with pytest.raises(LabsError, match="^no VM image 'windows-11' on this server$"):
        await labs.create_instance("windows-11")
    with pytest.raises(LabsError, match="^VM image 'notes' cannot be used: it is not a qcow2"):
        await labs.create_instance("notes")
    with pytest.raises(LabsError, match="bad VM image id"):
        await labs.create_instance("../images/debian-12")
    assert [d.name() for d in host.listAllDomains()] == ["test"]


async def test_a_failed_start_leaves_nothing_behind(
    tmp_path: Path, images: Path, host: Any
) -> None:
    class UnknownArchitecture(LibvirtDriver):
        """A domain the hypervisor rejects once the overlay already exists."""

        def _domain_xml(self, name: str, disk: str, password: str) -> str:
            return super()._domain_xml(name, disk, password).replace("x86_64", "pdp11")

    labs = UnknownArchitecture.from_settings(settings(tmp_path))
    try:
        with pytest.raises(LabsError) as caught:
            await labs.create_instance("debian-12")
        assert str(caught.value).startswith("the hypervisor could not ")
        assert "pdp11" not in str(caught.value)  # libvirt's own text stays in the log
        assert [d.name() for d in host.listAllDomains()] == ["test"]
        assert host.storagePoolLookupByName(POOL_NAME).listVolumes() == []
    finally:
        labs.close()


async def test_an_unreachable_hypervisor_is_a_clear_error(tmp_path: Path, images: Path) -> None:
    labs = LibvirtDriver.from_settings(settings(tmp_path, libvirt_uri="test:///no/such/node.xml"))
    with pytest.raises(LabsError, match="^the hypervisor could not connect to the hypervisor$"):
        await labs.status("vigil-lab-0")


async def test_libvirt_calls_run_off_the_event_loop(tmp_path: Path, images: Path) -> None:
    threads: list[int] = []

    class Recording(LibvirtDriver):
        def _conn(self) -> Any:
            threads.append(threading.get_ident())
            return super()._conn()

    labs = Recording.from_settings(settings(tmp_path))
    try:
        vm = await labs.create_instance("debian-12")
        await labs.status(vm.vm_id)
        await labs.kill(vm.vm_id)
    finally:
        labs.close()
    assert threads
    assert threading.get_ident() not in threads


async def test_a_stalled_hypervisor_call_is_a_clear_error(tmp_path: Path, images: Path) -> None:
    release = threading.Event()

    class Stalled(LibvirtDriver):
        def _status(self, name: str) -> Any:
            release.wait(30)  # a libvirtd that stopped answering
            return super()._status(name)

    labs = Stalled.from_settings(settings(tmp_path, labs_timeout_seconds=0.2))
    try:
        with pytest.raises(LabsError, match=r"^the hypervisor did not answer within 0.2 s$"):
            await labs.status("vigil-lab-0")
    finally:
        release.set()
        labs.close()


async def test_a_start_that_outlives_its_caller_is_undone(
    tmp_path: Path, images: Path, host: Any
) -> None:
    release = threading.Event()

    class SlowStart(LibvirtDriver):
        def _call(self, doing: str, method: Any, *args: Any) -> Any:
            if doing == "start the VM":
                release.wait(30)  # qemu taking its time
            return super()._call(doing, method, *args)

    labs = SlowStart.from_settings(settings(tmp_path, labs_timeout_seconds=0.2))
    try:
        with pytest.raises(LabsError, match="did not answer within 0.2 s"):
            await labs.create_instance("debian-12")
        release.set()
        labs._executor.shutdown(wait=True)  # let the start finish in the background
        assert [d.name() for d in host.listAllDomains()] == ["test"]
        assert host.storagePoolLookupByName(POOL_NAME).listVolumes() == []
    finally:
        release.set()
        labs.close()


async def test_check_needs_a_checker_command(labs: LibvirtDriver) -> None:
    with pytest.raises(LabsError, match="no checker command"):
        await labs.check("vigil-lab-0", "t", "p")


def test_settings_require_an_image_folder() -> None:
    with pytest.raises(ValueError, match="VIGIL_LIBVIRT_IMAGE_DIR"):
        Settings(labs_driver="libvirt")

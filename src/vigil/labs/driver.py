"""The hypervisor port: what the core asks of a lab VM, whichever hypervisor runs it.

A driver is chosen by `VIGIL_LABS_DRIVER` (docs/labs.md): `none` (the default: every call
says no hypervisor is configured), `libvirt` (libvirt-python), or `script` (the original
ExamManager control program). Every failure a driver reports is a `LabsError` whose text is
safe to show a client: no paths, no stack traces, no credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from vigil.settings import Settings


class VmState(IntEnum):
    """ExamManager's VM status codes (TaskStatusResponse.status)."""

    RUNNING = 1
    KILLED = 2
    LOADING = 4


@dataclass(frozen=True)
class VmInfo:
    vm_id: str
    state: VmState
    address: str | None = None
    port: int | None = None
    password: str | None = None


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    message: str


class LabsError(Exception):
    """A hypervisor failure; str(error) is safe to show a client."""


class NoHypervisorConfigured(LabsError):
    pass


class VmNotFound(LabsError):
    pass


class LabDriver(Protocol):
    name: str

    async def create_instance(self, image_id: str) -> VmInfo: ...

    async def status(self, vm_id: str) -> VmInfo:
        """The VM's state now: KILLED, or VmNotFound, once it is gone."""
        ...

    async def kill(self, vm_id: str) -> None: ...

    async def check(self, vm_id: str, task_id: str, personal_task_id: str) -> CheckResult: ...


NO_HYPERVISOR_MESSAGE = (
    "no hypervisor is configured: set VIGIL_LABS_DRIVER to libvirt or script (docs/labs.md)"
)


class NoHypervisorDriver:
    """The default: practical tasks work, but starting or checking a VM is refused clearly."""

    name = "none"

    async def create_instance(self, image_id: str) -> VmInfo:
        raise NoHypervisorConfigured(NO_HYPERVISOR_MESSAGE)

    async def status(self, vm_id: str) -> VmInfo:
        raise NoHypervisorConfigured(NO_HYPERVISOR_MESSAGE)

    async def kill(self, vm_id: str) -> None:
        raise NoHypervisorConfigured(NO_HYPERVISOR_MESSAGE)

    async def check(self, vm_id: str, task_id: str, personal_task_id: str) -> CheckResult:
        raise NoHypervisorConfigured(NO_HYPERVISOR_MESSAGE)


def driver_from_settings(settings: Settings) -> LabDriver:
    """The driver `VIGIL_LABS_DRIVER` names; libvirt is imported only when chosen."""
    if settings.labs_driver == "libvirt":
        from vigil.labs.libvirt_driver import LibvirtDriver

        return LibvirtDriver.from_settings(settings)
    if settings.labs_driver == "script":
        from vigil.labs.script_driver import ScriptDriver

        return ScriptDriver.from_settings(settings)
    return NoHypervisorDriver()

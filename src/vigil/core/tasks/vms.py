"""A student's virtual machines and task checks, as requests see them: each call records
what is wanted (`pending`, a status) and the jobs in `jobs.py` do it after the commit."""

from __future__ import annotations

import uuid as uuid_module
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.core import policy
from vigil.core.errors import Conflict, NotFound, VigilError
from vigil.core.identity.models import User
from vigil.core.tasks import service as tasks
from vigil.core.tasks.models import PersonalTask, Task, TaskImage, VirtualMachine, VmAction
from vigil.core.tasks.secrets import unwrap_password
from vigil.core.tasks.statuses import TaskStatus, VmStatus, task_transition, vm_transition
from vigil.storage.db import utcnow


class LabUnavailable(VigilError):
    """No hypervisor is configured (or it refused): virtual machines cannot run here."""


@dataclass(frozen=True)
class Connection:
    address: str
    port: int
    password: str | None


async def own_lab(db: AsyncSession, actor: User, task_id: uuid_module.UUID) -> PersonalTask:
    """The caller's personal task for this task; only its holder works on it."""
    task = await tasks.find_task(db, task_id, field="taskId")
    personal = await tasks.holding(db, actor, task)
    policy.require_lab_holder(actor, personal.user_id if personal else None)
    assert personal is not None
    return personal


def image_of(task: Task, image_id: str) -> TaskImage:
    for image in task.images:
        if image.image_id == image_id:
            return image
    raise NotFound(f"task {task.uuid} has no virtual machine image {image_id!r}", field="id")


async def vm_of(db: AsyncSession, personal: PersonalTask, image_id: str) -> VirtualMachine | None:
    return await db.scalar(
        select(VirtualMachine).where(
            VirtualMachine.personal_task_id == personal.id, VirtualMachine.image_id == image_id
        )
    )


async def vms_of(db: AsyncSession, personal_ids: list[int]) -> dict[int, list[VirtualMachine]]:
    found: dict[int, list[VirtualMachine]] = {}
    if personal_ids:
        query = select(VirtualMachine).where(VirtualMachine.personal_task_id.in_(personal_ids))
        for vm in await db.scalars(query):
            found.setdefault(vm.personal_task_id or 0, []).append(vm)
    return found


async def request_start(
    db: AsyncSession, personal: PersonalTask, image_id: str, driver: str
) -> tuple[VirtualMachine, bool]:
    """The machine, and whether a start job must run (False: it is up or coming up)."""
    image_of(personal.task, image_id)
    vm = await vm_of(db, personal, image_id)
    if vm is not None and vm.pending is VmAction.STOP:
        raise Conflict("the virtual machine is stopping: start it again once it has stopped")
    if vm is not None and vm.status != VmStatus.KILLED:
        return vm, False
    if vm is None:
        vm = VirtualMachine(personal_task_id=personal.id, image_id=image_id, driver=driver)
        db.add(vm)
    vm.status = vm_transition(VmStatus(vm.status or VmStatus.KILLED), VmStatus.LOADING)
    vm.pending = VmAction.START
    vm.driver = driver
    vm.driver_vm_id = vm.address = vm.port = vm.password_wrapped = vm.message = None
    vm.updated_at = utcnow()
    await db.flush()
    return vm, True


async def request_stop(
    db: AsyncSession, personal: PersonalTask, image_id: str
) -> VirtualMachine | None:
    """The machine to stop, or None when there is nothing to stop."""
    image_of(personal.task, image_id)
    vm = await vm_of(db, personal, image_id)
    if vm is None or (vm.status == VmStatus.KILLED and vm.pending is None):
        return None
    vm.pending = VmAction.STOP
    vm.updated_at = utcnow()
    await db.flush()
    return vm


def connection(vm: VirtualMachine | None, server_secret: str) -> Connection:
    if vm is None or vm.status != VmStatus.RUNNING or vm.pending is not None:
        raise Conflict("the virtual machine is not running: start it first", field="id")
    if not vm.address or vm.port is None:
        raise LabUnavailable("the hypervisor gave no console address for this machine")
    password = (
        unwrap_password(server_secret, vm.id, vm.password_wrapped)
        if vm.password_wrapped is not None
        else None
    )
    return Connection(vm.address, vm.port, password)


async def request_check(db: AsyncSession, personal: PersonalTask, hypervisor: bool) -> None:
    """Mark the task CHECKING; the check job runs the checker and records the result."""
    task = personal.task
    if task.images:
        if not hypervisor and not task.checker_command:
            raise LabUnavailable("no hypervisor is configured: the task cannot be checked")
        running = [
            vm
            for vm in (await vms_of(db, [personal.id])).get(personal.id, [])
            if vm.status == VmStatus.RUNNING and vm.pending is None
        ]
        if not running:
            raise Conflict("start the task's virtual machine before checking it", field="taskId")
    elif not task.checker_command:
        raise Conflict("this task has neither a virtual machine nor a checker", field="taskId")
    personal.status = task_transition(TaskStatus(personal.status), TaskStatus.CHECKING)
    personal.message = None
    await db.flush()

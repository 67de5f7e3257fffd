"""Background work on students' virtual machines, in-process asyncio tasks.

The database is the record of what is wanted: a request sets a machine LOADING with
`pending=start`, or `pending=stop`, or a personal task CHECKING, commits, and then asks
`LabJobs` to do it (ids only). Each job step owns a short transaction and re-reads the row,
so a stop requested while a start is under way wins. On start-up, `resume` picks up what a
stopped process left: starts that have a driver VM id are polled again (one interrupted
before the hypervisor answered is marked KILLED with a message; starting again is safe),
stops are retried, checks are run again. `poll_forever` marks machines that vanished KILLED
and retries stops that failed. Job names: `labs.start_vm`, `labs.stop_vm`, `labs.check_task`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from vigil.core.tasks.models import PersonalTask, Task, VirtualMachine, VmAction
from vigil.core.tasks.secrets import unwrap_password, wrap_password
from vigil.core.tasks.statuses import TaskStatus, VmStatus, task_transition
from vigil.labs.checker import run_task_checker
from vigil.labs.driver import CheckResult, LabDriver, LabsError, VmInfo, VmNotFound, VmState
from vigil.settings import Settings
from vigil.storage import views
from vigil.storage.db import utcnow

log = structlog.get_logger("vigil.labs.jobs")

INTERRUPTED = "the start was interrupted by a server restart: start the machine again"
VANISHED = "the virtual machine is gone"


@dataclass(frozen=True)
class LabTimings:
    poll_seconds: float  # how often running machines are checked for having vanished
    loading_poll_seconds: float  # how often a starting machine is asked if it is up
    start_timeout_seconds: float  # a machine not up by then is killed
    check_timeout_seconds: float  # a checker command running longer is stopped


def timings_from(settings: Settings) -> LabTimings:
    return LabTimings(
        poll_seconds=settings.exammanager_vm_poll_seconds,
        loading_poll_seconds=settings.exammanager_vm_loading_poll_seconds,
        start_timeout_seconds=settings.exammanager_vm_start_timeout_seconds,
        check_timeout_seconds=settings.exammanager_check_timeout_seconds,
    )


class LabJobs:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        driver: LabDriver,
        server_secret: str,
        timings: LabTimings,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.driver = driver
        self.server_secret = server_secret
        self.timings = timings
        self._running: set[asyncio.Task[None]] = set()
        self._busy: set[int] = set()  # VM rows a job of this process is working on

    @property
    def hypervisor(self) -> bool:
        return self.driver.name != "none"

    # --- asking for work (async: FastAPI runs a plain function in a thread) ------------

    async def start_vm(self, vm_row_id: int) -> None:
        self._spawn(vm_row_id, self._start(vm_row_id), "labs.start_vm")

    async def stop_vm(self, vm_row_id: int) -> None:
        if vm_row_id in self._busy:
            return  # the job at work on it sees `pending=stop` at its next step
        self._spawn(vm_row_id, self._stop(vm_row_id), "labs.stop_vm")

    async def check_task(self, personal_task_id: int) -> None:
        self._spawn(None, self._check(personal_task_id), "labs.check_task")

    def _spawn(self, vm_row_id: int | None, work: Coroutine[Any, Any, None], name: str) -> None:
        if vm_row_id is not None:
            self._busy.add(vm_row_id)

        async def run() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:  # the row stays as it was: resume or the poll retries
                log.exception("lab job failed", job=name, vm=vm_row_id)
            finally:
                if vm_row_id is not None:
                    self._busy.discard(vm_row_id)

        task = asyncio.create_task(run(), name=name)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        for task in list(self._running):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def idle(self) -> None:
        """Wait until every job asked for so far has finished (tests, shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    # --- start ---------------------------------------------------------------------------

    async def _start(self, vm_row_id: int) -> None:
        async with views.unit_of_work(self.sessionmaker) as db:
            vm = await db.get(VirtualMachine, vm_row_id)
            if vm is None or vm.pending is not VmAction.START:
                return
            image_id, vm_id = vm.image_id, vm.driver_vm_id
        if vm_id is None:
            try:
                info = await self.driver.create_instance(image_id)
            except LabsError as error:
                await self._record_failure(vm_row_id, str(error))
                return
            if not await self._record(vm_row_id, info, first=True):
                return
        deadline = time.monotonic() + self.timings.start_timeout_seconds
        while True:
            await asyncio.sleep(self.timings.loading_poll_seconds)
            async with views.unit_of_work(self.sessionmaker) as db:
                vm = await db.get(VirtualMachine, vm_row_id)
                if vm is None or vm.pending is not VmAction.START or vm.driver_vm_id is None:
                    if vm is not None and vm.pending is VmAction.STOP:
                        await self._stop(vm_row_id)
                    return
                vm_id = vm.driver_vm_id
            if time.monotonic() > deadline:
                await self._give_up(vm_row_id, vm_id)
                return
            try:
                info = await self.driver.status(vm_id)
            except VmNotFound:
                info = VmInfo(vm_id=vm_id, state=VmState.KILLED)
            except LabsError as error:
                log.warning("vm status failed while starting", vm=vm_row_id, error=str(error))
                continue
            if not await self._record(vm_row_id, info):
                return

    async def _record(self, vm_row_id: int, info: VmInfo, first: bool = False) -> bool:
        """Store what the driver said; True while the machine is still coming up."""
        stop_now = False
        async with views.unit_of_work(self.sessionmaker) as db:
            vm = await db.get(VirtualMachine, vm_row_id)
            if vm is None:
                stop_now = first  # deleted meanwhile: nobody else knows its driver id
            else:
                vm.driver_vm_id = info.vm_id
                if info.address:
                    vm.address = info.address
                if info.port is not None:
                    vm.port = info.port
                if info.password:
                    vm.password_wrapped = wrap_password(self.server_secret, vm.id, info.password)
                vm.updated_at = utcnow()
                if vm.pending is VmAction.STOP:
                    stop_now = True
                elif info.state is VmState.RUNNING:
                    vm.status, vm.pending = VmStatus.RUNNING, None
                elif info.state is VmState.KILLED:
                    vm.status, vm.pending, vm.message = VmStatus.KILLED, None, VANISHED
        if stop_now:
            if vm is None:
                await self._kill(info.vm_id)
            else:
                await self._stop(vm_row_id)
            return False
        return info.state is VmState.LOADING

    async def _record_failure(self, vm_row_id: int, message: str) -> None:
        async with views.unit_of_work(self.sessionmaker) as db:
            vm = await db.get(VirtualMachine, vm_row_id)
            if vm is None:
                return
            if vm.personal_task_id is None:
                await db.delete(vm)
                return
            vm.status, vm.pending, vm.message = VmStatus.KILLED, None, message
            vm.updated_at = utcnow()

    async def _give_up(self, vm_row_id: int, vm_id: str) -> None:
        seconds = self.timings.start_timeout_seconds
        await self._kill(vm_id)
        await self._record_failure(vm_row_id, f"the machine did not start within {seconds:g} s")

    # --- stop ----------------------------------------------------------------------------

    async def _stop(self, vm_row_id: int) -> None:
        async with views.unit_of_work(self.sessionmaker) as db:
            vm = await db.get(VirtualMachine, vm_row_id)
            if vm is None or vm.pending is not VmAction.STOP:
                return
            vm_id = vm.driver_vm_id
        if vm_id is not None and not await self._kill(vm_id):
            return  # stays pending: the poll tries again
        async with views.unit_of_work(self.sessionmaker) as db:
            vm = await db.get(VirtualMachine, vm_row_id)
            if vm is None or vm.pending is not VmAction.STOP:
                return
            if vm.personal_task_id is None:
                await db.delete(vm)
                return
            vm.status, vm.pending, vm.message = VmStatus.KILLED, None, None
            vm.driver_vm_id = vm.address = vm.port = vm.password_wrapped = None
            vm.updated_at = utcnow()

    async def _kill(self, vm_id: str) -> bool:
        try:
            await self.driver.kill(vm_id)
        except VmNotFound:
            return True
        except LabsError as error:
            log.warning("vm kill failed", vm_id=vm_id, error=str(error))
            return False
        return True

    # --- check ---------------------------------------------------------------------------

    async def _check(self, personal_task_id: int) -> None:
        async with views.unit_of_work(self.sessionmaker) as db:
            personal = await db.scalar(
                select(PersonalTask)
                .where(PersonalTask.id == personal_task_id)
                .options(selectinload(PersonalTask.task).selectinload(Task.images))
            )
            if personal is None or personal.status != TaskStatus.CHECKING:
                return
            command, task_uuid, personal_uuid = (
                personal.task.checker_command,
                str(personal.task.uuid),
                str(personal.uuid),
            )
            order = {image.image_id: image.order for image in personal.task.images}
            vms = await db.scalars(
                select(VirtualMachine).where(
                    VirtualMachine.personal_task_id == personal_task_id,
                    VirtualMachine.status == VmStatus.RUNNING,
                )
            )
            running = sorted(vms, key=lambda vm: (order.get(vm.image_id, 0), vm.id))
            vm_info = self._vm_info(running[0]) if running else None
        result = await self._run_check(command, vm_info, task_uuid, personal_uuid)
        async with views.unit_of_work(self.sessionmaker) as db:
            personal = await db.get(PersonalTask, personal_task_id)
            if personal is None or personal.status != TaskStatus.CHECKING:
                return
            target = TaskStatus.SUCCESSED if result.passed else TaskStatus.FAILED
            personal.status = task_transition(TaskStatus(personal.status), target)
            personal.message = result.message
            personal.checked_at = utcnow()

    def _vm_info(self, vm: VirtualMachine) -> VmInfo:
        password = (
            unwrap_password(self.server_secret, vm.id, vm.password_wrapped)
            if vm.password_wrapped is not None
            else None
        )
        return VmInfo(vm.driver_vm_id or "", VmState.RUNNING, vm.address, vm.port, password)

    async def _run_check(
        self, command: str | None, vm: VmInfo | None, task_uuid: str, personal_uuid: str
    ) -> CheckResult:
        try:
            if command:
                target = vm or VmInfo(vm_id="", state=VmState.KILLED)
                return await run_task_checker(command, target, self.timings.check_timeout_seconds)
            if vm is None:
                return CheckResult(False, "no running virtual machine to check")
            return await self.driver.check(vm.vm_id, task_uuid, personal_uuid)
        except LabsError as error:
            return CheckResult(False, f"the check could not run: {error}")

    # --- after a restart, and every poll interval --------------------------------------

    async def resume(self) -> None:
        async with views.unit_of_work(self.sessionmaker) as db:
            checking = list(
                await db.scalars(
                    select(PersonalTask.id).where(PersonalTask.status == TaskStatus.CHECKING)
                )
            )
            starting, stopping = [], []
            pending = await db.scalars(
                select(VirtualMachine).where(VirtualMachine.pending.is_not(None))
            )
            for vm in pending:
                if vm.pending is VmAction.STOP:
                    stopping.append(vm.id)
                elif vm.driver_vm_id is not None:
                    starting.append(vm.id)
                elif vm.personal_task_id is None:
                    await db.delete(vm)
                else:
                    vm.status, vm.pending, vm.message = VmStatus.KILLED, None, INTERRUPTED
        if starting or stopping or checking:
            log.info(
                "resuming lab jobs", starts=len(starting), stops=len(stopping), checks=len(checking)
            )
        for vm_row_id in starting:
            await self.start_vm(vm_row_id)
        for vm_row_id in stopping:
            await self.stop_vm(vm_row_id)
        for personal_id in checking:
            await self.check_task(personal_id)

    async def poll_once(self) -> int:
        """Mark running machines that vanished KILLED; retry stops. The number marked."""
        if not self.hypervisor:
            return 0
        async with views.unit_of_work(self.sessionmaker) as db:
            rows = (
                await db.execute(
                    select(VirtualMachine.id, VirtualMachine.driver_vm_id, VirtualMachine.pending)
                    .where(VirtualMachine.driver_vm_id.is_not(None))
                    .where(
                        (VirtualMachine.status == VmStatus.RUNNING)
                        | (VirtualMachine.pending == VmAction.STOP)
                    )
                )
            ).all()
        vanished = 0
        for vm_row_id, vm_id, pending in rows:
            if vm_row_id in self._busy or vm_id is None:
                continue
            if pending is VmAction.STOP:
                await self.stop_vm(vm_row_id)
                continue
            try:
                state = (await self.driver.status(vm_id)).state
            except VmNotFound:
                state = VmState.KILLED
            except LabsError as error:
                log.warning("vm status failed", vm=vm_row_id, error=str(error))
                continue
            if state is VmState.KILLED and await self._mark_vanished(vm_row_id, vm_id):
                vanished += 1
        return vanished

    async def _mark_vanished(self, vm_row_id: int, vm_id: str) -> bool:
        async with views.unit_of_work(self.sessionmaker) as db:
            vm = await db.get(VirtualMachine, vm_row_id)
            if vm is None or vm.driver_vm_id != vm_id or vm.status != VmStatus.RUNNING:
                return False
            vm.status, vm.message = VmStatus.KILLED, VANISHED
            vm.address = vm.port = vm.password_wrapped = None
            vm.updated_at = utcnow()
            return True

    async def run_forever(self) -> None:
        """Resume what a stopped process left, then poll. A database that is down at
        start-up delays the resume to the next tick; it does not stop the server."""
        resumed = False
        while True:
            try:
                if not resumed:
                    await self.resume()
                    resumed = True
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("resuming lab jobs failed; retrying at the next poll")
            if resumed:
                await self.poll_forever()
            await asyncio.sleep(self.timings.poll_seconds)

    async def poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.timings.poll_seconds)
            try:
                count = await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # retried at the next tick
                log.exception("lab poll failed")
                continue
            if count:
                log.info("virtual machines vanished", count=count)

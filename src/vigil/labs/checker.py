"""Run a task's checker command against a student's VM: exit 0 passes, stdout is the message."""

from __future__ import annotations

import shlex
from pathlib import PurePath

import structlog

from vigil.labs.driver import CheckResult, LabsError, VmInfo
from vigil.labs.process import TimedOut, run_program, scrubbed_environment

log = structlog.get_logger("vigil.labs")

MESSAGE_LIMIT = 2000


async def run_task_checker(command: str, vm: VmInfo, timeout_seconds: float) -> CheckResult:
    """Run `command` (split like a shell would; no shell runs it) with the VM in its environment.

    The checker sees VIGIL_VM_ADDRESS, VIGIL_VM_PORT and VIGIL_VM_ID (empty when unknown)
    and none of the server's own VIGIL_* settings. A checker that outlives timeout_seconds
    is killed with its process group and the check fails with that said. A command that
    cannot be run at all is the task author's mistake, not the student's: LabsError.
    """
    try:
        argv = shlex.split(command)
    except ValueError as error:
        raise LabsError(f"the task's checker command cannot be parsed: {error}") from None
    if not argv:
        raise LabsError("the task has no checker command")
    env = scrubbed_environment(
        {
            "VIGIL_VM_ADDRESS": vm.address or "",
            "VIGIL_VM_PORT": str(vm.port) if vm.port is not None else "",
            "VIGIL_VM_ID": vm.vm_id,
        }
    )
    try:
        finished = await run_program(argv, timeout_seconds, env)
    except TimedOut:
        return CheckResult(
            passed=False,
            message=f"the check did not finish within {timeout_seconds:g} s and was stopped",
        )
    except OSError as error:
        log.error("labs.checker_unrunnable", program=argv[0], error=str(error))
        # the student reads this message too: the program's name, not where it lives
        name = PurePath(argv[0]).name
        raise LabsError(f"the task's checker {name!r} could not be started") from None

    message = finished.stdout.strip()[:MESSAGE_LIMIT]
    if finished.returncode == 0:
        return CheckResult(passed=True, message=message)
    return CheckResult(
        passed=False,
        message=message or f"the check failed (exit status {finished.returncode})",
    )

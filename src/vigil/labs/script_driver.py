"""The original ExamManager control-program protocol, so existing university setups keep working.

`PROGRAM create_instance IMAGE_ID`, `PROGRAM status VM_ID`, `PROGRAM kill VM_ID` and
`PROGRAM check VM_ID TASK_ID PERSONAL_TASK_ID`, each answering one JSON object on stdout
(docs/labs.md has the fields). Run with an argv list, never a shell.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import structlog

from vigil.labs.driver import CheckResult, LabsError, VmInfo, VmNotFound, VmState
from vigil.labs.ids import check_id
from vigil.labs.process import TimedOut, run_program, scrubbed_environment
from vigil.settings import Settings

log = structlog.get_logger("vigil.labs")

NOT_FOUND_EXIT = 3  # the program's way of saying "no such VM"
MESSAGE_LIMIT = 300

_STATE_NAMES = {state.name: state for state in VmState}


class ScriptDriver:
    name = "script"

    def __init__(self, program: Path, timeout_seconds: float) -> None:
        self.program = program
        self.timeout_seconds = timeout_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> ScriptDriver:
        if settings.labs_script is None:
            raise LabsError("VIGIL_LABS_DRIVER=script needs VIGIL_LABS_SCRIPT")
        return cls(settings.labs_script, settings.labs_timeout_seconds)

    async def create_instance(self, image_id: str) -> VmInfo:
        answer = await self._call("create_instance", check_id(image_id, "VM image id"))
        return _vm_info(answer, "create_instance")

    async def status(self, vm_id: str) -> VmInfo:
        answer = await self._call("status", check_id(vm_id, "VM id"))
        return _vm_info(answer, "status")

    async def kill(self, vm_id: str) -> None:
        await self._call("kill", check_id(vm_id, "VM id"), expect_json=False)

    async def check(self, vm_id: str, task_id: str, personal_task_id: str) -> CheckResult:
        answer = await self._call(
            "check",
            check_id(vm_id, "VM id"),
            check_id(task_id, "task id"),
            check_id(personal_task_id, "personal task id"),
        )
        passed = answer.get("passed")
        if not isinstance(passed, bool):
            raise _bad_output("check", 'no boolean "passed" field')
        message = answer.get("message", "")
        if not isinstance(message, str):
            raise _bad_output("check", '"message" is not a string')
        return CheckResult(passed=passed, message=message)

    async def _call(self, command: str, *args: str, expect_json: bool = True) -> dict[str, Any]:
        argv = [str(self.program), command, *args]
        try:
            finished = await run_program(argv, self.timeout_seconds, scrubbed_environment())
        except TimedOut:
            raise LabsError(
                f"the VM control program did not answer {command} within "
                f"{self.timeout_seconds:g} s and was stopped"
            ) from None
        except OSError as error:
            log.error("labs.script_unrunnable", program=str(self.program), error=str(error))
            raise LabsError("the VM control program could not be started") from None

        if finished.returncode == NOT_FOUND_EXIT:
            raise VmNotFound(f"no such VM: {args[0]}")
        if finished.returncode != 0:
            reason = _last_line(finished.stderr) or "no message on stderr"
            raise LabsError(
                f"the VM control program failed on {command} "
                f"(exit status {finished.returncode}): {reason}"
            )
        if not expect_json:
            return {}
        try:
            answer = json.loads(finished.stdout)
        except ValueError:
            raise _bad_output(command, "its output is not JSON") from None
        if not isinstance(answer, dict):
            raise _bad_output(command, "its output is not a JSON object")
        return answer


def _vm_info(answer: dict[str, Any], command: str) -> VmInfo:
    vm_id = answer.get("vmid")
    if isinstance(vm_id, int) and not isinstance(vm_id, bool):
        vm_id = str(vm_id)
    if not isinstance(vm_id, str) or not vm_id:
        raise _bad_output(command, 'no "vmid" field')
    return VmInfo(
        vm_id=vm_id,
        state=_state(answer.get("status"), command),
        address=_optional_str(answer, "address", command),
        port=_port(answer.get("port"), command),
        password=_optional_str(answer, "password", command),
    )


def _state(value: Any, command: str) -> VmState:
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return VmState(value)
        except ValueError:
            pass
    if isinstance(value, str) and value.upper() in _STATE_NAMES:
        return _STATE_NAMES[value.upper()]
    if value is None:
        raise _bad_output(command, 'no "status" field')
    raise _bad_output(command, f'"status" {value!r} is not 1, 2, 4 or RUNNING, KILLED, LOADING')


def _port(value: Any, command: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
        return value
    raise _bad_output(command, f'"port" {value!r} is not a TCP port')


def _optional_str(answer: dict[str, Any], field: str, command: str) -> str | None:
    value = answer.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad_output(command, f'"{field}" is not a string')
    return value


def _bad_output(command: str, problem: str) -> LabsError:
    return LabsError(f"the VM control program gave a bad answer to {command}: {problem}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:MESSAGE_LIMIT] if lines else ""

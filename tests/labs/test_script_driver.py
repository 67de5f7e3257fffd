"""The script driver against a real control program (tests/labs/control_program.py)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from vigil.labs.driver import LabsError, VmNotFound, VmState, driver_from_settings
from vigil.labs.script_driver import ScriptDriver
from vigil.settings import Settings

pytestmark = pytest.mark.anyio

Program = Callable[[str], Path]


def driver(program: Path, timeout: float = 30) -> ScriptDriver:
    return ScriptDriver(program, timeout)


async def test_lifecycle_create_poll_check_kill(control_program: Program) -> None:
    labs = driver(control_program("normal"))
    created = await labs.create_instance("ubuntu-22.04")
    assert created.vm_id.startswith("ubuntu-22.04-")
    assert created.state is VmState.LOADING
    assert (created.address, created.port) == ("10.0.0.7", 5901)
    assert created.password == "pw-" + created.vm_id[-4:]

    running = await labs.status(created.vm_id)
    assert running.state is VmState.RUNNING  # the program reports status by name, too
    assert running.vm_id == created.vm_id

    unsolved = await labs.check(created.vm_id, "task-1", "pt-9")
    assert unsolved.passed is False
    assert unsolved.message == "task task-1 (pt-9): not yet"
    state_dir = control_program("normal").parent / "vms"
    (state_dir / f"{created.vm_id}.solved").touch()
    solved = await labs.check(created.vm_id, "task-1", "pt-9")
    assert solved.passed is True
    assert solved.message == "task task-1 (pt-9): done"

    await labs.kill(created.vm_id)
    with pytest.raises(VmNotFound, match=f"no such VM: {created.vm_id}"):
        await labs.status(created.vm_id)
    with pytest.raises(VmNotFound):
        await labs.kill(created.vm_id)


async def test_arguments_are_passed_as_argv_not_through_a_shell(control_program: Program) -> None:
    labs = driver(control_program("normal"))
    vm = await labs.create_instance("img")
    await labs.check(vm.vm_id, "t:1", "p@2")
    calls = (control_program("normal").parent / "vms" / "calls.log").read_text().splitlines()
    assert calls == ["create_instance img", f"check {vm.vm_id} t:1 p@2"]


@pytest.mark.parametrize("bad_id", ["-rf", "../etc/passwd", "a b", "x;reboot", "", ".hidden"])
async def test_unsafe_ids_never_reach_the_program(control_program: Program, bad_id: str) -> None:
    labs = driver(control_program("normal"))
    with pytest.raises(LabsError, match="bad VM image id"):
        await labs.create_instance(bad_id)
    with pytest.raises(LabsError, match="bad VM id"):
        await labs.status(bad_id)
    assert not (control_program("normal").parent / "vms" / "calls.log").exists()


async def test_a_hanging_program_is_stopped_with_a_clear_error(control_program: Program) -> None:
    labs = driver(control_program("hang"), timeout=0.5)
    with pytest.raises(LabsError, match=r"did not answer create_instance within 0.5 s"):
        await labs.create_instance("img")


async def test_a_hang_kills_the_whole_process_group(control_program: Program) -> None:
    labs = driver(control_program("hang-with-child"), timeout=1)
    with pytest.raises(LabsError, match="did not answer status within 1 s"):
        await labs.status("vm-1")
    child = int((control_program("normal").parent / "vms" / "child.pid").read_text())
    assert not _alive(child)


async def test_a_vm_left_running_in_the_background_is_not_waited_for_or_killed(
    control_program: Program,
) -> None:
    labs = driver(control_program("background-vm"), timeout=60)
    vm = await labs.create_instance("img")
    child = int((control_program("normal").parent / "vms" / "child.pid").read_text())
    try:
        assert vm.vm_id == f"bg-{child}"
        assert _alive(child)
    finally:
        os.kill(child, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie is dead, only not yet reaped


async def test_garbage_output_is_a_clear_error(control_program: Program) -> None:
    labs = driver(control_program("garbage"))
    with pytest.raises(LabsError, match="bad answer to create_instance: its output is not JSON"):
        await labs.create_instance("img")


async def test_missing_fields_are_named(control_program: Program) -> None:
    labs = driver(control_program("missing-fields"))
    with pytest.raises(LabsError, match='bad answer to status: no "vmid" field'):
        await labs.status("vm-1")
    with pytest.raises(LabsError, match='bad answer to check: no boolean "passed" field'):
        await labs.check("vm-1", "t", "p")


async def test_failure_reports_exit_status_and_last_stderr_line(control_program: Program) -> None:
    labs = driver(control_program("fails"))
    with pytest.raises(LabsError) as caught:
        await labs.create_instance("img")
    assert str(caught.value) == (
        "the VM control program failed on create_instance (exit status 1): "
        "no room for another VM on host lab-07"
    )


async def test_a_missing_program_is_a_clear_error(tmp_path: Path) -> None:
    labs = driver(tmp_path / "no-such-program")
    with pytest.raises(LabsError, match="^the VM control program could not be started$"):
        await labs.status("vm-1")


async def test_the_program_does_not_see_vigil_secrets(
    control_program: Program, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_SECRET_KEY", "s3cret-s3cret-s3cret")
    assert "VIGIL_SECRET_KEY" in os.environ
    result = await driver(control_program("environment")).check("vm-1", "t", "p")
    assert result.passed, f"leaked: {result.message}"


def test_chosen_by_settings(control_program: Program) -> None:
    program = control_program("normal")
    labs = driver_from_settings(
        Settings(labs_driver="script", labs_script=program, labs_timeout_seconds=7)
    )
    assert isinstance(labs, ScriptDriver)
    assert (labs.name, labs.program, labs.timeout_seconds) == ("script", program, 7)

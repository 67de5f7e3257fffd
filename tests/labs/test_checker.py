"""A task's checker command, run for real against a VM's address."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from vigil.labs.checker import run_task_checker
from vigil.labs.driver import (
    LabsError,
    NoHypervisorConfigured,
    NoHypervisorDriver,
    VmInfo,
    VmState,
    driver_from_settings,
)
from vigil.settings import Settings

pytestmark = pytest.mark.anyio

VM = VmInfo(vm_id="vm-42", state=VmState.RUNNING, address="10.0.0.9", port=5905)


def checker(tmp_path: Path, body: str) -> str:
    script = tmp_path / "check.py"
    script.write_text("import os, sys, time\n" + body)
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} --strict"


async def test_exit_zero_passes_with_stdout_as_message(tmp_path: Path) -> None:
    command = checker(tmp_path, (
        "e = os.environ\n"
        "print(f\"reached {e['VIGIL_VM_ADDRESS']}:{e['VIGIL_VM_PORT']} ({e['VIGIL_VM_ID']}) "
        "{sys.argv[1]}\")\n"
    ))  # fmt: skip
    result = await run_task_checker(command, VM, timeout_seconds=30)
    assert result.passed is True
    assert result.message == "reached 10.0.0.9:5905 (vm-42) --strict"


async def test_non_zero_exit_fails_with_stdout_as_message(tmp_path: Path) -> None:
    command = checker(tmp_path, "print('nginx is not listening on :80')\nsys.exit(1)\n")
    result = await run_task_checker(command, VM, timeout_seconds=30)
    assert (result.passed, result.message) == (False, "nginx is not listening on :80")


async def test_a_silent_failure_still_says_something(tmp_path: Path) -> None:
    command = checker(tmp_path, "sys.exit(7)\n")
    result = await run_task_checker(command, VM, timeout_seconds=30)
    assert (result.passed, result.message) == (False, "the check failed (exit status 7)")


async def test_a_hanging_checker_fails_instead_of_hanging(tmp_path: Path) -> None:
    command = checker(tmp_path, "time.sleep(600)\n")
    result = await run_task_checker(command, VM, timeout_seconds=0.5)
    assert result.passed is False
    assert result.message == "the check did not finish within 0.5 s and was stopped"


async def test_unknown_address_and_port_are_empty(tmp_path: Path) -> None:
    command = checker(
        tmp_path, "print(repr(os.environ['VIGIL_VM_ADDRESS'] + os.environ['VIGIL_VM_PORT']))\n"
    )
    result = await run_task_checker(command, VmInfo("vm-1", VmState.LOADING), timeout_seconds=30)
    assert result.message == "''"


async def test_the_checker_does_not_see_vigil_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_SECRET_KEY", "s3cret-s3cret-s3cret")
    command = checker(tmp_path, "print(sorted(k for k in os.environ if k.startswith('VIGIL_')))\n")
    result = await run_task_checker(command, VM, timeout_seconds=30)
    assert result.message == "['VIGIL_VM_ADDRESS', 'VIGIL_VM_ID', 'VIGIL_VM_PORT']"


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("", "the task has no checker command"),
        ("check 'unclosed", "the task's checker command cannot be parsed: No closing quotation"),
        ("/no/such/checker --x", "the task's checker 'checker' could not be started"),
    ],
)
async def test_a_broken_command_is_the_task_authors_error(command: str, error: str) -> None:
    with pytest.raises(LabsError) as caught:
        await run_task_checker(command, VM, timeout_seconds=30)
    assert str(caught.value) == error


async def test_no_hypervisor_configured_is_said_plainly() -> None:
    labs = driver_from_settings(Settings())
    assert isinstance(labs, NoHypervisorDriver)
    assert labs.name == "none"
    for call in (
        labs.create_instance("img"),
        labs.status("vm"),
        labs.kill("vm"),
        labs.check("vm", "t", "p"),
    ):
        with pytest.raises(
            NoHypervisorConfigured, match="no hypervisor is configured: set VIGIL_LABS_DRIVER"
        ):
            await call


def test_script_settings_require_a_program() -> None:
    with pytest.raises(ValueError, match="VIGIL_LABS_SCRIPT"):
        Settings(labs_driver="script")

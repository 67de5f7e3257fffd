"""ExamManager fixtures: the app with the `script` lab driver driving em-labs' test control
program (a real subprocess peer), and signed-in callers: an admin, a student, another one."""

from __future__ import annotations

import shlex
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import PASSWORD, create_user
from vigil.app import create_app
from vigil.core.identity.models import Role
from vigil.settings import Settings

CONTROL_PROGRAM = Path(__file__).parents[2] / "labs" / "control_program.py"


@pytest.fixture
def vm_state(tmp_path: Path) -> Path:
    """Where the control program keeps its VMs (one JSON file each)."""
    state = tmp_path / "vms"
    state.mkdir()
    return state


def control_wrapper(tmp_path: Path, vm_state: Path, mode: str) -> Path:
    """An executable `PROGRAM COMMAND ARGS...` running em-labs' test control program."""
    wrapper = tmp_path / f"labctl-{mode}"
    python, program = shlex.quote(sys.executable), shlex.quote(str(CONTROL_PROGRAM))
    state = shlex.quote(str(vm_state))
    wrapper.write_text(f'#!/bin/sh\nexec {python} {program} {state} {mode} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


@pytest.fixture
def labctl(tmp_path: Path, vm_state: Path) -> Path:
    return control_wrapper(tmp_path, vm_state, "normal")


@pytest.fixture
def settings(tmp_path: Path, database_url: str, labctl: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key-0123456789abcdef",
        cors_origins=["http://localhost:3000"],
        labs_driver="script",
        labs_script=labctl,
        exammanager_vm_loading_poll_seconds=0.05,
        exammanager_vm_poll_seconds=3600,  # the tests call poll_once themselves
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@dataclass
class Caller:
    id: str
    headers: dict[str, str]


def sign_in(client: TestClient, login: str, password: str = PASSWORD) -> Caller:
    answer = client.post("/login", json={"login": login, "password": password})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return Caller(body["id"], {"Authorization": f"Bearer {body['token']}"})


def make_user(client: TestClient, login: str, role: Role) -> Caller:
    create_user(client, login, role)
    return sign_in(client, login)


@pytest.fixture
def admin(client: TestClient) -> Caller:
    return make_user(client, "admin", Role.ADMIN)


@pytest.fixture
def student(client: TestClient) -> Caller:
    return make_user(client, "ivan", Role.STUDENT)


@pytest.fixture
def other(client: TestClient) -> Caller:
    return make_user(client, "petr", Role.STUDENT)


# The contract gives these two a `status` of their own: the task's or the VM's status code.
STATUS_IS_A_CODE = {"PersonalTaskDataResponse", "TaskStatusResponse"}


def ok(answer: Any, type_: str) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["type"] == type_, body
    if type_ not in STATUS_IS_A_CODE:
        assert body["status"] == "OK"
    return body


def create_task(
    client: TestClient, admin: Caller, title: str = "Configure nginx", **extra: Any
) -> dict[str, Any]:
    body = {"title": title, "description": "Serve /srv on port 80", **extra}
    return ok(client.post("/task/create", json=body, headers=admin.headers), "TaskDataResponse")


def assign(client: TestClient, admin: Caller, student: Caller, task_id: str) -> dict[str, Any]:
    answer = client.post(
        f"/user/{student.id}/tasks/add", json={"tasks": [{"id": task_id}]}, headers=admin.headers
    )
    return ok(answer, "PersonalTasksDataResponse")


def wait_for(probe: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    """Poll until `probe` returns something truthy (a generous bound, not a timing check)."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)

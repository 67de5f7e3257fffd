"""The ExamManager contract: tasks, personal tasks, and the students' virtual machines
started, polled, connected to, checked and stopped through the `script` driver, whose
control program runs as a real subprocess."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.support.api import run_async
from tests.surfaces.exammanager.conftest import (
    Caller,
    assign,
    control_wrapper,
    create_task,
    ok,
    wait_for,
)
from vigil.app import create_app
from vigil.core.tasks.jobs import INTERRUPTED, LabJobs
from vigil.core.tasks.models import PersonalTask, VirtualMachine, VmAction
from vigil.core.tasks.statuses import TaskStatus, VmStatus
from vigil.runtime import Runtime
from vigil.settings import Settings

IMAGES = [{"id": "debian-12", "title": "Web server", "order": 1}, {"id": "alpine", "order": 2}]


def lab_task(client: TestClient, admin: Caller, **extra: Any) -> dict[str, Any]:
    return create_task(client, admin, virtualMachines=IMAGES, **extra)


def status_of(
    client: TestClient, caller: Caller, task_id: str, image: str = "debian-12"
) -> dict[str, Any]:
    answer = client.get(f"/task/{task_id}/status/{image}", headers=caller.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["type"] == "TaskStatusResponse"
    return body


def jobs(client: TestClient) -> LabJobs:
    lab_jobs: LabJobs = client.app.state.lab_jobs  # type: ignore[attr-defined]
    return lab_jobs


def start_and_wait(
    client: TestClient, student: Caller, task_id: str, image: str = "debian-12"
) -> dict[str, Any]:
    ok(client.get(f"/task/{task_id}/start/{image}", headers=student.headers), "Response")
    return wait_for(
        lambda: (s := status_of(client, student, task_id, image))["status"] == 1 and s,
        "the VM to be RUNNING",
    )


def test_task_crud(client: TestClient, admin: Caller, student: Caller) -> None:
    first = lab_task(client, admin)
    assert first["number"] == 1
    assert first["virtualMachines"] == [
        {"id": "debian-12", "title": "Web server", "order": 1},
        {"id": "alpine", "order": 2},
    ]
    second = create_task(client, admin, title="Второе задание")
    assert second["number"] == 2
    got = ok(client.get(f"/task/{first['id']}", headers=admin.headers), "TaskDataResponse")
    assert got["title"] == "Configure nginx"
    assert got["students"] == []
    modified = client.post(
        "/task/modify", json={"taskId": first["id"], "title": "Nginx"}, headers=admin.headers
    )
    assert ok(modified, "TaskDataResponse")["title"] == "Nginx"
    assert ok(modified, "TaskDataResponse")["description"] == "Serve /srv on port 80"
    listed = ok(client.post("/tasks", headers=admin.headers), "TasksDataResponse")
    assert [(t["number"], t["title"]) for t in listed["tasks"]] == [
        (1, "Nginx"),
        (2, "Второе задание"),
    ]
    found = ok(
        client.post("/tasks", json={"title": "второе"}, headers=admin.headers), "TasksDataResponse"
    )
    assert [t["id"] for t in found["tasks"]] == [second["id"]]
    assign(client, admin, student, second["id"])
    held = ok(
        client.post("/tasks", json={"studentIds": [student.id]}, headers=admin.headers),
        "TasksDataResponse",
    )
    assert [t["id"] for t in held["tasks"]] == [second["id"]]
    ok(client.post("/task/delete", json={"taskId": first["id"]}, headers=admin.headers), "Response")
    gone = client.get(f"/task/{first['id']}", headers=admin.headers)
    assert gone.status_code == 404
    assert gone.json()["type"] == "BadResponse"
    missing = client.post("/task/create", json={"title": "x"}, headers=admin.headers)
    assert missing.status_code == 400
    assert "description" in missing.json()["errors"]
    twice = client.post(
        "/task/create",
        json={"title": "x", "description": "", "virtualMachines": [{"id": "a"}, {"id": "a"}]},
        headers=admin.headers,
    )
    assert twice.status_code == 400
    assert "virtualMachines[1].id" in twice.json()["errors"]


def test_personal_tasks(client: TestClient, admin: Caller, student: Caller) -> None:
    task = lab_task(client, admin)
    added = assign(client, admin, student, task["id"])
    [entry] = added["personalTasks"]
    assert entry["studentId"] == student.id
    [personal] = entry["tasks"]
    assert personal["title"] == "Configure nginx"
    assert personal["number"] == 1
    assert personal["status"] == 0
    assign(client, admin, student, task["id"])  # given twice: still one
    mine = ok(
        client.get(f"/user/{student.id}/tasks", headers=student.headers),
        "PersonalTasksDataResponse",
    )
    assert [t["id"] for t in mine["personalTasks"][0]["tasks"]] == [personal["id"]]
    for ref in (task["id"], personal["id"]):  # by the task's id or the personal task's
        one = ok(
            client.get(f"/user/{student.id}/task/{ref}", headers=student.headers),
            "PersonalTaskDataResponse",
        )
        assert one["status"] == 0
        assert one["title"] == "Configure nginx"
        assert one["virtualMachines"] == [
            {"image": {"id": "debian-12"}, "instance": {"status": 2}},
            {"image": {"id": "alpine"}, "instance": {"status": 2}},
        ]
    seen = ok(client.get(f"/task/{task['id']}", headers=student.headers), "TaskDataResponse")
    assert [s["id"] for s in seen["students"]] == [student.id]
    unknown = client.post(
        f"/user/{student.id}/tasks/add",
        json={"tasks": [{"id": str(uuid.uuid4())}]},
        headers=admin.headers,
    )
    assert unknown.status_code == 404
    not_student = client.post(
        f"/user/{admin.id}/tasks/add", json={"tasks": [{"id": task["id"]}]}, headers=admin.headers
    )
    assert not_student.status_code == 400
    removed = client.post(
        f"/user/{student.id}/tasks/remove",
        json={"pesronalTasks": [{"id": personal["id"]}]},
        headers=admin.headers,
    )
    ok(removed, "Response")
    empty = ok(
        client.get(f"/user/{student.id}/tasks", headers=student.headers),
        "PersonalTasksDataResponse",
    )
    assert empty["personalTasks"][0]["tasks"] == []
    again = client.post(
        f"/user/{student.id}/tasks/remove",
        json={"personalTasks": [{"id": personal["id"]}]},
        headers=admin.headers,
    )
    assert again.status_code == 404


def test_vm_lifecycle(
    client: TestClient, admin: Caller, student: Caller, other: Caller, vm_state: Path
) -> None:
    task = lab_task(client, admin)
    assign(client, admin, student, task["id"])
    never = status_of(client, student, task["id"])
    assert never["status"] == 2
    assert "vMachineId" not in never
    assert (
        client.get(f"/task/{task['id']}/connect/debian-12", headers=student.headers).status_code
        == 409
    )

    running = start_and_wait(client, student, task["id"])
    assert running["vMachineId"].startswith("debian-12-")
    assert running["id"] == "debian-12"
    again = ok(
        client.get(f"/task/{task['id']}/start/debian-12", headers=student.headers), "Response"
    )
    assert "RUNNING" in again["message"]  # no second machine
    assert len(list(vm_state.glob("debian-12-*.json"))) == 1
    personal = ok(
        client.get(f"/user/{student.id}/task/{task['id']}", headers=student.headers),
        "PersonalTaskDataResponse",
    )
    assert personal["virtualMachines"][0]["instance"]["status"] == 1

    vnc = client.get(f"/task/{task['id']}/connect/debian-12", headers=student.headers)
    assert vnc.status_code == 200
    assert vnc.headers["content-disposition"] == 'attachment; filename="connection.vnc"'
    assert vnc.headers["cache-control"] == "no-store"
    lines = vnc.text.split("\r\n")
    assert lines[:3] == ["[Connection]", "ConnMethod=tcp", "Host=10.0.0.7:5901"]
    assert lines[3] == "Password=pw-" + running["vMachineId"][-4:]
    # nobody else's: not another student, not an admin
    for caller in (other, admin):
        answer = client.get(f"/task/{task['id']}/connect/debian-12", headers=caller.headers)
        assert answer.status_code == 403
        assert answer.json()["type"] == "BadResponse"
    assert (
        client.get(f"/task/{task['id']}/connect/nope", headers=student.headers).status_code == 404
    )

    ok(client.get(f"/task/{task['id']}/stop/debian-12", headers=student.headers), "Response")
    wait_for(lambda: status_of(client, student, task["id"])["status"] == 2, "the VM to stop")
    assert list(vm_state.glob("debian-12-*.json")) == []
    assert "kill" in (vm_state / "calls.log").read_text()
    idle = ok(client.get(f"/task/{task['id']}/stop/debian-12", headers=student.headers), "Response")
    assert "not running" in idle["message"]


def test_check_records_result(
    client: TestClient, admin: Caller, student: Caller, vm_state: Path
) -> None:
    task = lab_task(client, admin)
    assign(client, admin, student, task["id"])
    early = client.get(f"/task/{task['id']}/check", headers=student.headers)
    assert early.status_code == 409
    assert early.json()["type"] == "ErrorsResponse"
    running = start_and_wait(client, student, task["id"])

    def checked() -> dict[str, Any] | None:
        body = ok(
            client.get(f"/user/{student.id}/task/{task['id']}", headers=student.headers),
            "PersonalTaskDataResponse",
        )
        return body if body["status"] in (1, 2) else None

    ok(client.get(f"/task/{task['id']}/check", headers=student.headers), "Response")
    failed = wait_for(checked, "the check to finish")
    assert failed["status"] == 1
    assert failed["message"].endswith("not yet")
    (vm_state / f"{running['vMachineId']}.solved").touch()
    ok(client.get(f"/task/{task['id']}/check", headers=student.headers), "Response")
    passed = wait_for(checked, "the second check")
    assert passed["status"] == 2
    assert passed["message"].endswith("done")
    listed = ok(
        client.get("/users", params={"taskStatus": 2}, headers=admin.headers), "UsersDataResponse"
    )
    assert [u["id"] for u in listed["users"]] == [student.id]


def test_checker_command(
    client: TestClient, admin: Caller, student: Caller, tmp_path: Path
) -> None:
    checker = tmp_path / "checker.py"
    checker.write_text(
        "import os, sys\n"
        "print('checked', os.environ['VIGIL_VM_ADDRESS'], os.environ['VIGIL_VM_PORT'])\n"
        "sys.exit(0)\n"
    )
    task = lab_task(client, admin, checkerCommand=f"{sys.executable} {checker}")
    assign(client, admin, student, task["id"])
    start_and_wait(client, student, task["id"])
    ok(client.get(f"/task/{task['id']}/check", headers=student.headers), "Response")
    result = wait_for(
        lambda: (
            (
                b := ok(
                    client.get(f"/user/{student.id}/task/{task['id']}", headers=student.headers),
                    "PersonalTaskDataResponse",
                )
            )["status"]
            == 2
            and b
        ),
        "the checker",
    )
    assert result["message"] == "checked 10.0.0.7 5901"


def test_removing_the_task_stops_its_vms(
    client: TestClient, admin: Caller, student: Caller, vm_state: Path
) -> None:
    task = lab_task(client, admin)
    assign(client, admin, student, task["id"])
    start_and_wait(client, student, task["id"])
    start_and_wait(client, student, task["id"], "alpine")
    assert len(list(vm_state.glob("*.json"))) == 2
    ok(
        client.post(
            f"/user/{student.id}/tasks/remove",
            json={"pesronalTasks": [{"id": task["id"]}]},
            headers=admin.headers,
        ),
        "Response",
    )
    wait_for(lambda: not list(vm_state.glob("*.json")), "both VMs to be killed")
    run_async(client, jobs(client).idle)
    # deleting a task stops its machines too
    assign(client, admin, student, task["id"])
    start_and_wait(client, student, task["id"])
    ok(client.post("/task/delete", json={"taskId": task["id"]}, headers=admin.headers), "Response")
    wait_for(lambda: not list(vm_state.glob("*.json")), "the VM to be killed")


def test_erasing_a_student_stops_their_vms(
    client: TestClient, admin: Caller, student: Caller, vm_state: Path
) -> None:
    """At once, after the commit: not at the next poll (the fixture polls once an hour)."""
    task = lab_task(client, admin)
    assign(client, admin, student, task["id"])
    running = start_and_wait(client, student, task["id"])
    erase = {"users": [{"id": student.id, "onlyLogin": False}]}
    ok(client.post("/users/delete", json=erase, headers=admin.headers), "Response")
    wait_for(lambda: not list(vm_state.glob("*.json")), "the VM to be killed")
    assert f"kill {running['vMachineId']}" in (vm_state / "calls.log").read_text()
    run_async(client, jobs(client).idle)
    assert client.get(f"/task/{task['id']}", headers=admin.headers).json()["students"] == []


def test_poll_marks_vanished_vms_killed(
    client: TestClient, admin: Caller, student: Caller, vm_state: Path
) -> None:
    task = lab_task(client, admin)
    assign(client, admin, student, task["id"])
    running = start_and_wait(client, student, task["id"])
    assert run_async(client, jobs(client).poll_once) == 0
    (vm_state / f"{running['vMachineId']}.json").unlink()  # the hypervisor lost it
    assert run_async(client, jobs(client).poll_once) == 1
    gone = status_of(client, student, task["id"])
    assert gone["status"] == 2
    assert gone["message"] == "the virtual machine is gone"


def test_restart_resumes_a_loading_vm(
    settings: Settings, admin: Caller, student: Caller, client: TestClient
) -> None:
    task = lab_task(client, admin)
    assign(client, admin, student, task["id"])
    slow = settings.model_copy(update={"exammanager_vm_loading_poll_seconds": 3600})
    with TestClient(create_app(slow)) as first:
        ok(first.get(f"/task/{task['id']}/start/debian-12", headers=student.headers), "Response")
        loading = wait_for(
            lambda: (s := status_of(first, student, task["id"])).get("vMachineId") and s,
            "the hypervisor to answer",
        )
        assert loading["status"] == 4
    # a fresh process finds it LOADING and polls it until it runs
    with TestClient(create_app(settings)) as second:
        wait_for(lambda: status_of(second, student, task["id"])["status"] == 1, "the resumed start")


def test_no_hypervisor_configured(
    settings: Settings, admin: Caller, student: Caller, client: TestClient
) -> None:
    task = lab_task(client, admin)
    assign(client, admin, student, task["id"])
    bare = settings.model_copy(update={"labs_driver": "none"})
    with TestClient(create_app(bare)) as plain:
        for action in ("start", "status", "connect", "stop"):
            answer = plain.get(f"/task/{task['id']}/{action}/debian-12", headers=student.headers)
            assert answer.status_code == 503, (action, answer.text)
            body = answer.json()
            assert body["type"] == "BadResponse"
            assert body["exceptionType"] == "NoHypervisorConfigured"
            assert "no hypervisor is configured" in body["message"]
            assert body["stackTrace"] == ""
        check = plain.get(f"/task/{task['id']}/check", headers=student.headers)
        assert check.status_code == 503


def _update(client: TestClient, statement: Any) -> None:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def run() -> None:
        async with runtime.sessionmaker.begin() as db:
            await db.execute(statement)

    run_async(client, run)


def test_restart_runs_an_interrupted_check_again(
    settings: Settings, admin: Caller, student: Caller, client: TestClient
) -> None:
    task = lab_task(client, admin)
    assign(client, admin, student, task["id"])
    start_and_wait(client, student, task["id"])
    # a process died during the check: CHECKING, and no job at work on it
    _update(client, update(PersonalTask).values(status=TaskStatus.CHECKING))
    busy = client.get(f"/task/{task['id']}/check", headers=student.headers)
    assert busy.status_code == 409
    assert busy.json()["errors"] == {"taskId": "the task is being checked already"}
    with TestClient(create_app(settings)) as second:
        done = wait_for(
            lambda: (
                (
                    b := ok(
                        second.get(
                            f"/user/{student.id}/task/{task['id']}", headers=student.headers
                        ),
                        "PersonalTaskDataResponse",
                    )
                )["status"]
                == 1
                and b
            ),
            "the check to run again",
        )
    assert done["message"].endswith("not yet")


def test_restart_marks_a_start_without_a_machine_killed(
    settings: Settings, admin: Caller, student: Caller, client: TestClient
) -> None:
    task = lab_task(client, admin)
    assign(client, admin, student, task["id"])
    # a process died between recording the start and the hypervisor's answer
    ok(client.get(f"/task/{task['id']}/start/alpine", headers=student.headers), "Response")
    run_async(client, jobs(client).idle)
    _update(
        client,
        update(VirtualMachine).values(
            status=VmStatus.LOADING, pending=VmAction.START, driver_vm_id=None
        ),
    )
    with TestClient(create_app(settings)) as second:
        stopped = wait_for(
            lambda: (s := status_of(second, student, task["id"], "alpine"))["status"] == 2 and s,
            "the interrupted start to be marked",
        )
    assert stopped["message"] == INTERRUPTED
    start_and_wait(client, student, task["id"], "alpine")  # starting again works


def test_a_failed_start_says_why(
    settings: Settings,
    admin: Caller,
    student: Caller,
    client: TestClient,
    tmp_path: Path,
    vm_state: Path,
) -> None:
    task = lab_task(client, admin)
    assign(client, admin, student, task["id"])
    failing = settings.model_copy(
        update={"labs_script": control_wrapper(tmp_path, vm_state, "fails")}
    )
    with TestClient(create_app(failing)) as http:
        ok(http.get(f"/task/{task['id']}/start/debian-12", headers=student.headers), "Response")
        failed = wait_for(
            lambda: (
                (s := status_of(http, student, task["id"]))["status"] == 2
                and s.get("message")
                and s
            ),
            "the start to fail",
        )
    assert "no room for another VM on host lab-07" in failed["message"]
    assert "Traceback" not in failed["message"]


def test_a_checker_that_cannot_run_fails_the_check(
    client: TestClient, admin: Caller, student: Caller
) -> None:
    task = create_task(client, admin, checkerCommand="/nonexistent/checker --strict")
    assign(client, admin, student, task["id"])
    ok(client.get(f"/task/{task['id']}/check", headers=student.headers), "Response")
    result = wait_for(
        lambda: (
            (
                b := ok(
                    client.get(f"/user/{student.id}/task/{task['id']}", headers=student.headers),
                    "PersonalTaskDataResponse",
                )
            )["status"]
            == 1
            and b
        ),
        "the check to fail",
    )
    assert result["message"].startswith("the check could not run: ")
    assert result["message"].endswith("the task's checker 'checker' could not be started")
    assert "/nonexistent" not in result["message"]  # the student sees no server path

"""The ExamManager client's whole day over HTTP, as its users see it: an admin sets up a
group, students and a practical task; a student signs in, sees only their own things,
starts the lab machine (the `script` driver running tests/labs/control_program.py as a
real subprocess), connects, has the work checked; the admin takes the task away and the
machine is stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.surfaces.exammanager.conftest import Caller, ok, sign_in, wait_for

STUDENTS = [
    {"login": "ivanov", "password": "ivanov-pass-1", "firstName": "Иван", "lastName": "Иванов"},
    {"login": "petrova", "password": "petrova-pass-1", "firstName": "Анна", "lastName": "Петрова"},
]


def test_admin_sets_up_a_lab_and_a_student_works_through_it(
    client: TestClient, admin: Caller, vm_state: Path
) -> None:
    # the admin signs in as the client does: POST /login, then the bearer token
    admin = sign_in(client, "admin")
    h = admin.headers

    # a batch of students
    created = ok(
        client.post(
            "/users/create", json={"users": [{**s, "role": 1} for s in STUDENTS]}, headers=h
        ),
        "UsersDataResponse",
    )
    by_last = {u["lastName"]: u for u in created["users"]}
    assert set(by_last) == {"Иванов", "Петрова"}
    assert all(
        u["role"] == 1 and u["tasks"] == [] and "groupName" not in u for u in by_last.values()
    )
    ivanov_id, petrova_id = by_last["Иванов"]["id"], by_last["Петрова"]["id"]

    # a group, with both of them in it
    group = ok(
        client.post("/group/create", json={"name": "ИВТ-21"}, headers=h), "GroupDataResponse"
    )
    assert group["studentsCount"] == 0
    members = ok(
        client.post(
            "/group/students/add",
            json={"groupId": group["id"], "students": [{"id": ivanov_id}, {"id": petrova_id}]},
            headers=h,
        ),
        "UsersDataResponse",
    )
    assert {u["id"]: u["groupName"] for u in members["users"]} == {
        ivanov_id: "ИВТ-21",
        petrova_id: "ИВТ-21",
    }
    assert (
        ok(client.get(f"/group/{group['id']}", headers=h), "GroupDataResponse")["studentsCount"]
        == 2
    )

    # a task with one lab machine, given to Ivanov only
    task = ok(
        client.post(
            "/task/create",
            json={
                "title": "Настроить nginx",
                "description": "Отдать /srv на порту 80",
                "virtualMachines": [{"id": "debian-12", "title": "Web server", "order": 1}],
            },
            headers=h,
        ),
        "TaskDataResponse",
    )
    given = ok(
        client.post(
            f"/user/{ivanov_id}/tasks/add", json={"tasks": [{"id": task["id"]}]}, headers=h
        ),
        "PersonalTasksDataResponse",
    )
    [held] = given["personalTasks"]
    assert held["studentId"] == ivanov_id
    [personal] = held["tasks"]
    assert (personal["title"], personal["number"], personal["status"]) == (
        "Настроить nginx",
        task["number"],
        0,
    )
    holders = ok(client.get(f"/task/{task['id']}", headers=h), "TaskDataResponse")["students"]
    assert holders == [{"id": ivanov_id, "fullName": "Иванов Иван"}]

    # Ivanov signs in and sees his own account, group and task, and nobody else's
    ivanov = sign_in(client, "ivanov", "ivanov-pass-1")
    assert ivanov.id == ivanov_id
    me = ok(client.get(f"/user/{ivanov_id}", headers=ivanov.headers), "UserDataResponse")
    assert (me["firstName"], me["lastName"], me["groupId"], me["role"]) == (
        "Иван",
        "Иванов",
        group["id"],
        1,
    )
    assert me["tasks"] == [{"id": task["id"], "title": "Настроить nginx"}]
    mine = ok(client.post("/tasks", headers=ivanov.headers), "TasksDataResponse")
    assert [t["id"] for t in mine["tasks"]] == [task["id"]]
    for path in (f"/user/{petrova_id}", f"/user/{petrova_id}/tasks", f"/group/{group['id']}"):
        refused = client.get(path, headers=ivanov.headers)
        assert refused.status_code == 403, path
        assert refused.json()["type"] == "BadResponse"
    assert client.get("/users", headers=ivanov.headers).status_code == 403
    # Petrova holds no task: she cannot start, see or connect to Ivanov's machine
    petrova = sign_in(client, "petrova", "petrova-pass-1")
    assert client.post("/tasks", headers=petrova.headers).json()["tasks"] == []
    assert client.get(f"/task/{task['id']}", headers=petrova.headers).status_code == 403

    # he starts the machine and polls until it runs
    lab = f"/task/{task['id']}"
    started = ok(client.get(f"{lab}/start/debian-12", headers=ivanov.headers), "Response")
    assert started["status"] == "OK"
    running: dict[str, Any] = wait_for(
        lambda: (
            (
                s := ok(
                    client.get(f"{lab}/status/debian-12", headers=ivanov.headers),
                    "TaskStatusResponse",
                )
            )["status"]
            == 1
            and s
        ),  # fmt: skip
        "the machine to be RUNNING",
    )
    assert running["id"] == "debian-12"
    assert running["vMachineId"].startswith("debian-12-")
    assert [p.stem for p in vm_state.glob("*.json")] == [running["vMachineId"]]
    for path in (f"{lab}/status/debian-12", f"{lab}/connect/debian-12", f"{lab}/stop/debian-12"):
        assert client.get(path, headers=petrova.headers).status_code == 403, path

    # downloads the connection file a VNC viewer opens
    vnc = client.get(f"{lab}/connect/debian-12", headers=ivanov.headers)
    assert vnc.status_code == 200
    assert vnc.headers["content-type"] == "application/octet-stream"
    assert vnc.headers["content-disposition"] == 'attachment; filename="connection.vnc"'
    assert vnc.content.decode().split("\r\n") == [
        "[Connection]",
        "ConnMethod=tcp",
        "Host=10.0.0.7:5901",
        "Password=pw-" + running["vMachineId"][-4:],
        "",
    ]

    # asks for a check and sees the verdict on his personal task
    ok(client.get(f"{lab}/check", headers=ivanov.headers), "Response")

    def verdict() -> dict[str, Any] | None:
        body = ok(
            client.get(f"/user/{ivanov_id}/task/{task['id']}", headers=ivanov.headers),
            "PersonalTaskDataResponse",
        )
        return body if body["status"] in (1, 2) else None

    failed = wait_for(verdict, "the check's verdict")
    assert failed["status"] == 1  # FAILED: the work is not done yet
    assert failed["message"].endswith("not yet")
    assert failed["virtualMachines"] == [{"image": {"id": "debian-12"}, "instance": {"status": 1}}]
    (vm_state / f"{running['vMachineId']}.solved").touch()
    ok(client.get(f"{lab}/check", headers=ivanov.headers), "Response")
    passed = wait_for(verdict, "the second verdict")
    assert passed["status"] == 2  # SUCCESSED
    assert passed["message"].endswith("done")
    # the admin sees it in the user list
    listed = ok(client.get("/users", params={"taskStatus": 2}, headers=h), "UsersDataResponse")
    assert [(u["id"], u["tasks"]) for u in listed["users"]] == [
        (ivanov_id, [{"title": "Настроить nginx", "status": 2}])
    ]

    # the admin takes the task away: the machine is stopped and the task is gone for him
    removed = ok(
        client.post(
            f"/user/{ivanov_id}/tasks/remove",
            json={"pesronalTasks": [{"id": personal["id"]}]},
            headers=h,
        ),
        "Response",
    )
    assert removed["status"] == "OK"
    wait_for(lambda: not list(vm_state.glob("*.json")), "the machine to be killed")
    assert f"kill {running['vMachineId']}" in (vm_state / "calls.log").read_text()
    gone = client.get(f"{lab}/status/debian-12", headers=ivanov.headers)
    assert gone.status_code == 403  # he no longer holds the task
    after = ok(
        client.get(f"/user/{ivanov_id}/tasks", headers=ivanov.headers), "PersonalTasksDataResponse"
    )
    assert after["personalTasks"] == [{"studentId": ivanov_id, "tasks": []}]

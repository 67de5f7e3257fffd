"""Who may call what: admin, the student concerned, another student, nobody. The rules
live in core/policy.py; this drives every ExamManager endpoint through them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.surfaces.exammanager.conftest import Caller, assign, create_task, ok, wait_for
from vigil.core import policy
from vigil.core.errors import PermissionDenied
from vigil.core.identity.models import Role, User

ADMIN, STUDENT, OTHER, NOBODY = "admin", "student", "other", "nobody"


def build(client: TestClient, admin: Caller, student: Caller) -> dict[str, str]:
    group = ok(
        client.post("/group/create", json={"name": "G"}, headers=admin.headers), "GroupDataResponse"
    )
    task = create_task(client, admin, virtualMachines=[{"id": "img"}])
    assign(client, admin, student, task["id"])
    ok(client.get(f"/task/{task['id']}/start/img", headers=student.headers), "Response")
    wait_for(
        lambda: (
            client.get(f"/task/{task['id']}/status/img", headers=student.headers).json()["status"]
            == 1
        ),
        "the VM to run",
    )
    return {"group": group["id"], "task": task["id"], "student": student.id, "admin": admin.id}


# (method, path, body, callers allowed). Paths use {task}, {group}, {student}.
CALLS: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    ("GET", "/user/{student}", None, {ADMIN, STUDENT}),
    ("GET", "/user/{student}/tasks", None, {ADMIN, STUDENT}),
    ("GET", "/user/{student}/task/{task}", None, {ADMIN, STUDENT}),
    ("POST", "/user/modify", {"id": "{student}", "firstName": "Иван"}, {ADMIN, STUDENT}),
    ("GET", "/users", None, {ADMIN}),
    ("POST", "/users", {}, {ADMIN}),  # the extension: GetUsersRequest posted
    ("GET", "/users", {"role": 1}, {ADMIN}),  # GET with the contract's JSON body
    ("POST", "/users/create", {"users": []}, {ADMIN}),
    ("POST", "/users/delete", {"users": []}, {ADMIN}),
    ("POST", "/user/{student}/tasks/add", {"tasks": []}, {ADMIN}),
    ("POST", "/user/{student}/tasks/remove", {"pesronalTasks": []}, {ADMIN}),
    ("POST", "/tasks", {}, {ADMIN, STUDENT, OTHER}),  # a student lists their own only
    ("GET", "/task/{task}", None, {ADMIN, STUDENT}),
    ("POST", "/task/create", {"title": "t", "description": "d"}, {ADMIN}),
    ("POST", "/task/modify", {"taskId": "{task}"}, {ADMIN}),
    ("GET", "/task/{task}/status/img", None, {STUDENT}),
    ("GET", "/task/{task}/connect/img", None, {STUDENT}),
    ("GET", "/group/{group}", None, {ADMIN}),
    ("GET", "/group/{group}/students", None, {ADMIN}),
    ("POST", "/group/create", {"name": "H"}, {ADMIN}),
    ("POST", "/group/students/add", {"groupId": "{group}", "students": []}, {ADMIN}),
    ("POST", "/group/students/remove", {"students": []}, {ADMIN}),
    ("POST", "/groups", {}, {ADMIN}),
    # last: these change what the calls above need
    ("GET", "/task/{task}/check", None, {STUDENT}),
    ("GET", "/task/{task}/start/img", None, {STUDENT}),
    ("GET", "/task/{task}/stop/img", None, {STUDENT}),
    ("GET", "/group/{group}/delete", None, {ADMIN}),
    ("POST", "/task/delete", {"taskId": "{task}"}, {ADMIN}),
]


def fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


def test_authorization_matrix(
    client: TestClient, admin: Caller, student: Caller, other: Caller
) -> None:
    ids = build(client, admin, student)
    headers = {ADMIN: admin.headers, STUDENT: student.headers, OTHER: other.headers, NOBODY: {}}
    failures = []
    for method, path, body, allowed in CALLS:
        # refused callers first, so a refused call can never be what changed the state
        for who in sorted(headers, key=lambda w: w in allowed):
            answer = client.request(
                method, fill(path, ids), json=fill(body, ids), headers=headers[who]
            )
            expected = "allowed" if who in allowed else ("401" if who == NOBODY else "403")
            got = answer.status_code
            if expected == "allowed" and got != 200:
                failures.append(f"{method} {path} as {who}: {got} {answer.text}")
            if expected != "allowed" and str(got) != expected:
                failures.append(f"{method} {path} as {who}: {got}, wanted {expected}")
            if got in (401, 403):
                assert answer.json()["type"] == "BadResponse"
    assert not failures, "\n".join(failures)


def test_a_student_lists_only_their_own_tasks(
    client: TestClient, admin: Caller, student: Caller, other: Caller
) -> None:
    mine, theirs = (
        create_task(client, admin, title="mine"),
        create_task(client, admin, title="theirs"),
    )
    assign(client, admin, student, mine["id"])
    assign(client, admin, other, theirs["id"])
    listed = ok(client.post("/tasks", headers=student.headers), "TasksDataResponse")
    assert [t["id"] for t in listed["tasks"]] == [mine["id"]]
    peek = client.post("/tasks", json={"studentIds": [other.id]}, headers=student.headers)
    assert peek.status_code == 403


def test_only_an_admin_sets_a_checker_command(client: TestClient, admin: Caller) -> None:
    from tests.surfaces.exammanager.conftest import make_user

    teacher = make_user(client, "teacher", Role.TEACHER)
    body = {"title": "t", "description": "d", "checkerCommand": "/bin/true"}
    assert client.post("/task/create", json=body, headers=teacher.headers).status_code == 403
    assert client.post("/task/create", json=body, headers=admin.headers).status_code == 200
    plain = client.post(
        "/task/create", json={"title": "u", "description": "d"}, headers=teacher.headers
    )
    assert plain.status_code == 200


def user(user_id: int, role: Role) -> User:
    return User(id=user_id, login=f"u{user_id}", role=role)


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        (user(1, Role.ADMIN), {"read", "modify", "names", "task"}),
        (user(2, Role.TEACHER), {"read", "task"}),
        (user(3, Role.STUDENT), {"read", "names", "task"}),  # the student concerned
        (user(4, Role.STUDENT), set()),
    ],
)
def test_policy_decisions(actor: User, allowed: set[str]) -> None:
    """The same rules as a pure decision table: student 3 holds the task."""
    checks: dict[str, Callable[[], None]] = {
        "read": lambda: policy.require_read_user(actor, 3),
        "modify": lambda: policy.require_modify_user(actor, 3, {"login", "role"}),
        "names": lambda: policy.require_modify_user(actor, 3, {"firstName", "password"}),
        "task": lambda: policy.require_read_task(actor, {3}),
    }
    for name, check in checks.items():
        if name in allowed:
            check()
        else:
            with pytest.raises(PermissionDenied, match="may|not assigned"):
                check()
    if actor.id == 3:
        policy.require_lab_holder(actor, 3)
    else:
        with pytest.raises(PermissionDenied, match="only the student"):
            policy.require_lab_holder(actor, 3)


def test_another_students_personal_task_is_out_of_reach(
    client: TestClient, admin: Caller, student: Caller, other: Caller
) -> None:
    """Named by the task's id or by the personal task's own id, under either student's id:
    another student neither reads it nor touches its machine."""
    ids = build(client, admin, student)
    personal = ok(
        client.get(f"/user/{student.id}/tasks", headers=student.headers),
        "PersonalTasksDataResponse",
    )["personalTasks"][0]["tasks"][0]["id"]
    for ref in (ids["task"], personal):
        assert (
            client.get(f"/user/{student.id}/task/{ref}", headers=other.headers).status_code == 403
        )
        mine = client.get(f"/user/{other.id}/task/{ref}", headers=other.headers)
        assert mine.status_code == 404  # it is not among the other student's tasks
    for verb in ("start/img", "status/img", "connect/img", "stop/img", "check"):
        by_task = client.get(f"/task/{ids['task']}/{verb}", headers=other.headers)
        assert by_task.status_code == 403, verb
        by_personal = client.get(f"/task/{personal}/{verb}", headers=other.headers)
        assert by_personal.status_code == 404, verb  # VM paths name the task, not the holding
    running = client.get(f"/task/{ids['task']}/status/img", headers=student.headers).json()
    assert running["status"] == 1  # untouched
    modify = {"id": student.id, "password": "taken-over-now"}
    assert client.post("/user/modify", json=modify, headers=other.headers).status_code == 403
    assert (
        client.post("/login", json={"login": "ivan", "password": "taken-over-now"}).status_code
        == 401
    )

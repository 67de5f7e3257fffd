"""The contract document, response by response and request by request: every field the
client reads is there, with the contract's spelling and JSON type, and nothing else except
the extensions docs/exammanager.md lists; every documented request field is read; an
unknown id is a 404 and a missing required field a 400 naming it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import PASSWORD
from tests.surfaces.exammanager.conftest import Caller, assign, create_task, ok, wait_for

GUID, INT, STR = "guid", "int", "str"
ENVELOPE = {"type": STR, "status": STR, "message": STR}

# Section 3 of the contract; keys marked "+" are Vigil's documented extensions.
USER_TASK = {"id": GUID, "title": STR}
USER_ROW = {
    "id": GUID,
    "firstName": STR,
    "lastName": STR,
    "groupName": STR,
    "tasks": [{"title": STR, "status": INT}],
    "+role": INT,
}
SHAPES: dict[str, dict[str, Any]] = {
    "Response": {},
    "JwtResponse": {"token": STR, "id": GUID},
    "UserDataResponse": {
        "id": GUID,
        "firstName": STR,
        "lastName": STR,
        "groupId": GUID,
        "role": INT,
        "tasks": [USER_TASK],
    },
    "UsersDataResponse": {"users": [USER_ROW]},
    "TasksDataResponse": {"tasks": [{"id": GUID, "number": INT, "title": STR, "description": STR}]},
    "TaskDataResponse": {
        "id": GUID,
        "+number": INT,
        "title": STR,
        "description": STR,
        "virtualMachines": [{"id": STR, "+title": STR, "+order": INT}],
        "students": [{"id": GUID, "fullName": STR}],
    },
    "TaskStatusResponse": {"id": STR, "vMachineId": STR, "status": INT},
    "PersonalTaskDataResponse": {
        "+id": GUID,
        "+taskId": GUID,
        "title": STR,
        "number": INT,
        "description": STR,
        "status": INT,
        "message": STR,
        "virtualMachines": [{"image": {"id": STR}, "instance": {"status": INT}}],
    },
    "PersonalTasksDataResponse": {
        "personalTasks": [
            {
                "studentId": GUID,
                "tasks": [
                    {"id": GUID, "title": STR, "description": STR, "number": INT, "status": INT}
                ],
            }
        ]
    },
    "GroupDataResponse": {"id": GUID, "name": STR, "studentsCount": INT},
    "GroupsDataResponse": {"groups": [{"id": GUID, "name": STR, "studentsCount": INT}]},
    "ErrorsResponse": {"errors": {}},
    "BadResponse": {"exceptionType": STR, "message": STR, "stackTrace": STR},
}
# In these two the contract makes `status` the task's or the VM's status code.
STATUS_CODE_TYPES = {"TaskStatusResponse", "PersonalTaskDataResponse"}


def conforms(value: Any, shape: Any, where: str, problems: list[str]) -> None:
    """Every key of `value` is in `shape` (with its type); None is never sent."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            problems.append(f"{where}: {value!r} is not an object")
            return
        allowed = {key.lstrip("+"): sub for key, sub in shape.items()}
        if shape == {}:  # ErrorsResponse.errors: any field name, each a message
            allowed = {key: STR for key in value} if where.endswith("errors") else {}
        for key, item in value.items():
            if key not in allowed:
                problems.append(f"{where}.{key}: not in the contract")
            else:
                conforms(item, allowed[key], f"{where}.{key}", problems)
    elif isinstance(shape, list):
        if not isinstance(value, list):
            problems.append(f"{where}: {value!r} is not an array")
            return
        for index, item in enumerate(value):
            conforms(item, shape[0], f"{where}[{index}]", problems)
    elif shape == GUID:
        try:
            assert isinstance(value, str)
            uuid.UUID(value)
        except (AssertionError, ValueError):
            problems.append(f"{where}: {value!r} is not a GUID")
    elif shape == INT and (not isinstance(value, int) or isinstance(value, bool)):
        problems.append(f"{where}: {value!r} is not an int")
    elif shape == STR and not isinstance(value, str):
        problems.append(f"{where}: {value!r} is not a string")


def check_shape(answer: Any, expected_type: str, seen: set[str]) -> dict[str, Any]:
    assert answer.headers["content-type"] == "application/json", answer.headers
    body: dict[str, Any] = answer.json()
    assert body["type"] == expected_type, body
    if expected_type in STATUS_CODE_TYPES:
        shape = {**ENVELOPE, **SHAPES[expected_type]}
    else:
        shape = {**SHAPES[expected_type], **ENVELOPE}
    problems: list[str] = []
    conforms(body, shape, expected_type, problems)
    assert not problems, "\n".join(problems)
    seen.add(expected_type)
    return body


@pytest.fixture
def world(client: TestClient, admin: Caller, student: Caller, vm_state: Path) -> dict[str, str]:
    """A group holding the student, a task with one image given to them, its VM running
    and checked once: every field of every response has a value to show."""
    h = admin.headers
    names = {"id": student.id, "firstName": "Иван", "lastName": "Иванов"}
    ok(client.post("/user/modify", json=names, headers=h), "UserDataResponse")
    group = ok(client.post("/group/create", json={"name": "G"}, headers=h), "GroupDataResponse")
    add = {"groupId": group["id"], "students": [{"id": student.id}]}
    ok(client.post("/group/students/add", json=add, headers=h), "UsersDataResponse")
    task = create_task(client, admin, virtualMachines=[{"id": "img", "title": "Box", "order": 1}])
    personal = assign(client, admin, student, task["id"])["personalTasks"][0]["tasks"][0]
    lab = f"/task/{task['id']}"
    ok(client.get(f"{lab}/start/img", headers=student.headers), "Response")
    wait_for(
        lambda: client.get(f"{lab}/status/img", headers=student.headers).json()["status"] == 1,
        "the VM to run",
    )
    ok(client.get(f"{lab}/check", headers=student.headers), "Response")
    wait_for(
        lambda: (
            client.get(f"/user/{student.id}/task/{task['id']}", headers=student.headers).json()[
                "status"
            ]
            == 1
        ),
        "the check",
    )
    return {"group": group["id"], "task": task["id"], "personal": personal["id"]}


def test_response_shapes(
    client: TestClient, admin: Caller, student: Caller, world: dict[str, str]
) -> None:
    seen: set[str] = set()
    a, s = admin.headers, student.headers
    task, group, me = world["task"], world["group"], student.id

    def call(method: str, path: str, type_: str, headers: dict[str, str], **kw: Any) -> Any:
        answer = client.request(method, path, headers=headers, **kw)
        assert answer.status_code == 200, (method, path, answer.text)
        return check_shape(answer, type_, seen)

    creds = {"login": "ivan", "password": PASSWORD}
    assert call("POST", "/login", "JwtResponse", {}, json=creds)["id"] == me
    user = call("GET", f"/user/{me}", "UserDataResponse", a)
    assert set(user) >= {"id", "firstName", "lastName", "groupId", "role", "tasks"}
    assert user["tasks"] == [{"id": task, "title": "Configure nginx"}]
    personal = call("GET", f"/user/{me}/task/{task}", "PersonalTaskDataResponse", s)
    assert set(personal) >= {"title", "number", "description", "status", "message"}
    assert personal["virtualMachines"] == [{"image": {"id": "img"}, "instance": {"status": 1}}]
    held = call("GET", f"/user/{me}/tasks", "PersonalTasksDataResponse", s)
    assert held["personalTasks"][0]["tasks"][0]["id"] == world["personal"]
    call("POST", f"/user/{me}/tasks/add", "PersonalTasksDataResponse", a, json={"tasks": []})
    call("POST", "/user/modify", "UserDataResponse", s, json={"firstName": "Иван"})
    users = call("GET", "/users", "UsersDataResponse", a)
    row = next(u for u in users["users"] if u["id"] == me)
    assert row["groupName"] == "G"
    assert row["tasks"] == [{"title": "Configure nginx", "status": 1}]
    call("POST", "/users", "UsersDataResponse", a, json={"excludeYourself": True})
    new = {"login": "new", "password": "password123", "firstName": "N", "lastName": "M", "role": 1}
    created = call("POST", "/users/create", "UsersDataResponse", a, json={"users": [new]})
    call("POST", "/users/delete", "Response", a, json={"users": []})
    listed = call("POST", "/tasks", "TasksDataResponse", a, json={"studentIds": [me]})
    assert [t["id"] for t in listed["tasks"]] == [task]
    whole = call("GET", f"/task/{task}", "TaskDataResponse", a)
    assert whole["students"][0]["id"] == me
    assert whole["virtualMachines"] == [{"id": "img", "title": "Box", "order": 1}]
    body = {"title": "t", "description": "d", "virtualMachines": [{"id": "x"}]}
    extra = call("POST", "/task/create", "TaskDataResponse", a, json=body)
    call("POST", "/task/modify", "TaskDataResponse", a, json={"taskId": extra["id"]})
    status = call("GET", f"/task/{task}/status/img", "TaskStatusResponse", s)
    assert set(status) >= {"id", "vMachineId", "status"}
    call("GET", f"/task/{task}/start/img", "Response", s)
    call("GET", f"/group/{group}", "GroupDataResponse", a)
    call("GET", f"/group/{group}/students", "UsersDataResponse", a)
    call("POST", "/groups", "GroupsDataResponse", a, json={})
    other_group = call("POST", "/group/create", "GroupDataResponse", a, json={"name": "H"})
    move = {"groupId": other_group["id"], "students": [{"id": created["users"][0]["id"]}]}
    call("POST", "/group/students/add", "UsersDataResponse", a, json=move)
    out = {"students": [{"id": created["users"][0]["id"]}]}
    call("POST", "/group/students/remove", "UsersDataResponse", a, json=out)
    call("GET", f"/group/{other_group['id']}/delete", "Response", a)
    call("GET", f"/task/{task}/stop/img", "Response", s)
    call("POST", "/task/delete", "Response", a, json={"taskId": extra["id"]})
    ref = {"pesronalTasks": [{"id": world["personal"]}]}
    call("POST", f"/user/{me}/tasks/remove", "Response", a, json=ref)
    # the two error bodies
    wrong = client.post("/login", json={"login": "ivan", "password": "wrong-password"})
    assert wrong.status_code == 401
    assert check_shape(wrong, "BadResponse", seen)["stackTrace"] == ""
    missing = client.post("/group/create", json={}, headers=a)
    assert missing.status_code == 400
    assert check_shape(missing, "ErrorsResponse", seen)["errors"] == {"name": "Field required"}
    assert seen == set(SHAPES)


def test_no_field_is_sent_as_null(client: TestClient, admin: Caller, student: Caller) -> None:
    """Fields without a value are left out, on every endpoint (docs/exammanager.md)."""
    h = admin.headers
    group = client.post("/group/create", json={"name": "G"}, headers=h)
    answers = [
        client.post("/login", json={"login": "admin", "password": PASSWORD}),
        group,
        client.get(f"/group/{group.json()['id']}", headers=h),
        client.post("/groups", headers=h),
        client.post("/tasks", headers=h),
        client.get(f"/user/{student.id}", headers=h),
        client.get(f"/user/{student.id}/tasks", headers=h),
        client.get("/users", headers=h),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert "null" not in answer.text, answer.text
        assert "message" not in answer.json()


def unknown() -> str:
    return str(uuid.uuid4())


def test_unknown_ids_are_404(client: TestClient, admin: Caller, student: Caller) -> None:
    """Each endpoint naming a user, group or task answers 404 BadResponse for an unknown one."""
    task = create_task(client, admin, virtualMachines=[{"id": "img"}])
    assign(client, admin, student, task["id"])
    a, s, t = admin.headers, student.headers, task["id"]
    calls: list[tuple[str, str, dict[str, str], Any]] = [
        ("GET", f"/user/{unknown()}", a, None),
        ("GET", f"/user/{unknown()}/tasks", a, None),
        ("GET", f"/user/{student.id}/task/{unknown()}", a, None),
        ("GET", f"/user/{unknown()}/task/{t}", a, None),
        ("POST", f"/user/{unknown()}/tasks/add", a, {"tasks": []}),
        ("POST", f"/user/{student.id}/tasks/add", a, {"tasks": [{"id": unknown()}]}),
        ("POST", f"/user/{student.id}/tasks/remove", a, {"pesronalTasks": [{"id": unknown()}]}),
        ("POST", "/user/modify", a, {"id": unknown(), "firstName": "X"}),
        ("POST", "/users/delete", a, {"users": [{"id": unknown(), "onlyLogin": True}]}),
        ("GET", f"/task/{unknown()}", a, None),
        ("POST", "/task/delete", a, {"taskId": unknown()}),
        ("POST", "/task/modify", a, {"taskId": unknown(), "title": "x"}),
        ("GET", f"/task/{unknown()}/start/img", s, None),
        ("GET", f"/task/{unknown()}/status/img", s, None),
        ("GET", f"/task/{unknown()}/connect/img", s, None),
        ("GET", f"/task/{unknown()}/check", s, None),
        ("GET", f"/task/{unknown()}/stop/img", s, None),
        ("GET", f"/task/{t}/start/no-such-image", s, None),
        ("GET", f"/task/{t}/status/no-such-image", s, None),
        ("GET", f"/task/{t}/connect/no-such-image", s, None),
        ("GET", f"/task/{t}/stop/no-such-image", s, None),
        ("GET", f"/group/{unknown()}", a, None),
        ("GET", f"/group/{unknown()}/students", a, None),
        ("GET", f"/group/{unknown()}/delete", a, None),
        ("POST", "/group/students/add", a, {"groupId": unknown(), "students": []}),
        ("POST", "/group/students/remove", a, {"students": [{"id": unknown()}]}),
        ("POST", "/tasks", a, {"studentIds": [unknown()]}),
    ]
    wrong = []
    for method, path, headers, body in calls:
        answer = client.request(method, path, headers=headers, json=body)
        if answer.status_code != 404 or answer.json()["exceptionType"] != "NotFound":
            wrong.append(f"{method} {path}: {answer.status_code} {answer.text}")
    assert not wrong, "\n".join(wrong)


# Section 2: each request model's required fields ("Да"), as the body spells them.
REQUIRED: list[tuple[str, dict[str, Any], set[str]]] = [
    ("/login", {}, {"login", "password"}),
    ("/user/{student}/tasks/add", {"tasks": [{}]}, {"tasks[0].id"}),
    ("/user/{student}/tasks/remove", {"pesronalTasks": [{}]}, {"pesronalTasks[0].id"}),
    ("/task/create", {"virtualMachines": [{}]}, {"title", "description", "virtualMachines[0].id"}),
    ("/task/delete", {}, {"taskId"}),
    ("/task/modify", {}, {"taskId"}),
    ("/group/create", {}, {"name"}),
    ("/group/students/add", {"students": [{}]}, {"groupId", "students[0].id"}),
    ("/group/students/remove", {"students": [{}]}, {"students[0].id"}),
    (
        "/users/create",
        {"users": [{}]},
        {f"users[0].{f}" for f in ("login", "password", "firstName", "lastName", "role")},
    ),
    ("/users/delete", {"users": [{}]}, {"users[0].id", "users[0].onlyLogin"}),
]


@pytest.mark.parametrize(("path", "body", "fields"), REQUIRED, ids=[r[0] for r in REQUIRED])
def test_required_fields_are_named(
    client: TestClient,
    admin: Caller,
    student: Caller,
    path: str,
    body: dict[str, Any],
    fields: set[str],
) -> None:
    answer = client.post(path.format(student=student.id), json=body, headers=admin.headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["type"] == "ErrorsResponse"
    assert set(answer.json()["errors"]) == fields


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/user/modify", {"role": True}, "role"),
        ("/user/modify", {"role": "0"}, "role"),
        (
            "/users/delete",
            {"users": [{"id": str(uuid.uuid4()), "onlyLogin": 1}]},
            "users[0].onlyLogin",
        ),
        ("/groups", {"count": "5"}, "count"),
        ("/groups", {"minStudentsCount": 1.5}, "minStudentsCount"),
        (
            "/task/create",
            {"title": "t", "description": "d", "virtualMachines": [{"id": "x", "order": "1"}]},
            "virtualMachines[0].order",
        ),
        ("/task/create", {"title": 5, "description": "d"}, "title"),
        ("/group/students/add", {"groupId": 7, "students": []}, "groupId"),
    ],
)
def test_wrong_json_types_are_refused(
    client: TestClient, admin: Caller, path: str, body: dict[str, Any], field: str
) -> None:
    """A number must be a number and a flag a flag: `"role": true` is not read as 1."""
    answer = client.post(path, json=body, headers=admin.headers)
    assert answer.status_code == 400, answer.text
    assert list(answer.json()["errors"]) == [field]


def test_role_true_for_a_new_user_creates_nobody(client: TestClient, admin: Caller) -> None:
    new = {
        "login": "x1",
        "password": "password123",
        "firstName": "X",
        "lastName": "Y",
        "role": True,
    }
    answer = client.post("/users/create", json={"users": [new]}, headers=admin.headers)
    assert answer.status_code == 400
    assert list(answer.json()["errors"]) == ["users[0].role"]
    listed = ok(client.get("/users", headers=admin.headers), "UsersDataResponse")
    assert [u for u in listed["users"] if u.get("firstName") == "X"] == []


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (b'{"name": ', "application/json", "the body is not valid JSON at character 9"),
        (b"[1]", "application/json", "the body must be a JSON object"),
        (b'"G"', "application/json", "the body must be a JSON object"),
        (b'{"name": "G"}', "text/plain", "the body must be a JSON object"),
    ],
)
def test_unreadable_bodies_say_why(
    client: TestClient, admin: Caller, content: bytes, content_type: str, message: str
) -> None:
    headers = {**admin.headers, "Content-Type": content_type}
    answer = client.post("/group/create", content=content, headers=headers)
    assert answer.status_code == 400
    body = answer.json()
    assert body["type"] == "ErrorsResponse"
    assert list(body["errors"]) == ["request"]
    assert body["errors"]["request"].startswith(message)


def test_a_json_body_without_content_type_is_read(client: TestClient, admin: Caller) -> None:
    """As the optional bodies (GET /users, /groups, /tasks) always were."""
    answer = client.post("/group/create", content=b'{"name": "G"}', headers=admin.headers)
    assert ok(answer, "GroupDataResponse")["name"] == "G"


def test_an_empty_id_list_filters_nothing(
    client: TestClient, admin: Caller, student: Caller
) -> None:
    """`studentIds: []` on /tasks, like `groupIds: []` on /users: no filter, not "nobody"."""
    held, free = create_task(client, admin, title="held"), create_task(client, admin, title="free")
    assign(client, admin, student, held["id"])
    h = admin.headers
    for body in ({}, {"studentIds": None}, {"studentIds": []}):
        listed = ok(client.post("/tasks", json=body, headers=h), "TasksDataResponse")
        assert [t["id"] for t in listed["tasks"]] == [held["id"], free["id"]], body
    only = ok(
        client.post("/tasks", json={"studentIds": [student.id]}, headers=h), "TasksDataResponse"
    )
    assert [t["id"] for t in only["tasks"]] == [held["id"]]
    users = ok(
        client.request("GET", "/users", json={"groupIds": [], "taskIds": []}, headers=h),
        "UsersDataResponse",
    )
    assert len(users["users"]) == 2
    mine = client.post("/tasks", json={"studentIds": []}, headers=student.headers)
    assert [t["id"] for t in ok(mine, "TasksDataResponse")["tasks"]] == [held["id"]]


def test_image_ids_a_hypervisor_would_refuse_are_refused_at_creation(
    client: TestClient, admin: Caller
) -> None:
    images = [{"id": "debian-12.1"}, {"id": "../../etc/base"}, {"id": "-rf"}, {"id": "a b"}]
    body = {"title": "t", "description": "d", "virtualMachines": images}
    answer = client.post("/task/create", json=body, headers=admin.headers)
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert set(errors) == {f"virtualMachines[{i}].id" for i in (1, 2, 3)}
    assert "use letters, digits and _ . : @ -" in errors["virtualMachines[1].id"]
    listed = ok(client.post("/tasks", headers=admin.headers), "TasksDataResponse")
    assert listed["tasks"] == []

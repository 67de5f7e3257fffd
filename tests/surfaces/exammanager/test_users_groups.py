"""The ExamManager contract: sign-in, users and groups."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.support.api import PASSWORD, login
from tests.surfaces.exammanager.conftest import Caller, assign, create_task, make_user, ok, sign_in
from vigil.core.identity.models import Role


def new_user(login: str, role: int = 1, **extra: object) -> dict[str, object]:
    return {
        "login": login,
        "password": "long-enough-1",
        "firstName": f"First-{login}",
        "lastName": f"Last-{login}",
        "role": role,
        **extra,
    }


def test_login_gives_a_token_every_surface_accepts(client: TestClient, student: Caller) -> None:
    answer = ok(client.post("/login", json={"login": "ivan", "password": PASSWORD}), "JwtResponse")
    assert uuid.UUID(answer["id"])
    assert answer["token"]
    assert client.get(f"/user/{student.id}", headers=student.headers).status_code == 200
    # ProctorBE's own sign-in and the ExamManager token name the same user
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {answer['token']}"})
    assert me.status_code == 200, me.text
    assert login(client, "ivan")  # the same password works on ProctorBE's /auth/login


def test_wrong_password_is_a_bad_response(client: TestClient, student: Caller) -> None:
    answer = client.post("/login", json={"login": "ivan", "password": "nope"})
    assert answer.status_code == 401
    body = answer.json()
    assert body == {
        "type": "BadResponse",
        "status": "Unauthorized",
        "exceptionType": "Unauthenticated",
        "message": "incorrect login or password",
        "stackTrace": "",
    }


def test_validation_failure_is_errors_response(client: TestClient) -> None:
    answer = client.post("/login", json={"login": "ivan"})
    assert answer.status_code == 400
    assert answer.json() == {
        "type": "ErrorsResponse",
        "status": "BadRequest",
        "errors": {"password": "Field required"},
    }
    bad_guid = client.get("/user/not-a-guid", headers={})
    assert bad_guid.status_code in (400, 401)


def test_unknown_path_under_the_surface_answers_its_shape(client: TestClient) -> None:
    answer = client.get("/group/students/nothing-here")
    assert answer.status_code in (404, 405)
    assert answer.json()["type"] == "BadResponse"
    assert answer.json()["stackTrace"] == ""


def test_get_user_shows_group_role_and_tasks(
    client: TestClient, admin: Caller, student: Caller
) -> None:
    group = ok(
        client.post("/group/create", json={"name": "ИВТ-21"}, headers=admin.headers),
        "GroupDataResponse",
    )
    add = {"groupId": group["id"], "students": [{"id": student.id}]}
    ok(client.post("/group/students/add", json=add, headers=admin.headers), "UsersDataResponse")
    task = create_task(client, admin)
    assign(client, admin, student, task["id"])
    body = ok(client.get(f"/user/{student.id}", headers=admin.headers), "UserDataResponse")
    assert body["role"] == 1
    assert body["groupId"] == group["id"]
    assert body["tasks"] == [{"id": task["id"], "title": "Configure nginx"}]
    me = ok(client.get(f"/user/{admin.id}", headers=admin.headers), "UserDataResponse")
    assert me["role"] == 0
    assert me["tasks"] == []
    assert "groupId" not in me


def test_teacher_appears_as_admin(client: TestClient, admin: Caller) -> None:
    teacher = make_user(client, "teacher", Role.TEACHER)
    body = ok(client.get(f"/user/{teacher.id}", headers=admin.headers), "UserDataResponse")
    assert body["role"] == 0


def test_create_users_is_all_or_nothing(client: TestClient, admin: Caller, student: Caller) -> None:
    batch = {"users": [new_user("anna"), new_user("ivan"), new_user("boris"), new_user("anna")]}
    answer = client.post("/users/create", json=batch, headers=admin.headers)
    assert answer.status_code == 409, answer.text
    body = answer.json()
    assert body["type"] == "ErrorsResponse"
    assert body["status"] == "Conflict"
    assert set(body["errors"]) == {"users[1].login", "users[3].login"}
    assert "ivan" in body["errors"]["users[1].login"]
    listed = ok(client.get("/users", headers=admin.headers), "UsersDataResponse")
    assert {u.get("firstName") for u in listed["users"]}.isdisjoint({"First-anna", "First-boris"})

    bad = client.post(
        "/users/create", json={"users": [new_user("x", password="short")]}, headers=admin.headers
    )
    assert bad.status_code == 400
    assert "users[0].password" in bad.json()["errors"]

    good = {"users": [new_user("anna"), new_user("boris", role=0)]}
    created = ok(
        client.post("/users/create", json=good, headers=admin.headers), "UsersDataResponse"
    )
    assert [u["firstName"] for u in created["users"]] == ["First-anna", "First-boris"]
    assert [u["role"] for u in created["users"]] == [1, 0]
    assert sign_in(client, "anna", "long-enough-1").id == created["users"][0]["id"]


def test_create_users_into_a_group(client: TestClient, admin: Caller) -> None:
    group = ok(
        client.post("/group/create", json={"name": "G1"}, headers=admin.headers),
        "GroupDataResponse",
    )
    batch = {"users": [new_user("anna", groupId=group["id"])]}
    created = ok(
        client.post("/users/create", json=batch, headers=admin.headers), "UsersDataResponse"
    )
    assert created["users"][0]["groupName"] == "G1"
    missing = {"users": [new_user("boris", groupId=str(uuid.uuid4()))]}
    answer = client.post("/users/create", json=missing, headers=admin.headers)
    assert answer.status_code == 400
    assert "users[0].groupId" in answer.json()["errors"]


def test_users_filters_as_body_query_and_post(
    client: TestClient, admin: Caller, student: Caller, other: Caller
) -> None:
    batch = {"users": [new_user("anna"), new_user("oleg")]}
    batch["users"][0].update(firstName="Анна", lastName="Смирнова")  # type: ignore[union-attr]
    ok(client.post("/users/create", json=batch, headers=admin.headers), "UsersDataResponse")
    group = ok(
        client.post("/group/create", json={"name": "G"}, headers=admin.headers), "GroupDataResponse"
    )
    add = {"groupId": group["id"], "students": [{"id": student.id}]}
    ok(client.post("/group/students/add", json=add, headers=admin.headers), "UsersDataResponse")
    task = create_task(client, admin)
    assign(client, admin, other, task["id"])

    def names(answer: object) -> set[str]:
        return {u.get("lastName") for u in ok(answer, "UsersDataResponse")["users"]}

    h = admin.headers
    # a JSON body on GET, the contract's way; Cyrillic matched case-insensitively
    assert names(client.request("GET", "/users", json={"name": "анна смир"}, headers=h)) == {
        "Смирнова"
    }
    assert names(client.get("/users", params={"lastName": "СМИР"}, headers=h)) == {"Смирнова"}
    assert names(client.post("/users", json={"firstName": "анн"}, headers=h)) == {"Смирнова"}

    def ids(answer: object) -> list[str]:
        return [u["id"] for u in ok(answer, "UsersDataResponse")["users"]]

    assert len(ids(client.get("/users", headers=h))) == 5
    assert admin.id not in ids(client.get("/users", params={"excludeYourself": True}, headers=h))
    assert len(ids(client.get("/users", params={"excludeYourself": True}, headers=h))) == 4
    assert ids(client.get("/users", params={"role": 0}, headers=h)) == [admin.id]
    assert len(ids(client.get("/users", params={"role": 1}, headers=h))) == 4
    assert ids(client.get("/users", params={"groupIds": [group["id"]]}, headers=h)) == [student.id]
    not_in_group = client.request(
        "GET", "/users", json={"excludeGroupIds": [group["id"]], "role": 1}, headers=h
    )
    assert len(ok(not_in_group, "UsersDataResponse")["users"]) == 3
    without = client.request(
        "GET", "/users", json={"withoutGroup": True, "groupIds": [group["id"]]}, headers=h
    )
    assert len(ok(without, "UsersDataResponse")["users"]) == 4
    with_task = ok(
        client.request("GET", "/users", json={"taskIds": [task["id"]]}, headers=h),
        "UsersDataResponse",
    )
    assert [u["id"] for u in with_task["users"]] == [other.id]
    assert with_task["users"][0]["tasks"] == [{"title": "Configure nginx", "status": 0}]
    no_task = client.request(
        "GET", "/users", json={"excludeTaskIds": [task["id"]], "role": 1}, headers=h
    )
    assert other.id not in {u["id"] for u in ok(no_task, "UsersDataResponse")["users"]}
    status0 = ok(client.get("/users", params={"taskStatus": 0}, headers=h), "UsersDataResponse")
    assert [u["id"] for u in status0["users"]] == [other.id]
    assert (
        ok(client.get("/users", params={"taskStatus": 2}, headers=h), "UsersDataResponse")["users"]
        == []
    )
    wrong = client.request("GET", "/users", json={"role": 7}, headers=h)
    assert wrong.status_code == 400
    assert "role" in wrong.json()["errors"]
    wrong_query = client.get("/users", params={"taskStatus": 3}, headers=h)
    assert wrong_query.status_code == 400
    assert wrong_query.json()["type"] == "ErrorsResponse"


def test_modify_user(client: TestClient, admin: Caller, student: Caller) -> None:
    changed = client.post(
        "/user/modify",
        json={"id": student.id, "login": "ivan2", "firstName": "Иван", "role": 0},
        headers=admin.headers,
    )
    body = ok(changed, "UserDataResponse")
    assert body["firstName"] == "Иван"
    assert body["role"] == 0
    sign_in(client, "ivan2")
    # a student changes their own names and password, nothing else
    me = make_user(client, "olga", Role.STUDENT)
    mine = client.post(
        "/user/modify", json={"lastName": "Новая", "password": "new-password-1"}, headers=me.headers
    )
    assert ok(mine, "UserDataResponse")["lastName"] == "Новая"
    sign_in(client, "olga", "new-password-1")
    role = client.post("/user/modify", json={"role": 0}, headers=me.headers)
    assert role.status_code == 403
    assert role.json()["exceptionType"] == "PermissionDenied"
    others = client.post(
        "/user/modify", json={"id": admin.id, "firstName": "x"}, headers=me.headers
    )
    assert others.status_code == 403
    taken = client.post(
        "/user/modify", json={"id": admin.id, "login": "olga"}, headers=admin.headers
    )
    assert taken.status_code == 409
    assert taken.json()["errors"] == {"login": "login 'olga' is taken"}
    short = client.post("/user/modify", json={"password": "short"}, headers=admin.headers)
    assert short.status_code == 400
    assert "password" in short.json()["errors"]
    demote = client.post("/user/modify", json={"role": 1}, headers=admin.headers)
    assert demote.status_code == 409


def test_delete_only_login_keeps_data(client: TestClient, admin: Caller, student: Caller) -> None:
    body = {"users": [{"id": student.id, "onlyLogin": True}]}
    ok(client.post("/users/delete", json=body, headers=admin.headers), "Response")
    assert client.post("/login", json={"login": "ivan", "password": PASSWORD}).status_code == 401
    assert client.get(f"/user/{student.id}", headers=student.headers).status_code == 401
    kept = ok(client.get(f"/user/{student.id}", headers=admin.headers), "UserDataResponse")
    assert kept["id"] == student.id


def test_delete_erases_personal_data(client: TestClient, admin: Caller, student: Caller) -> None:
    group = ok(
        client.post("/group/create", json={"name": "G"}, headers=admin.headers), "GroupDataResponse"
    )
    ok(
        client.post(
            "/group/students/add",
            json={"groupId": group["id"], "students": [{"id": student.id}]},
            headers=admin.headers,
        ),
        "UsersDataResponse",
    )
    task = create_task(client, admin)
    assign(client, admin, student, task["id"])
    body = {"users": [{"id": student.id, "onlyLogin": False}]}
    ok(client.post("/users/delete", json=body, headers=admin.headers), "Response")
    assert client.get(f"/user/{student.id}", headers=admin.headers).status_code == 404
    assert client.post("/login", json={"login": "ivan", "password": PASSWORD}).status_code == 401
    count = ok(client.get(f"/group/{group['id']}", headers=admin.headers), "GroupDataResponse")
    assert count["studentsCount"] == 0
    holders = ok(client.get(f"/task/{task['id']}", headers=admin.headers), "TaskDataResponse")
    assert holders["students"] == []
    # the login is free again
    ok(
        client.post("/users/create", json={"users": [new_user("ivan")]}, headers=admin.headers),
        "UsersDataResponse",
    )
    myself = client.post(
        "/users/delete",
        json={"users": [{"id": admin.id, "onlyLogin": True}]},
        headers=admin.headers,
    )
    assert myself.status_code == 409
    unknown = client.post(
        "/users/delete",
        json={"users": [{"id": str(uuid.uuid4()), "onlyLogin": True}]},
        headers=admin.headers,
    )
    assert unknown.status_code == 404
    assert unknown.json()["type"] == "BadResponse"


def test_groups(client: TestClient, admin: Caller, student: Caller, other: Caller) -> None:
    h = admin.headers
    a = ok(client.post("/group/create", json={"name": "ИВТ-21"}, headers=h), "GroupDataResponse")
    b = ok(client.post("/group/create", json={"name": "ПИ-22"}, headers=h), "GroupDataResponse")
    assert a["studentsCount"] == 0
    dup = client.post("/group/create", json={"name": "ИВТ-21"}, headers=h)
    assert dup.status_code == 409
    assert "name" in dup.json()["errors"]
    both = {"groupId": a["id"], "students": [{"id": student.id}, {"id": other.id}]}
    added = ok(client.post("/group/students/add", json=both, headers=h), "UsersDataResponse")
    assert {u["groupName"] for u in added["users"]} == {"ИВТ-21"}
    # a student has one group: adding to another moves them
    move = {"groupId": b["id"], "students": [{"id": other.id}]}
    ok(client.post("/group/students/add", json=move, headers=h), "UsersDataResponse")
    assert ok(client.get(f"/group/{a['id']}", headers=h), "GroupDataResponse")["studentsCount"] == 1
    members = ok(client.get(f"/group/{b['id']}/students", headers=h), "UsersDataResponse")
    assert [u["id"] for u in members["users"]] == [other.id]
    not_student = client.post(
        "/group/students/add", json={"groupId": a["id"], "students": [{"id": admin.id}]}, headers=h
    )
    assert not_student.status_code == 400
    assert "students[0].id" in not_student.json()["errors"]

    listed = ok(client.post("/groups", headers=h), "GroupsDataResponse")
    assert [g["name"] for g in listed["groups"]] == ["ИВТ-21", "ПИ-22"]
    assert [
        g["name"]
        for g in ok(client.post("/groups", json={"name": "ивт"}, headers=h), "GroupsDataResponse")[
            "groups"
        ]
    ] == ["ИВТ-21"]
    assert (
        len(
            ok(client.post("/groups", json={"count": 1}, headers=h), "GroupsDataResponse")["groups"]
        )
        == 1
    )
    big = ok(
        client.post("/groups", json={"minStudentsCount": 1, "maxStudentsCount": 1}, headers=h),
        "GroupsDataResponse",
    )
    assert len(big["groups"]) == 2
    none = ok(client.post("/groups", json={"minStudentsCount": 2}, headers=h), "GroupsDataResponse")
    assert none["groups"] == []

    removed = client.post(
        "/group/students/remove", json={"students": [{"id": other.id}]}, headers=h
    )
    assert [u.get("groupName") for u in ok(removed, "UsersDataResponse")["users"]] == [None]
    ok(client.get(f"/group/{a['id']}/delete", headers=h), "Response")
    assert client.get(f"/group/{a['id']}", headers=h).status_code == 404
    still = ok(client.get(f"/user/{student.id}", headers=h), "UserDataResponse")
    assert "groupId" not in still

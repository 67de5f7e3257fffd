"""ExamManager's error shapes under bad input and failures, and what never leaks: stack
traces, internal paths, a VM's console password in the logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.surfaces.exammanager.conftest import Caller, assign, create_task, ok, wait_for
from vigil.app import create_app
from vigil.core.identity import directory
from vigil.settings import Settings


def test_malformed_json_is_errors_response(client: TestClient, admin: Caller) -> None:
    answer = client.post(
        "/task/create",
        content=b'{"title": "x", "description": ',
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["type"] == "ErrorsResponse"
    assert body["status"] == "BadRequest"
    assert body["errors"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/users"), ("POST", "/users"), ("POST", "/groups"), ("POST", "/tasks")],
)
def test_optional_bodies(client: TestClient, admin: Caller, method: str, path: str) -> None:
    h = {**admin.headers, "Content-Type": "application/json"}
    assert client.request(method, path, content=b"", headers=h).status_code == 200
    broken = client.request(method, path, content=b"{nope", headers=h)
    assert broken.status_code == 400
    assert broken.json()["type"] == "ErrorsResponse"
    wrong = client.request(method, path, content=b'{"count": -1, "role": 9, "title": 5}', headers=h)
    assert wrong.status_code in (200, 400)  # each model reads the fields it has
    assert wrong.json()["type"] != "BadResponse"


def test_body_over_the_limit_is_413(settings: Settings, admin: Caller, client: TestClient) -> None:
    small = settings.model_copy(update={"max_json_bytes": 64})
    with TestClient(create_app(small)) as http:
        answer = http.request("GET", "/users", json={"name": "x" * 100}, headers=admin.headers)
    assert answer.status_code == 413
    assert answer.json()["type"] == "BadResponse"
    assert answer.json()["exceptionType"] == "PayloadTooLarge"


@pytest.mark.parametrize("path", ["/login", "/users/create", "/task/create", "/group/create"])
def test_every_body_is_held_to_the_limit(
    settings: Settings, admin: Caller, client: TestClient, path: str
) -> None:
    """FastAPI-parsed bodies too, declared or chunked: none is read past the limit."""
    small = settings.model_copy(update={"max_json_bytes": 64})
    big = b'{"users": [], "name": "' + b"x" * 1000 + b'"}'
    h = {**admin.headers, "Content-Type": "application/json"}
    with TestClient(create_app(small)) as http:
        declared = http.post(path, content=big, headers=h)
        chunked = http.post(path, content=iter([big[:50], big[50:]]), headers=h)
        fits = http.post("/group/create", json={"name": "G"}, headers=admin.headers)
    for answer in (declared, chunked):
        assert answer.status_code == 413, answer.text
        assert answer.json()["exceptionType"] == "PayloadTooLarge"
        assert answer.json()["message"] == "the body is over 64 bytes"
    assert fits.status_code == 200


def test_guid_paths_are_checked(client: TestClient, admin: Caller) -> None:
    for path in ("/user/123", "/group/abc", "/task/zzz", "/user/1/tasks", "/task/1/check"):
        answer = client.get(path, headers=admin.headers)
        assert answer.status_code == 400, path
        assert list(answer.json()["errors"]) == ["id" if "check" not in path else "taskId"]


def test_wrong_method_keeps_the_shape(client: TestClient, admin: Caller) -> None:
    answer = client.delete("/groups", headers=admin.headers)
    assert answer.status_code == 405
    assert answer.json()["type"] == "BadResponse"
    assert answer.json()["exceptionType"] == "MethodNotAllowed"


def test_unexpected_failure_is_a_bad_response_without_internals(
    settings: Settings, admin: Caller, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail at /srv/vigil/core/identity/directory.py")

    monkeypatch.setattr(directory, "list_groups", explode)
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        answer = http.post("/groups", headers=admin.headers)
    assert answer.status_code == 500
    assert answer.json() == {
        "type": "BadResponse",
        "status": "InternalServerError",
        "exceptionType": "InternalError",
        "message": "internal error; the event was logged",
        "stackTrace": "",
    }


def test_the_vm_password_is_never_logged(
    client: TestClient,
    admin: Caller,
    student: Caller,
    vm_state: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    task = create_task(client, admin, virtualMachines=[{"id": "img"}])
    assign(client, admin, student, task["id"])
    ok(client.get(f"/task/{task['id']}/start/img", headers=student.headers), "Response")
    status = wait_for(
        lambda: (
            (s := client.get(f"/task/{task['id']}/status/img", headers=student.headers).json())[
                "status"
            ]
            == 1
            and s
        ),
        "the VM to run",
    )
    vnc = client.get(f"/task/{task['id']}/connect/img", headers=student.headers).text
    password = "pw-" + status["vMachineId"][-4:]
    assert f"Password={password}" in vnc
    ok(client.get(f"/task/{task['id']}/stop/img", headers=student.headers), "Response")
    wait_for(lambda: not list(vm_state.glob("*.json")), "the VM to stop")
    logged = capsys.readouterr()
    assert password not in logged.out + logged.err


def test_stop_while_loading_wins(
    settings: Settings, admin: Caller, student: Caller, client: TestClient, vm_state: Path
) -> None:
    task = create_task(client, admin, virtualMachines=[{"id": "img"}])
    assign(client, admin, student, task["id"])
    slow = settings.model_copy(update={"exammanager_vm_loading_poll_seconds": 0.5})
    with TestClient(create_app(slow)) as http:
        ok(http.get(f"/task/{task['id']}/start/img", headers=student.headers), "Response")
        ok(http.get(f"/task/{task['id']}/stop/img", headers=student.headers), "Response")
        again = http.get(f"/task/{task['id']}/start/img", headers=student.headers)
        assert again.status_code == 409  # stopping: not startable until it has stopped
        wait_for(
            lambda: (
                http.get(f"/task/{task['id']}/status/img", headers=student.headers).json()["status"]
                == 2
            ),
            "the stop to win",
        )
        wait_for(lambda: not list(vm_state.glob("*.json")), "the machine to be killed")
        ok(http.get(f"/task/{task['id']}/start/img", headers=student.headers), "Response")


ODD_IDS = ["1", "99999999999999999999999999", "not-a-guid", "%00", "a" * 5000]
ODD_BODIES = [
    b"",
    b"null",
    b"[]",
    b'"x"',
    b"{}",
    b'{"users": "x", "tasks": [1], "students": [{"id": 99999999999999999999}]}',
    b'{"taskId": 12, "groupId": null, "pesronalTasks": [{"id": "not-a-guid"}]}',
    b'{"name": 1e400, "count": 99999999999999999999999, "role": true, "title": "\\u0000"}',
    b'{"title": "a", "description": "b", "virtualMachines": [{"id": "../x", "order": 1e30}]}',
    b"\xff\xfe",
    b'{"login": "admin", "password": "x\\ud800"}',
    b'{"users": [{"id": "00000000-0000-0000-0000-000000000000", "onlyLogin": "maybe"}]}',
]
GET_PATHS = [
    "/user/{u}",
    "/user/{u}/tasks",
    "/user/{u}/task/{t}",
    "/task/{t}",
    "/task/{t}/start/{i}",
    "/task/{t}/status/{i}",
    "/task/{t}/connect/{i}",
    "/task/{t}/check",
    "/task/{t}/stop/{i}",
    "/group/{g}",
    "/group/{g}/students",
    "/group/{g}/delete",
    "/users",
]
POST_PATHS = [
    "/login",
    "/user/{u}/tasks/add",
    "/user/{u}/tasks/remove",
    "/user/modify",
    "/users",
    "/users/create",
    "/users/delete",
    "/tasks",
    "/task/create",
    "/task/delete",
    "/task/modify",
    "/group/create",
    "/group/students/add",
    "/group/students/remove",
    "/groups",
]


def test_odd_inputs_answer_in_the_contract_shape(
    client: TestClient, admin: Caller, student: Caller
) -> None:
    """Non-GUID and huge ids, wrong JSON types, empty and non-JSON bodies, GET with a body:
    never a 500, never a trace or a path, always a typed body (connect's file aside)."""
    task = create_task(client, admin, virtualMachines=[{"id": "img"}])
    assign(client, admin, student, task["id"])
    group = client.post("/group/create", json={"name": "G"}, headers=admin.headers).json()
    real = {"u": student.id, "t": task["id"], "g": group["id"], "i": "img"}
    problems = []

    def look(method: str, path: str, content: bytes, caller: Caller) -> None:
        headers = {**caller.headers, "Content-Type": "application/json"}
        answer = client.request(method, path, content=content, headers=headers)
        leaked = any(s in answer.text for s in ("Traceback", "site-packages", "/vigil/", ".py"))
        typed = "/connect/" in path and answer.status_code == 200 or "type" in answer.json()
        if answer.status_code >= 500 or leaked or not typed:
            problems.append(f"{method} {path[:80]} {content[:40]!r}: {answer.text[:200]}")

    for caller in (admin, student):
        for path in GET_PATHS:
            look("GET", path.format(**real), b'{"name": ', caller)  # GET with a (broken) body
            for key in "utgi":
                for odd in ODD_IDS:
                    look("GET", path.format(**{**real, key: odd}), b"", caller)
        for path in POST_PATHS:
            for body in ODD_BODIES:
                look("POST", path.format(**real), body, caller)
            for odd in ODD_IDS:
                look("POST", path.format(**{**real, "u": odd}), b"{}", caller)
    assert not problems, "\n".join(problems)

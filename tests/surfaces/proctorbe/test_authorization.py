"""The authorization matrix, as ProctorBE callers meet it (one policy in the core)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.support.api import create_user, login
from vigil.app import create_app
from vigil.core.identity.models import Role
from vigil.settings import Settings

ACTORS = [
    "candidate",
    "other_student",
    "exam_teacher",
    "other_teacher",
    "admin",
    "nobody",
    "untrusted_remote_user",
    "trusted_remote_user",
]


@dataclass
class World:
    client: TestClient
    headers: dict[str, dict[str, str]]
    session_id: int
    trusted_client: TestClient


@pytest.fixture
def world(client: TestClient, settings: Settings) -> World:
    for login_name, role in [
        ("cand@uni.edu", Role.STUDENT),
        ("other@uni.edu", Role.STUDENT),
        ("teach@uni.edu", Role.TEACHER),
        ("teach2@uni.edu", Role.TEACHER),
        ("root@uni.edu", Role.ADMIN),
    ]:
        create_user(client, login_name, role)
    headers = {
        "candidate": login(client, "cand@uni.edu"),
        "other_student": login(client, "other@uni.edu"),
        "exam_teacher": login(client, "teach@uni.edu"),
        "other_teacher": login(client, "teach2@uni.edu"),
        "admin": login(client, "root@uni.edu"),
        "nobody": {},
        "untrusted_remote_user": {"Remote-User": "cand@uni.edu"},
        "trusted_remote_user": {"Remote-User": "cand@uni.edu"},
    }
    exam = client.post("/exams/", params={"title": "Physics"}, headers=headers["exam_teacher"])
    session = client.post(
        "/sessions/start", params={"exam_id": exam.json()["id"]}, headers=headers["candidate"]
    )
    client.post(
        "/events/",
        params={"session_id": session.json()["session_id"], "event_type": "NO_FACE"},
        headers=headers["candidate"],
    )
    # Same app and database, seen from an address inside VIGIL_TRUSTED_PROXIES.
    trusted = TestClient(client.app, client=("10.9.8.7", 40000))
    trusted.portal = client.portal
    return World(client, headers, session.json()["session_id"], trusted)


def call(world: World, actor: str, method: str, url: str, **params: object) -> int:
    http = world.trusted_client if actor == "trusted_remote_user" else world.client
    return http.request(method, url, params=params, headers=world.headers[actor]).status_code


READ_EVENTS = {
    "candidate": 403,  # students are refused the admin endpoints
    "other_student": 403,
    "exam_teacher": 200,
    "other_teacher": 403,
    "admin": 200,
    "nobody": 401,
    "untrusted_remote_user": 401,
    "trusted_remote_user": 403,
}
END_SESSION = {
    "candidate": 200,
    "other_student": 403,
    "exam_teacher": 200,
    "other_teacher": 403,
    "admin": 200,
    "nobody": 401,
    "untrusted_remote_user": 401,
    "trusted_remote_user": 200,
}
POST_EVENT = {
    "candidate": 200,
    "other_student": 403,
    "exam_teacher": 403,
    "other_teacher": 403,
    "admin": 403,
    "nobody": 401,
    "untrusted_remote_user": 401,
    "trusted_remote_user": 200,
}


@pytest.mark.parametrize("actor", ACTORS)
def test_read_session_events(world: World, actor: str) -> None:
    status = call(world, actor, "GET", f"/admin/sessions/{world.session_id}/events")
    assert status == READ_EVENTS[actor]


@pytest.mark.parametrize("actor", ACTORS)
def test_end_session(world: World, actor: str) -> None:
    status = call(world, actor, "POST", "/sessions/end", session_id=world.session_id)
    assert status == END_SESSION[actor]
    admin = world.headers["admin"]
    sessions = world.client.get("/admin/sessions", headers=admin).json()
    expected = "finished" if status == 200 else "active"
    assert sessions[0]["status"] == expected


@pytest.mark.parametrize("actor", ACTORS)
def test_post_event(world: World, actor: str) -> None:
    status = call(
        world, actor, "POST", "/events/", session_id=world.session_id, event_type="TAB_SWITCH"
    )
    assert status == POST_EVENT[actor]
    events = world.client.get(
        f"/admin/sessions/{world.session_id}/events", headers=world.headers["admin"]
    ).json()
    assert len(events) == (2 if status == 200 else 1)


@pytest.mark.parametrize(
    ("actor", "sees_session"),
    [("exam_teacher", True), ("other_teacher", False), ("admin", True)],
)
def test_session_list_is_filtered_by_the_policy(
    world: World, actor: str, sees_session: bool
) -> None:
    listed = world.client.get("/admin/sessions", headers=world.headers[actor])
    assert listed.status_code == 200
    assert [s["id"] for s in listed.json()] == ([world.session_id] if sees_session else [])


def test_remote_user_is_ignored_without_trusted_proxies(settings: Settings) -> None:
    untrusting = settings.model_copy(update={"trusted_proxies": []})
    with TestClient(create_app(untrusting), client=("10.9.8.7", 40000)) as http:
        create_user(http, "root@uni.edu", Role.ADMIN)
        answer = http.get("/admin/sessions", headers={"Remote-User": "root@uni.edu"})
        assert answer.status_code == 401


def test_unknown_remote_user_from_trusted_proxy_is_401(world: World) -> None:
    answer = world.trusted_client.get("/admin/sessions", headers={"Remote-User": "ghost@uni.edu"})
    assert answer.status_code == 401
    assert "not known" in answer.json()["detail"]

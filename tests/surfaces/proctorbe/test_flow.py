"""The ProctorBE flow as its client uses it, end to end over HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.api import create_user, login
from vigil.core.identity.models import Role


def test_student_session_scores_medium_and_admin_sees_it(client: TestClient) -> None:
    registered = client.post(
        "/auth/register",
        json={"email": "ana@uni.edu", "password": "ana-secret-1", "role": "student"},
    )
    assert registered.status_code == 200
    assert registered.json()["email"] == "ana@uni.edu"
    assert registered.json()["role"] == "student"

    student = login(client, "ana@uni.edu", "ana-secret-1")
    create_user(client, "root@uni.edu", Role.ADMIN)
    admin = login(client, "root@uni.edu")

    exam = client.post("/exams/", params={"title": "Algebra I"}, headers=admin)
    assert exam.status_code == 200
    exam_id = exam.json()["id"]
    assert exam.json()["title"] == "Algebra I"
    assert [e["id"] for e in client.get("/exams/").json()] == [exam_id]

    started = client.post("/sessions/start", params={"exam_id": exam_id}, headers=student)
    assert started.status_code == 200
    session_id = started.json()["session_id"]
    assert started.json()["status"] == "active"

    for event_type in ("TAB_SWITCH", "TAB_SWITCH", "NO_FACE"):
        posted = client.post(
            "/events/",
            params={"session_id": session_id, "event_type": event_type, "severity": 1},
            headers=student,
        )
        assert posted.status_code == 200, posted.text
        assert posted.json()["event_type"] == event_type

    ended = client.post("/sessions/end", params={"session_id": session_id}, headers=student)
    assert ended.status_code == 200
    assert ended.json()["risk_score"] == 8
    assert ended.json()["risk_level"] == "Medium"
    assert ended.json()["status"] == "finished"
    rules = {rule["rule"]: rule for rule in ended.json()["breakdown"]}
    assert rules["TAB_SWITCH"]["count"] == 2
    assert rules["TAB_SWITCH"]["points"] == 6
    assert rules["NO_FACE"]["points"] == 2

    listed = client.get("/admin/sessions", headers=admin)
    assert listed.status_code == 200
    assert [(s["id"], s["risk_score"], s["risk_level"]) for s in listed.json()] == [
        (session_id, 8, "Medium")
    ]
    events = client.get(f"/admin/sessions/{session_id}/events", headers=admin)
    assert [e["event_type"] for e in events.json()] == ["TAB_SWITCH", "TAB_SWITCH", "NO_FACE"]

    assert client.get("/admin/sessions", headers=student).status_code == 403
    assert client.get(f"/admin/sessions/{session_id}/events", headers=student).status_code == 403

    create_user(client, "eve@uni.edu", Role.STUDENT)
    eve = login(client, "eve@uni.edu")
    foreign = client.post(
        "/events/",
        params={"session_id": session_id, "event_type": "TAB_SWITCH", "severity": 1},
        headers=eve,
    )
    assert foreign.status_code == 403
    assert len(client.get(f"/admin/sessions/{session_id}/events", headers=admin).json()) == 3


def test_events_path_without_trailing_slash_is_served(client: TestClient) -> None:
    """The ProctorBE front end posts to `/events?…` with no slash; no redirect is needed."""
    create_user(client, "root@uni.edu", Role.ADMIN)
    admin = login(client, "root@uni.edu")
    create_user(client, "ana@uni.edu", Role.STUDENT)
    student = login(client, "ana@uni.edu")
    exam_id = client.post("/exams/", params={"title": "T"}, headers=admin).json()["id"]
    session_id = client.post(
        "/sessions/start", params={"exam_id": exam_id}, headers=student
    ).json()["session_id"]
    answer = client.post(
        "/events",
        params={"session_id": session_id, "event_type": "TAB_SWITCH", "severity": 1},
        headers=student,
        follow_redirects=False,
    )
    assert answer.status_code == 200


def test_starting_again_resumes_the_open_session(client: TestClient) -> None:
    create_user(client, "root@uni.edu", Role.ADMIN)
    admin = login(client, "root@uni.edu")
    create_user(client, "ana@uni.edu", Role.STUDENT)
    student = login(client, "ana@uni.edu")
    exam_id = client.post("/exams/", params={"title": "T"}, headers=admin).json()["id"]
    first = client.post("/sessions/start", params={"exam_id": exam_id}, headers=student).json()
    again = client.post("/sessions/start", params={"exam_id": exam_id}, headers=student).json()
    assert again["session_id"] == first["session_id"]
    client.post("/sessions/end", params={"session_id": first["session_id"]}, headers=student)
    fresh = client.post("/sessions/start", params={"exam_id": exam_id}, headers=student).json()
    assert fresh["session_id"] != first["session_id"]

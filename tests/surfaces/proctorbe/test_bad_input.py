"""Unknown ids, missing parameters and bad values: a clear 4xx, and nothing changes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.api import create_user, login
from vigil.core.identity.models import Role


@pytest.fixture
def ready(client: TestClient) -> tuple[dict[str, str], dict[str, str], int, int]:
    create_user(client, "root@uni.edu", Role.ADMIN)
    create_user(client, "ana@uni.edu", Role.STUDENT)
    admin, student = login(client, "root@uni.edu"), login(client, "ana@uni.edu")
    exam_id = client.post("/exams/", params={"title": "Chemistry"}, headers=admin).json()["id"]
    session_id = client.post(
        "/sessions/start", params={"exam_id": exam_id}, headers=student
    ).json()["session_id"]
    return admin, student, exam_id, session_id


def event_count(client: TestClient, admin: dict[str, str], session_id: int) -> int:
    return len(client.get(f"/admin/sessions/{session_id}/events", headers=admin).json())


def test_event_for_unknown_session_is_404(client: TestClient, ready: tuple) -> None:
    _admin, student, _exam, _session = ready
    answer = client.post(
        "/events/", params={"session_id": 4242, "event_type": "TAB_SWITCH"}, headers=student
    )
    assert answer.status_code == 404
    assert answer.json() == {"detail": "session 4242 does not exist"}


def test_event_after_the_end_is_409(client: TestClient, ready: tuple) -> None:
    admin, student, _exam, session_id = ready
    client.post("/sessions/end", params={"session_id": session_id}, headers=student)
    answer = client.post(
        "/events/", params={"session_id": session_id, "event_type": "TAB_SWITCH"}, headers=student
    )
    assert answer.status_code == 409
    assert "finished" in answer.json()["detail"]
    assert event_count(client, admin, session_id) == 0


def test_ending_twice_is_409_and_keeps_the_first_end(client: TestClient, ready: tuple) -> None:
    _admin, student, _exam, session_id = ready
    first = client.post("/sessions/end", params={"session_id": session_id}, headers=student)
    second = client.post("/sessions/end", params={"session_id": session_id}, headers=student)
    assert second.status_code == 409
    assert "finished" in second.json()["detail"]
    listed = client.get("/admin/sessions", headers=_admin).json()
    assert listed[0]["end_time"] == first.json()["end_time"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"event_type": "TAB_SWITCH"}, "session_id"),
        ({"session_id": "abc", "event_type": "TAB_SWITCH"}, "session_id"),
        ({"session_id": "SESSION"}, "event_type"),
        ({"session_id": "SESSION", "event_type": "TAB_SWITCH", "severity": 11}, "severity"),
        ({"session_id": "SESSION", "event_type": "TAB_SWITCH", "severity": -1}, "severity"),
        ({"session_id": "SESSION", "event_type": "TAB_SWITCH", "severity": "high"}, "severity"),
    ],
)
def test_bad_event_parameters_are_422(
    client: TestClient, ready: tuple, params: dict, field: str
) -> None:
    admin, student, _exam, session_id = ready
    params = {k: (session_id if v == "SESSION" else v) for k, v in params.items()}
    answer = client.post("/events/", params=params, headers=student)
    assert answer.status_code == 422
    assert any(field in error["loc"] for error in answer.json()["detail"])
    assert event_count(client, admin, session_id) == 0


@pytest.mark.parametrize("event_type", ["TAB SWITCH", "drop;table", "x" * 65])
def test_odd_event_types_are_refused(client: TestClient, ready: tuple, event_type: str) -> None:
    admin, student, _exam, session_id = ready
    answer = client.post(
        "/events/", params={"session_id": session_id, "event_type": event_type}, headers=student
    )
    assert answer.status_code in (400, 422)
    assert "event_type" in str(answer.json()["detail"])
    assert event_count(client, admin, session_id) == 0


def test_lowercase_event_types_count_like_uppercase(client: TestClient, ready: tuple) -> None:
    _admin, student, _exam, session_id = ready
    answer = client.post(
        "/events/", params={"session_id": session_id, "event_type": "tab_switch"}, headers=student
    )
    assert answer.json()["event_type"] == "TAB_SWITCH"
    ended = client.post("/sessions/end", params={"session_id": session_id}, headers=student)
    assert ended.json()["risk_score"] == 3


def test_unknown_exam_is_404(client: TestClient, ready: tuple) -> None:
    _admin, student, _exam, _session = ready
    answer = client.post("/sessions/start", params={"exam_id": 999}, headers=student)
    assert answer.status_code == 404
    assert answer.json() == {"detail": "exam 999 does not exist"}


def test_unknown_session_end_and_events_are_404(client: TestClient, ready: tuple) -> None:
    admin, student, _exam, _session = ready
    assert (
        client.post("/sessions/end", params={"session_id": 999}, headers=student).status_code == 404
    )
    assert client.get("/admin/sessions/999/events", headers=admin).status_code == 404


def test_students_cannot_create_exams(client: TestClient, ready: tuple) -> None:
    _admin, student, _exam, _session = ready
    answer = client.post("/exams/", params={"title": "Mine"}, headers=student)
    assert answer.status_code == 403
    assert [e["title"] for e in client.get("/exams/").json()] == ["Chemistry"]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"title": ""},
        {"title": "T", "start_time": "yesterday"},
        {"title": "T", "start_time": "2026-01-02T10:00:00", "end_time": "2026-01-02T09:00:00"},
    ],
)
def test_bad_exam_parameters_are_refused(client: TestClient, ready: tuple, params: dict) -> None:
    admin, _student, _exam, _session = ready
    answer = client.post("/exams/", params=params, headers=admin)
    assert answer.status_code in (400, 422)
    assert answer.json()["detail"]
    assert len(client.get("/exams/").json()) == 1


def test_exam_times_round_trip_as_utc(client: TestClient, ready: tuple) -> None:
    admin, _student, _exam, _session = ready
    answer = client.post(
        "/exams/",
        params={
            "title": "Timed",
            "start_time": "2026-12-01T09:00:00",
            "end_time": "2026-12-01T11:00:00+01:00",
        },
        headers=admin,
    )
    assert answer.status_code == 200
    assert answer.json()["start_time"] == "2026-12-01T09:00:00Z"
    assert answer.json()["end_time"] == "2026-12-01T10:00:00Z"

"""`POST /cv/analyze-frame`: a frame judged while the client waits, stored as evidence and
events; only the session's candidate may post."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.jobs.support import evidence_rows, face_jpeg, no_face_jpeg, run_db, two_faces_jpeg
from tests.support.api import create_user, login
from tests.support.forms import Field, multipart
from vigil.core.evidence.models import AnalysisState, EvidenceKind
from vigil.core.identity.models import Role


@pytest.fixture
def setup(client: TestClient) -> tuple[dict[str, str], int]:
    create_user(client, "teach@uni.edu", Role.TEACHER)
    teacher = login(client, "teach@uni.edu")
    exam = client.post("/exams/", params={"title": "OS"}, headers=teacher).json()
    create_user(client, "ana@uni.edu", Role.STUDENT)
    student = login(client, "ana@uni.edu")
    session = client.post("/sessions/start", params={"exam_id": exam["id"]}, headers=student)
    return student, session.json()["id"]


def post_frame(
    client: TestClient, headers: dict[str, str], session_id: int, data: bytes | None
) -> Any:
    if data is None:
        body, ctype = multipart(Field("note", "no file here"))
    else:
        body, ctype = multipart(Field("file", data, "frame.jpg", "image/jpeg"))
    return client.post(
        "/cv/analyze-frame",
        params={"session_id": session_id},
        content=body,
        headers={**headers, **ctype},
    )


@pytest.mark.parametrize(
    ("image", "detected", "faces"),
    [
        (face_jpeg, [], 1),
        (lambda: no_face_jpeg(), ["NO_FACE"], 0),
        (two_faces_jpeg, ["MULTIPLE_FACES"], 2),
    ],
)
def test_a_frame_is_judged_stored_and_logged(
    client: TestClient, setup: tuple[dict[str, str], int], image: Any, detected: list[str],
    faces: int,
) -> None:  # fmt: skip
    student, session_id = setup
    answer = post_frame(client, student, session_id, image())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["detected"] == detected
    assert [e["event_type"] for e in body["events"]] == detected
    assert body["face_count"] == faces
    assert body["analysis"] == "done"
    rows = run_db(client, lambda db: evidence_rows(db, session_id))
    assert [(r.id, r.kind, r.analysis_state) for r in rows] == [
        (body["evidence_id"], EvidenceKind.FRAME, AnalysisState.DONE)
    ]
    logged = client.get(f"/admin/sessions/{session_id}/events", headers=_admin(client))
    assert [e["event_type"] for e in logged.json()] == detected


def test_no_file_and_bad_bytes_are_events_not_errors(
    client: TestClient, setup: tuple[dict[str, str], int]
) -> None:
    student, session_id = setup
    for data, expected in [
        (None, "NO_FRAME_RECEIVED"),
        (b"", "NO_FRAME_RECEIVED"),
        (b"GIF89a not a jpeg", "INVALID_IMAGE"),
        (b"\xff\xd8\xff" + b"\x00" * 64, "INVALID_IMAGE"),  # JPEG magic, no picture
    ]:
        answer = post_frame(client, student, session_id, data)
        assert answer.status_code == 200, answer.text
        assert answer.json()["detected"] == [expected]
    bare = client.post("/cv/analyze-frame", params={"session_id": session_id}, headers=student)
    assert bare.json()["detected"] == ["NO_FRAME_RECEIVED"]
    rows = run_db(client, lambda db: evidence_rows(db, session_id))
    assert len(rows) == 1  # only the JPEG-looking bytes are kept as evidence
    assert rows[0].details is not None
    assert rows[0].details["vision"]["error"]


def test_only_the_candidate_may_post_frames(
    client: TestClient, setup: tuple[dict[str, str], int]
) -> None:
    _student, session_id = setup
    create_user(client, "eve@uni.edu", Role.STUDENT)
    eve = login(client, "eve@uni.edu")
    refused = post_frame(client, eve, session_id, face_jpeg())
    assert refused.status_code == 403
    assert post_frame(client, _admin(client), session_id, face_jpeg()).status_code == 403
    assert post_frame(client, {}, session_id, face_jpeg()).status_code == 401
    assert post_frame(client, eve, 999_999, face_jpeg()).status_code == 404
    assert run_db(client, lambda db: evidence_rows(db, session_id)) == []


def test_bad_requests_get_a_clear_4xx(
    client: TestClient, setup: tuple[dict[str, str], int], settings: Any
) -> None:
    student, session_id = setup
    wrong_type = client.post(
        "/cv/analyze-frame",
        params={"session_id": session_id},
        content=b"{}",
        headers={**student, "Content-Type": "application/json"},
    )
    assert wrong_type.status_code == 400
    assert "multipart" in wrong_type.json()["detail"]
    big = b"\xff\xd8\xff" + b"\x00" * settings.max_snapshot_bytes
    assert post_frame(client, student, session_id, big).status_code == 413
    ended = client.post("/sessions/end", params={"session_id": session_id}, headers=student)
    assert ended.status_code == 200
    late = post_frame(client, student, session_id, face_jpeg())
    assert late.status_code == 409


def _admin(client: TestClient) -> dict[str, str]:
    try:
        create_user(client, "root@uni.edu", Role.ADMIN)
    except Exception:  # created by an earlier call in this test
        pass
    return login(client, "root@uni.edu")

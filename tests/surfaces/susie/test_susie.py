"""The SUSIE contract as its browser client uses it: sessions, audio, snapshots, events."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import create_user, login
from tests.support.forms import Field, multipart
from vigil.core.identity.models import Role
from vigil.settings import Settings
from vigil.simulate.media import jpeg_snapshot, png_image, webm_opus_audio

BASE = "/susie/api/v1/monitoreo"
AUDIO = webm_opus_audio(2.0)


@pytest.fixture
def student(client: TestClient) -> dict[str, str]:
    create_user(client, "ana@uni.edu", Role.STUDENT)
    return login(client, "ana@uni.edu")


def meta(**extra: Any) -> str:
    base = {
        "correlation_id": "sess_abc",
        "exam_id": "12345",
        "student_id": "ana@uni.edu",
        "timestamp": "2026-02-19T10:00:00Z",
        "source": "frontend_client_v1",
    }
    return json.dumps({**base, **extra})


def post_audio(
    client: TestClient, headers: dict[str, str], audio: bytes = AUDIO, index: int = 1,
    meta_text: str | None = None,
) -> Any:  # fmt: skip
    body, content_type = multipart(
        Field("meta", meta_text or meta()),
        Field("payload_info", json.dumps({"chunk_index": index, "type": "AUDIO_CHUNK"})),
        Field("file", audio, "chunk.webm", "audio/webm"),
    )
    return client.post(
        f"{BASE}/evidencias/audios", content=body, headers={**headers, **content_type}
    )


def post_snapshot(
    client: TestClient,
    headers: dict[str, str],
    image: bytes,
    timestamp: str = "2026-02-19T10:00:10Z",
) -> Any:
    info = {"type": "SNAPSHOT", "trigger": "PERIODIC", "browser_focus": True}
    body, content_type = multipart(
        Field("meta", meta(timestamp=timestamp)),
        Field("payload_info", json.dumps(info)),
        Field("file", image, "snap.jpg", "image/jpeg"),
    )
    return client.post(
        f"{BASE}/evidencias/snapshots", content=body, headers={**headers, **content_type}
    )


def blob_files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "blobs" / "sessions"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_start_then_audio_is_stored_byte_for_byte(
    client: TestClient, student: dict[str, str], settings: Settings
) -> None:
    started = client.post(
        f"{BASE}/sesiones/start",
        json={"examSessionId": "sess_abc", "examId": "12345", "userId": "ana@uni.edu",
              "timestamp": "2026-02-23T18:00:00.000Z"},
        headers=student,
    )  # fmt: skip
    assert started.status_code == 200
    assert started.json()["session_status"] == "active"

    answer = post_audio(client, student)
    assert answer.status_code == 200, answer.text
    assert answer.json()["sha256"] == hashlib.sha256(AUDIO).hexdigest()
    assert answer.json()["duplicate"] is False
    assert answer.json()["session_id"] == started.json()["session_id"]
    [stored] = blob_files(settings)
    assert stored.read_bytes() == AUDIO
    assert stored.name == "chunk_1.webm"


def test_same_chunk_twice_is_stored_once(
    client: TestClient, student: dict[str, str], settings: Settings
) -> None:
    first = post_audio(client, student)
    again = post_audio(client, student)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["evidence_id"] == first.json()["evidence_id"]
    assert len(blob_files(settings)) == 1


def test_different_bytes_under_a_taken_index_is_409(
    client: TestClient, student: dict[str, str], settings: Settings
) -> None:
    post_audio(client, student)
    other = webm_opus_audio(2.0, tone_hz=880.0)
    answer = post_audio(client, student, audio=other)
    assert answer.status_code == 409
    assert answer.json()["code"] == "CONFLICT"
    assert "never overwritten" in answer.json()["message"]
    [stored] = blob_files(settings)
    assert stored.read_bytes() == AUDIO


def test_file_before_meta_is_400_naming_the_order(
    client: TestClient, student: dict[str, str], settings: Settings
) -> None:
    body, content_type = multipart(
        Field("file", AUDIO, "chunk.webm", "audio/webm"),
        Field("meta", meta()),
        Field("payload_info", json.dumps({"chunk_index": 1})),
    )
    answer = client.post(
        f"{BASE}/evidencias/audios", content=body, headers={**student, **content_type}
    )
    assert answer.status_code == 400
    assert "order" in answer.json()["message"]
    assert answer.json()["field"] == "file"
    assert blob_files(settings) == []


def test_file_between_meta_and_payload_info_is_400(
    client: TestClient, student: dict[str, str]
) -> None:
    body, content_type = multipart(
        Field("meta", meta()),
        Field("file", AUDIO, "chunk.webm", "audio/webm"),
        Field("payload_info", json.dumps({"chunk_index": 1})),
    )
    answer = client.post(
        f"{BASE}/evidencias/audios", content=body, headers={**student, **content_type}
    )
    assert answer.status_code == 400
    assert "payload_info" in answer.json()["message"]


def test_png_as_snapshot_is_400(
    client: TestClient, student: dict[str, str], settings: Settings
) -> None:
    answer = post_snapshot(client, student, png_image())
    assert answer.status_code == 400
    assert answer.json()["message"] == "file is not a JPEG image"
    assert blob_files(settings) == []


def test_snapshot_retry_is_recognised_by_its_timestamp(
    client: TestClient, student: dict[str, str], settings: Settings
) -> None:
    image = jpeg_snapshot(seed=1)
    first = post_snapshot(client, student, image)
    assert first.status_code == 200, first.text
    retry = post_snapshot(client, student, image)
    later = post_snapshot(client, student, jpeg_snapshot(seed=2), "2026-02-19T10:00:20Z")
    assert retry.json()["duplicate"] is True
    assert later.json()["duplicate"] is False
    assert len(blob_files(settings)) == 2


def test_audio_that_is_not_webm_is_400(client: TestClient, student: dict[str, str]) -> None:
    answer = post_audio(client, student, audio=b"RIFF....WAVEfmt " + bytes(100))
    assert answer.status_code == 400
    assert "WebM" in answer.json()["message"]


def test_oversize_audio_is_413(settings: Settings, tmp_path: Path) -> None:
    small = settings.model_copy(update={"max_audio_bytes": 1000})
    from vigil.app import create_app

    with TestClient(create_app(small)) as http:
        create_user(http, "ana@uni.edu", Role.STUDENT)
        answer = post_audio(http, login(http, "ana@uni.edu"))
    assert answer.status_code == 413
    assert answer.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert blob_files(small) == []


def test_a_body_naming_another_student_is_refused(
    client: TestClient, student: dict[str, str], settings: Settings
) -> None:
    create_user(client, "bob@uni.edu", Role.STUDENT)
    answer = post_audio(client, student, meta_text=meta(student_id="bob@uni.edu"))
    assert answer.status_code == 403
    assert blob_files(settings) == []


def test_another_students_session_is_refused(
    client: TestClient, student: dict[str, str], settings: Settings
) -> None:
    post_audio(client, student)
    create_user(client, "bob@uni.edu", Role.STUDENT)
    bob = login(client, "bob@uni.edu")
    answer = post_audio(client, bob, index=2, meta_text=meta(student_id=None))
    assert answer.status_code == 403
    assert len(blob_files(settings)) == 1


def test_no_token_is_401(client: TestClient) -> None:
    answer = post_audio(client, {})
    assert answer.status_code == 401
    assert answer.json()["code"] == "UNAUTHORIZED"


def test_drifted_client_spelling_is_accepted(
    client: TestClient, student: dict[str, str], settings: Settings
) -> None:
    drifted = json.dumps(
        {"sesion_id": "sess_drift", "usuario_id": "ana@uni.edu", "nombre_examen": "Algebra",
         "fragmento_indice": 4, "timestamp": "2026-02-19T10:00:00Z"}
    )  # fmt: skip
    body, content_type = multipart(
        Field("meta", drifted),
        Field("payload_info", json.dumps({"type": "AUDIO_CHUNK"})),
        Field("file", AUDIO, "a.webm", "audio/webm"),
    )
    answer = client.post(
        f"{BASE}/evidencias/audios", content=body, headers={**student, **content_type}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["chunk_index"] == 4
    assert answer.json()["examSessionId"] == "sess_drift"


@pytest.mark.parametrize(
    ("meta_text", "field"),
    [
        ("{not json", "meta"),
        (json.dumps({"exam_id": "1"}), "meta.correlation_id"),
    ],
)
def test_bad_meta_is_400_naming_the_field(
    client: TestClient, student: dict[str, str], meta_text: str, field: str
) -> None:
    answer = post_audio(client, student, meta_text=meta_text)
    assert answer.status_code == 400
    assert answer.json()["field"] == field


def browser_event(
    trigger: str, seconds: int | None = None, at: str = "2026-02-19T10:05:00Z"
) -> dict:
    info: dict[str, Any] = {"type": "BROWSER_EVENT", "trigger": trigger}
    if seconds is not None:
        info["duration_seconds"] = seconds
    return {"meta": json.loads(meta(timestamp=at)), "payload_info": info}


def test_browser_events_count_once_even_when_retried(
    client: TestClient, student: dict[str, str]
) -> None:
    first = client.post(
        f"{BASE}/evidencias/eventos", json=browser_event("TAB_SWITCH", 12), headers=student
    )
    retry = client.post(
        f"{BASE}/evidencias/eventos", json=browser_event("TAB_SWITCH", 12), headers=student
    )
    other = client.post(
        f"{BASE}/evidencias/eventos",
        json=browser_event("LOSS_FOCUS", at="2026-02-19T10:06:00Z"),
        headers=student,
    )  # fmt: skip
    assert first.status_code == 200, first.text
    assert retry.json()["event_id"] == first.json()["event_id"]
    assert other.json()["event_type"] == "LOSS_FOCUS"
    ended = client.post(
        f"{BASE}/sesiones/end", json={"examSessionId": "sess_abc", "status": "submitted"},
        headers=student,
    )  # fmt: skip
    assert ended.json()["session_status"] == "finished"
    create_user(client, "root@uni.edu", Role.ADMIN)
    admin = login(client, "root@uni.edu")
    [session] = client.get("/admin/sessions", headers=admin).json()
    assert session["risk_score"] == 4  # TAB_SWITCH 3 + LOSS_FOCUS 1
    events = client.get(f"/admin/sessions/{session['id']}/events", headers=admin).json()
    assert [e["event_type"] for e in events] == ["TAB_SWITCH", "LOSS_FOCUS"]


def test_end_by_beacon_is_accepted_and_repeatable(
    client: TestClient, student: dict[str, str]
) -> None:
    client.post(f"{BASE}/sesiones/start", json={"examSessionId": "sess_abc"}, headers=student)
    beacon = json.dumps({"examSessionId": "sess_abc", "status": "cancelled"})
    headers = {**student, "Content-Type": "text/plain;charset=UTF-8"}
    first = client.post(f"{BASE}/sesiones/end", content=beacon, headers=headers)
    again = client.post(f"{BASE}/sesiones/end", content=beacon, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json()["session_status"] == "cancelled"


def test_end_of_unknown_session_is_404(client: TestClient, student: dict[str, str]) -> None:
    answer = client.post(f"{BASE}/sesiones/end", json={"examSessionId": "nope"}, headers=student)
    assert answer.status_code == 404
    assert answer.json()["code"] == "NOT_FOUND"


def test_start_naming_another_user_is_403(client: TestClient, student: dict[str, str]) -> None:
    answer = client.post(
        f"{BASE}/sesiones/start", json={"examSessionId": "s1", "userId": "bob"}, headers=student
    )
    assert answer.status_code == 403


def test_times_without_a_zone_are_read_as_utc(client: TestClient, student: dict[str, str]) -> None:
    answer = post_audio(client, student, meta_text=meta(timestamp="2026-02-19T10:00:00"))
    assert answer.status_code == 200, answer.text
    event = browser_event("TAB_SWITCH", at="2026-02-19T10:05:00")
    assert client.post(f"{BASE}/evidencias/eventos", json=event, headers=student).status_code == 200


def test_an_exam_id_that_only_looks_numeric_links_no_exam(
    client: TestClient, student: dict[str, str]
) -> None:
    answer = client.post(
        f"{BASE}/sesiones/start", json={"examSessionId": "s9", "examId": "²"}, headers=student
    )
    assert answer.status_code == 200


def test_unknown_susie_path_answers_in_susie_shape(client: TestClient) -> None:
    answer = client.get(f"{BASE}/nothing-here")
    assert answer.status_code == 404
    assert answer.json()["code"] == "NOT_FOUND"
    assert answer.json()["status"] == "error"

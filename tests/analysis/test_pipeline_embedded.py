"""Embedded mode end to end: uploads through the real contracts, analysis on the server's
own job thread, events in the log; restart requeues; failures are recorded, not dropped."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.jobs.support import (
    evidence_rows,
    face_jpeg,
    no_face_jpeg,
    pending_count,
    post_audio,
    post_snapshot,
    run_db,
    session_events,
    speech_webm,
    two_faces_jpeg,
    wait_until_analysed,
)
from tests.support.api import create_user, login
from tests.support.forms import Field, multipart
from vigil import telemetry
from vigil.app import create_app
from vigil.core.evidence.models import AnalysisState, Evidence
from vigil.core.identity.models import Role
from vigil.settings import Settings
from vigil.simulate.media import mpegts_segment, webm_opus_audio


@pytest.fixture
def working(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"analysis_workers": 1, "analysis_retry_seconds": 0.05, "analysis_max_retries": 2}
    )


@pytest.fixture
def app_client(working: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(working)) as client:
        yield client


def student(client: TestClient) -> dict[str, str]:
    create_user(client, "ana@uni.edu", Role.STUDENT)
    return login(client, "ana@uni.edu")


def settle(client: TestClient) -> None:
    wait_until_analysed(lambda: run_db(client, pending_count))


def test_snapshots_become_spans_across_frames(app_client: TestClient) -> None:
    headers = student(app_client)
    # Sent out of order: the 20 s frame arrives last and joins the NO_FACE span.
    frames = [
        ("10:00:00", face_jpeg()),
        ("10:00:10", no_face_jpeg(1)),
        ("10:00:30", two_faces_jpeg()),
        ("10:00:40", face_jpeg()),
        ("10:00:20", no_face_jpeg(2)),
    ]
    session_id = 0
    for clock, image in frames:
        session_id = post_snapshot(app_client, headers, image, f"2026-02-19T{clock}Z")["session_id"]
    settle(app_client)

    found = run_db(app_client, lambda db: session_events(db, session_id))
    spans = [(e.type, e.occurred_at.strftime("%H:%M:%S"), e.duration_seconds) for e in found]
    assert spans == [("NO_FACE", "10:00:10", 10.0), ("MULTIPLE_FACES", "10:00:30", 0.0)]
    assert found[0].data is not None
    assert found[0].data["frames"] == 2
    rows = run_db(app_client, lambda db: evidence_rows(db, session_id))
    assert {r.analysis_state for r in rows} == {AnalysisState.DONE}
    assert [r.details["vision"]["face_count"] for r in rows] == [1, 0, 2, 1, 0]
    assert all(r.analysis_attempts == 1 and r.analyzed_at for r in rows)


def test_running_a_job_twice_stores_its_events_once(app_client: TestClient) -> None:
    headers = student(app_client)
    session_id = post_snapshot(app_client, headers, no_face_jpeg(), "2026-02-19T10:00:00Z")[
        "session_id"
    ]
    post_snapshot(app_client, headers, no_face_jpeg(3), "2026-02-19T10:00:10Z")
    settle(app_client)
    before = run_db(app_client, lambda db: session_events(db, session_id))

    async def reopen(db: object) -> None:
        await db.execute(  # type: ignore[attr-defined]
            update(Evidence).values(analysis_state=AnalysisState.PENDING, analysis_attempts=0)
        )
        await db.commit()  # type: ignore[attr-defined]

    run_db(app_client, reopen)
    runtime = app_client.app.state.runtime  # type: ignore[attr-defined]
    from vigil.analysis.actors import requeue_pending

    assert app_client.portal is not None
    assert app_client.portal.call(requeue_pending, runtime.sessionmaker, runtime.jobs) == 2
    settle(app_client)
    after = run_db(app_client, lambda db: session_events(db, session_id))
    assert [(e.id, e.type, e.duration_seconds) for e in after] == [
        (e.id, e.type, e.duration_seconds) for e in before
    ]
    assert [e.type for e in after] == ["NO_FACE"]


def test_speech_becomes_events_with_spans_and_ratio(app_client: TestClient) -> None:
    headers = student(app_client)
    session_id = post_audio(app_client, headers, speech_webm(), 1)["session_id"]
    post_audio(app_client, headers, webm_opus_audio(3.0, tone_hz=None), 2)  # silence
    settle(app_client)
    found = run_db(app_client, lambda db: session_events(db, session_id))
    assert found, "the spoken sentence was not found"
    assert {e.type for e in found} == {"SPEECH_DETECTED"}
    assert all(e.duration_seconds and e.duration_seconds > 0.3 for e in found)
    assert all(0 < float(e.data["speech_ratio"]) < 1 for e in found)  # type: ignore[index]
    rows = run_db(app_client, lambda db: evidence_rows(db, session_id))
    assert rows[1].details["speech"]["spans"] == []
    assert rows[1].analysis_state is AnalysisState.DONE


def test_telemetry_and_video_become_events(app_client: TestClient) -> None:
    create_user(app_client, "teach@uni.edu", Role.TEACHER)
    teacher = login(app_client, "teach@uni.edu")
    created = app_client.post("/api/v1/sessions", json={"title": "OS"}, headers=teacher).json()
    grant = app_client.post(
        "/api/v1/agent/auth",
        json={"session_key": created["session_key"], "agent_version": "1", "os": "linux",
              "hostname": "pc"},
    ).json()  # fmt: skip
    session_id, key = grant["session_id"], base64.b64decode(grant["encryption_key"])
    agent = {"Authorization": f"Bearer {grant['token']}"}
    t = 1711360200000
    blocks = [
        {"type": "host_info", "timestamp": t, "kind": "full", "hostname": "pc",
         "displays": [{"id": 0}, {"id": 1}], "vm_indicators": ["vmware_mac_prefix"]},
        {"type": "event", "timestamp": t + 1000, "event": "app_switch", "from": "exam",
         "to": "chrome"},
        {"type": "event", "timestamp": t + 2000, "event": "keyboard", "keys": 12},
        {"type": "event", "timestamp": t + 3000, "event": "clipboard", "action": "paste",
         "length": 120},
        {"type": "event", "timestamp": t + 4000, "event": "device_change", "device": "usb",
         "action": "added"},
        {"type": "host_info", "timestamp": t + 5000, "kind": "heartbeat", "displays": 2},
    ]  # fmt: skip

    def upload(index: int, data: bytes, stream: str | None = None) -> None:
        fields = [Field("session_id", str(session_id)), Field("chunk_idx", str(index))]
        if stream:
            fields.append(Field("stream_type", stream))
        body, ctype = multipart(*fields, Field("file", data, "c.bin", "application/octet-stream"))
        answer = app_client.post("/api/v1/upload", content=body, headers={**agent, **ctype})
        assert answer.status_code in (200, 201), answer.text

    upload(0, telemetry.encode_chunk(key, session_id, 0, blocks))
    upload(1, telemetry.encode_chunk(key, session_id, 1, blocks[:1]))  # the same machine facts
    upload(2, mpegts_segment(1.0), "webcam")
    upload(3, mpegts_segment(1.0), "screen")
    settle(app_client)

    found = run_db(app_client, lambda db: session_events(db, session_id))
    scored = sorted(e.type for e in found if e.source in ("telemetry", "vision"))
    assert scored == sorted(
        ["APP_SWITCH", "CLIPBOARD", "DEVICE_CHANGE", "SECOND_DISPLAY", "VM_DETECTED", "NO_FACE"]
    )
    # The agent's raw block stays in the log (severity 0); the finding scores.
    raw, clipboard = (e for e in found if e.type == "CLIPBOARD")
    assert (raw.source, raw.severity, clipboard.source, clipboard.severity) == (
        "agent",
        0,
        "telemetry",
        1,
    )
    assert clipboard.data == {"action": "paste", "length": 120, "evidence_id": 1}
    rows = run_db(app_client, lambda db: evidence_rows(db, session_id))
    assert {r.analysis_state for r in rows} == {AnalysisState.DONE}


def test_a_server_without_job_threads_keeps_no_jobs(settings: Settings) -> None:
    with TestClient(create_app(settings)) as idle:  # analysis_workers=0
        headers = student(idle)
        for second in range(3):
            post_snapshot(idle, headers, no_face_jpeg(), f"2026-02-19T10:00:0{second}Z")
        assert idle.app.state.runtime.jobs.backlog == 0  # type: ignore[attr-defined]
        assert run_db(idle, pending_count) == 3  # the work itself waits in the database


def test_a_restart_sends_pending_work_again(settings: Settings, working: Settings) -> None:
    with TestClient(create_app(settings)) as idle:  # analysis_workers=0: nothing runs
        headers = student(idle)
        session_id = post_snapshot(idle, headers, no_face_jpeg(), "2026-02-19T10:00:00Z")[
            "session_id"
        ]
        assert run_db(idle, pending_count) == 1
    with TestClient(create_app(working)) as restarted:
        settle(restarted)
        found = run_db(restarted, lambda db: session_events(db, session_id))
        assert [e.type for e in found] == ["NO_FACE"]


def test_failures_are_retried_then_recorded(settings: Settings, working: Settings) -> None:
    with TestClient(create_app(settings)) as idle:
        headers = student(idle)
        corrupt = post_snapshot(idle, headers, b"\xff\xd8\xff" + b"x" * 100, "2026-02-19T10:00:00Z")
        lost = post_snapshot(idle, headers, face_jpeg(), "2026-02-19T10:00:10Z")
        blob = next(Path(working.data_dir, "blobs", "sessions").rglob(f"chunk_{_ms('10')}.jpg"))
        blob.unlink()  # a blob store that fails to read: transient as far as the job knows
    with TestClient(create_app(working)) as restarted:
        settle(restarted)
        rows = {r.id: r for r in run_db(restarted, lambda db: evidence_rows(db, 1))}
    undecodable, unreadable = rows[corrupt["evidence_id"]], rows[lost["evidence_id"]]
    assert undecodable.analysis_state is AnalysisState.FAILED
    assert undecodable.analysis_attempts == 1  # bad bytes are not retried
    assert "cannot be analysed" in (undecodable.analysis_error or "")
    assert unreadable.analysis_state is AnalysisState.FAILED
    assert unreadable.analysis_attempts == 3  # the first run and two retries
    assert unreadable.analysis_error


def _ms(seconds: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(f"2026-02-19T10:00:{seconds}+00:00").timestamp() * 1000)


def test_a_turned_head_over_time_is_one_looking_away_span(working: Settings) -> None:
    from tests.support import analysis_assets as assets

    # A single photo turns only so far (see tests/analysis/test_vision.py): a lower threshold.
    strict = working.model_copy(update={"looking_away_yaw_degrees": 10})
    turned = assets.jpeg(assets.turned_astronaut(30, 2.0))
    with TestClient(create_app(strict)) as client:
        headers = student(client)
        session_id = 0
        for clock, image in [
            ("10:00:00", face_jpeg()),
            ("10:00:05", turned),
            ("10:00:10", turned),
            ("10:00:15", turned),
            ("10:00:20", face_jpeg()),
        ]:
            at = f"2026-02-19T{clock}Z"
            session_id = post_snapshot(client, headers, image, at)["session_id"]
        settle(client)
        found = run_db(client, lambda db: session_events(db, session_id))
    assert [(e.type, e.duration_seconds) for e in found] == [("LOOKING_AWAY", 10.0)]
    assert found[0].data is not None
    assert found[0].data["frames"] == 3

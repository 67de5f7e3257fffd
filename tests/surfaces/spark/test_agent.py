"""SparkProctoring's agent side: a teacher creates a session, an agent joins and uploads."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import create_user, login
from tests.support.forms import Field, multipart
from vigil import telemetry
from vigil.app import create_app
from vigil.core.identity.models import Role
from vigil.settings import Settings
from vigil.simulate.media import jpeg_snapshot, mpegts_segment

SEGMENT = mpegts_segment(1.0)
EVENTS = [
    {"type": "event", "timestamp": 1711360200000, "event": "app_switch", "to": "chrome.exe"},
    {"type": "host_info", "timestamp": 1711360200500, "kind": "heartbeat", "displays": 1},
]


class Agent:
    def __init__(self, client: TestClient, grant: dict[str, Any]) -> None:
        self.client = client
        self.session_id: int = grant["session_id"]
        self.key = base64.b64decode(grant["encryption_key"])
        self.headers = {"Authorization": f"Bearer {grant['token']}"}

    def upload(self, chunk_idx: int, data: bytes, stream_type: str | None = None,
               session_id: int | None = None, file_first: bool = False) -> Any:  # fmt: skip
        fields = [
            Field("session_id", str(self.session_id if session_id is None else session_id)),
            Field("chunk_idx", str(chunk_idx)),
        ]
        if stream_type is not None:
            fields.append(Field("stream_type", stream_type))
        file = Field("file", data, "chunk.bin", "application/octet-stream")
        body, content_type = multipart(*([file, *fields] if file_first else [*fields, file]))
        return self.client.post(
            "/api/v1/upload", content=body, headers={**self.headers, **content_type}
        )

    def telemetry(self, chunk_idx: int, session_id: int | None = None) -> bytes:
        target = self.session_id if session_id is None else session_id
        return telemetry.encode_chunk(self.key, target, chunk_idx, EVENTS)


@pytest.fixture
def teacher(client: TestClient) -> dict[str, str]:
    create_user(client, "teach@uni.edu", Role.TEACHER)
    return login(client, "teach@uni.edu")


def create_session(client: TestClient, headers: dict[str, str], title: str = "OS exam") -> Any:
    return client.post("/api/v1/sessions", json={"title": title}, headers=headers)


def join(client: TestClient, session_key: str) -> Any:
    return client.post(
        "/api/v1/agent/auth",
        json={"session_key": session_key, "agent_version": "1.4.2", "os": "linux",
              "hostname": "lab-pc-07"},
    )  # fmt: skip


@pytest.fixture
def agent(client: TestClient, teacher: dict[str, str]) -> Agent:
    session = create_session(client, teacher).json()
    return Agent(client, join(client, session["session_key"]).json())


def blobs(settings: Settings) -> list[Path]:
    root = settings.data_dir / "blobs" / "sessions"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_teacher_creates_a_pending_session(client: TestClient, teacher: dict[str, str]) -> None:
    answer = create_session(client, teacher, "Экзамен по ОС")
    assert answer.status_code == 201
    body = answer.json()
    assert body["status"] == "pending"
    assert body["title"] == "Экзамен по ОС"
    assert len(body["session_key"]) >= 24
    assert body["created_at"]


def test_students_and_strangers_cannot_create_sessions(client: TestClient) -> None:
    create_user(client, "ana@uni.edu", Role.STUDENT)
    refused = create_session(client, login(client, "ana@uni.edu"))
    assert refused.status_code == 403
    assert refused.json()["code"] == "FORBIDDEN"
    anonymous = create_session(client, {})
    assert anonymous.status_code == 401
    assert anonymous.json() == {"code": "UNAUTHORIZED", "error": anonymous.json()["error"]}


def test_forward_auth_teacher_from_trusted_proxy(client: TestClient) -> None:
    create_user(client, "teach@uni.edu", Role.TEACHER)
    proxy = TestClient(client.app, client=("10.9.8.7", 40000))
    proxy.portal = client.portal  # same event loop as the app's database connections
    answer = proxy.post(
        "/api/v1/sessions", json={"title": "x"}, headers={"Remote-User": "teach@uni.edu"}
    )
    assert answer.status_code == 201


def test_agent_joins_with_the_session_key(client: TestClient, teacher: dict[str, str]) -> None:
    session = create_session(client, teacher).json()
    grant = join(client, session["session_key"])
    assert grant.status_code == 200
    body = grant.json()
    assert body["session_id"] == session["id"]
    assert len(base64.b64decode(body["encryption_key"])) == 32
    again = join(client, session["session_key"]).json()
    assert again["encryption_key"] == body["encryption_key"]
    assert join(client, "not-a-key").status_code == 401


def test_video_segment_is_stored_and_idempotent(
    client: TestClient, agent: Agent, settings: Settings
) -> None:
    first = agent.upload(0, SEGMENT, "webcam")
    assert first.status_code == 200, first.text
    assert first.json()["kind"] == "video"
    assert first.json()["stream_type"] == "webcam"
    assert first.json()["sha256"] == hashlib.sha256(SEGMENT).hexdigest()
    again = agent.upload(0, SEGMENT, "webcam")
    assert again.json()["duplicate"] is True
    [stored] = blobs(settings)
    assert stored.read_bytes() == SEGMENT
    assert stored.relative_to(settings.data_dir / "blobs").as_posix() == (
        f"sessions/{agent.session_id}/video/webcam/chunk_0.ts"
    )


def test_conflicting_segment_is_409(client: TestClient, agent: Agent, settings: Settings) -> None:
    agent.upload(3, SEGMENT)
    answer = agent.upload(3, mpegts_segment(1.0, seed=9))
    assert answer.status_code == 409
    assert answer.json()["code"] == "CONFLICT"
    assert [b.read_bytes() for b in blobs(settings)] == [SEGMENT]


def test_stream_type_defaults_to_screen(client: TestClient, agent: Agent) -> None:
    assert agent.upload(1, SEGMENT).json()["stream_type"] == "screen"


def test_fields_after_the_file_are_accepted(client: TestClient, agent: Agent) -> None:
    answer = agent.upload(2, SEGMENT, "screen", file_first=True)
    assert answer.status_code == 200, answer.text
    assert answer.json()["chunk_idx"] == 2


def test_telemetry_chunk_is_verified_and_stored(
    client: TestClient, agent: Agent, settings: Settings
) -> None:
    chunk = agent.telemetry(5)
    answer = agent.upload(5, chunk)
    assert answer.status_code == 200, answer.text
    assert answer.json()["kind"] == "telemetry"
    [stored] = blobs(settings)
    assert telemetry.decode_chunk(agent.key, agent.session_id, 5, stored.read_bytes()) == EVENTS


def test_replayed_telemetry_chunk_is_400_and_not_stored(
    client: TestClient, agent: Agent, settings: Settings
) -> None:
    chunk = agent.telemetry(5)
    answer = agent.upload(6, chunk)
    assert answer.status_code == 400
    assert "telemetry chunk rejected" in answer.json()["error"]
    assert blobs(settings) == []


def test_telemetry_from_another_session_is_400(
    client: TestClient, agent: Agent, teacher: dict[str, str], settings: Settings
) -> None:
    other = Agent(
        client, join(client, create_session(client, teacher).json()["session_key"]).json()
    )
    answer = agent.upload(1, other.telemetry(1))
    assert answer.status_code == 400
    assert blobs(settings) == []


def test_a_token_for_another_session_is_403(
    client: TestClient, agent: Agent, teacher: dict[str, str], settings: Settings
) -> None:
    other = create_session(client, teacher).json()
    answer = agent.upload(0, SEGMENT, session_id=other["id"])
    assert answer.status_code == 403
    assert answer.json()["code"] == "FORBIDDEN"
    assert blobs(settings) == []


@pytest.mark.parametrize("data", [jpeg_snapshot(), b"hello world" * 50, b""])
def test_neither_ts_nor_telemetry_is_400(
    client: TestClient, agent: Agent, settings: Settings, data: bytes
) -> None:
    answer = agent.upload(0, data)
    assert answer.status_code == 400
    assert "neither" in answer.json()["error"]
    assert blobs(settings) == []


def test_truncated_ts_is_400(client: TestClient, agent: Agent, settings: Settings) -> None:
    answer = agent.upload(0, SEGMENT[:-100])
    assert answer.status_code == 400
    assert "188" in answer.json()["error"]
    assert blobs(settings) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"chunk_idx": "1"}, "session_id is required"),
        ({"session_id": "SID", "chunk_idx": "x"}, "chunk_idx must be an integer"),
        ({"session_id": "SID", "chunk_idx": "-1"}, "chunk_idx must be between"),
        ({"session_id": "SID", "chunk_idx": "1", "stream_type": "desk"}, "screen or webcam"),
    ],
)
def test_bad_fields_are_400(
    client: TestClient, agent: Agent, fields: dict[str, str], message: str
) -> None:
    parts = [Field(k, str(agent.session_id) if v == "SID" else v) for k, v in fields.items()]
    body, content_type = multipart(*parts, Field("file", SEGMENT, "a.ts"))
    answer = client.post("/api/v1/upload", content=body, headers={**agent.headers, **content_type})
    assert answer.status_code == 400
    assert message in answer.json()["error"]


def test_upload_without_agent_token_is_401(client: TestClient, agent: Agent) -> None:
    agent.headers = {}
    assert agent.upload(0, SEGMENT).status_code == 401


def test_a_user_token_is_not_an_agent_token(
    client: TestClient, agent: Agent, teacher: dict[str, str]
) -> None:
    agent.headers = teacher
    answer = agent.upload(0, SEGMENT)
    assert answer.status_code == 401
    assert "not valid here" in answer.json()["error"]


def test_oversize_upload_is_413(settings: Settings) -> None:
    small = settings.model_copy(update={"max_video_bytes": 10_000})
    with TestClient(create_app(small)) as http:
        create_user(http, "teach@uni.edu", Role.TEACHER)
        session = create_session(http, login(http, "teach@uni.edu")).json()
        agent = Agent(http, join(http, session["session_key"]).json())
        big = mpegts_segment(4.0)
        assert len(big) > 10_000
        answer = agent.upload(0, big)
        streamed = agent.upload(1, big, file_first=True)
    assert answer.status_code == 413
    assert answer.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert streamed.status_code == 413
    assert blobs(small) == []


def test_agent_ends_the_session(client: TestClient, agent: Agent, teacher: dict[str, str]) -> None:
    ended = client.post("/api/v1/agent/end", headers=agent.headers)
    assert ended.status_code == 200
    assert ended.json()["status"] == "finished"
    again = client.post("/api/v1/agent/end", headers=agent.headers)
    assert again.json()["ended_at"] == ended.json()["ended_at"]
    session_key_join = client.post("/api/v1/agent/auth", json={"session_key": "x"})
    assert session_key_join.status_code == 401


def test_teacher_ends_a_session(client: TestClient, teacher: dict[str, str]) -> None:
    session = create_session(client, teacher).json()
    join(client, session["session_key"])
    ended = client.post(f"/api/v1/sessions/{session['id']}/end", headers=teacher)
    assert ended.status_code == 200
    assert ended.json()["status"] == "finished"
    assert join(client, session["session_key"]).status_code == 409
    create_user(client, "t2@uni.edu", Role.TEACHER)
    other = client.post(
        f"/api/v1/sessions/{session['id']}/end", headers=login(client, "t2@uni.edu")
    )
    assert other.status_code == 403


def test_one_core_lists_sessions_from_every_client(
    client: TestClient, agent: Agent, teacher: dict[str, str]
) -> None:
    """A Spark session (no candidate yet) and a SUSIE one both show in the ProctorBE list."""
    create_user(client, "ana@uni.edu", Role.STUDENT)
    client.post(
        "/susie/api/v1/monitoreo/sesiones/start",
        json={"examSessionId": "tab-1"},
        headers=login(client, "ana@uni.edu"),
    )
    client.post("/api/v1/sessions", json={"title": "not joined"}, headers=teacher)
    create_user(client, "root@uni.edu", Role.ADMIN)
    listed = client.get("/admin/sessions", headers=login(client, "root@uni.edu"))
    assert listed.status_code == 200
    assert len(listed.json()) == 3
    assert {s["user_id"] is None for s in listed.json()} == {True, False}


def test_stream_type_after_the_file_still_counts(
    client: TestClient, agent: Agent, settings: Settings
) -> None:
    body, content_type = multipart(
        Field("session_id", str(agent.session_id)),
        Field("chunk_idx", "4"),
        Field("file", SEGMENT, "4.ts"),
        Field("stream_type", "webcam"),
    )
    answer = client.post("/api/v1/upload", content=body, headers={**agent.headers, **content_type})
    assert answer.status_code == 200, answer.text
    assert answer.json()["stream_type"] == "webcam"
    assert [p.parent.name for p in blobs(settings)] == ["webcam"]


def test_unknown_api_path_answers_in_the_swagger_error_shape(client: TestClient) -> None:
    answer = client.get("/api/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.json() == {"code": "NOT_FOUND", "error": "Not Found"}

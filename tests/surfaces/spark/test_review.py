"""SparkProctoring's reviewer side, checked against the Swagger file's own schemas."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import create_user, login
from tests.support.swagger import assert_array_of, assert_matches
from tests.surfaces.spark.test_agent import Agent, create_session, join
from vigil.core.identity.models import Role
from vigil.simulate.media import mpegts_segment

T0 = 1_711_360_200_000  # unix ms
SEGMENTS = {i: mpegts_segment(4.0, start_seconds=4.0 * i, seed=i) for i in (0, 1, 3)}
FULL = {"kind": "full", "hostname": "lab-7", "displays": [{"id": 1, "primary": True}],
        "processes": [{"name": "exam.exe", "pid": 10}],
        "network_interfaces": [{"name": "eth0", "ipv4": "10.0.0.7"}]}  # fmt: skip


def telemetry_blocks(chunk: int) -> list[dict[str, Any]]:
    at = T0 + chunk * 4000
    blocks: list[dict[str, Any]] = [
        {"type": "event", "timestamp": at + 100, "event": "keyboard", "keys": chunk},
        {"type": "event", "timestamp": at + 2000, "event": "app_switch", "to": f"app{chunk}"},
        {"type": "host_info", "timestamp": at + 3000, "kind": "heartbeat",
         "displays": 1 + chunk // 2},
    ]  # fmt: skip
    if chunk == 0:
        blocks.append({"type": "host_info", "timestamp": at + 50, **FULL})
    if chunk == 2:
        blocks.append({"type": "host_info", "timestamp": at + 60, **FULL,
                       "processes": [{"name": "exam.exe"}, {"name": "AnyDesk.exe"}],
                       "vm_indicators": ["VBOX_HARDDISK"]})  # fmt: skip
    return blocks


@pytest.fixture
def teacher(client: TestClient) -> dict[str, str]:
    create_user(client, "teach@uni.edu", Role.TEACHER)
    return login(client, "teach@uni.edu")


@pytest.fixture
def recorded(client: TestClient, teacher: dict[str, str]) -> Agent:
    """A session with screen segments 0, 1 and 3 (2 is missing) and 3 telemetry chunks."""
    session = create_session(client, teacher).json()
    agent = Agent(client, join(client, session["session_key"]).json())
    for index, segment in SEGMENTS.items():
        assert agent.upload(index, segment, "screen").status_code == 200
    from vigil import telemetry

    for chunk in range(3):
        data = telemetry.encode_chunk(agent.key, agent.session_id, chunk, telemetry_blocks(chunk))
        assert agent.upload(chunk, data).status_code == 200
    return agent


def get(client: TestClient, url: str, headers: dict[str, str], **params: Any) -> Any:
    return client.get(url, headers=headers, params=params)


def test_me(client: TestClient, teacher: dict[str, str]) -> None:
    answer = get(client, "/api/v1/me", teacher)
    assert answer.status_code == 200
    assert_matches("handler.MeResponse", answer.json())
    assert answer.json()["role"] == "teacher"
    assert answer.json()["email"] == "teach@uni.edu"
    assert get(client, "/api/v1/me", {}).status_code == 401


def test_forward_auth_provisions_a_user_with_a_group_role(
    client: TestClient, settings: Any
) -> None:
    from vigil.app import create_app

    autocreate = settings.model_copy(
        update={"forward_auth_autocreate": True,
                "forward_auth_group_roles": {"proctors": "teacher", "it": "admin"}}
    )  # fmt: skip
    with TestClient(create_app(autocreate), client=("10.9.8.7", 4000)) as proxy:
        headers = {"Remote-User": "jdoe", "Remote-Groups": "staff,proctors",
                   "Remote-Email": "jdoe@uni.edu"}  # fmt: skip
        first = proxy.get("/api/v1/me", headers=headers)
        again = proxy.get("/api/v1/me", headers=headers)
        student = proxy.get("/api/v1/me", headers={"Remote-User": "kim"})
    assert first.status_code == 200
    assert first.json()["role"] == "teacher"
    assert again.json()["id"] == first.json()["id"]
    assert student.json()["role"] == "student"


def test_unknown_forwarded_user_without_autocreate_is_401(client: TestClient) -> None:
    proxy = TestClient(client.app, client=("10.9.8.7", 4000))
    proxy.portal = client.portal
    assert proxy.get("/api/v1/me", headers={"Remote-User": "ghost"}).status_code == 401


def test_session_list_and_detail(
    client: TestClient, recorded: Agent, teacher: dict[str, str]
) -> None:
    listed = get(client, "/api/v1/sessions", teacher)
    assert listed.status_code == 200
    assert_matches("handler.SessionListResponse", listed.json())
    body = listed.json()
    assert (body["total"], body["limit"], body["offset"]) == (1, 50, 0)
    [summary] = body["sessions"]
    assert summary["id"] == str(recorded.session_id)
    assert summary["chunks_total"] == 6
    assert summary["events_total"] == 11  # 6 events + 5 host_info blocks
    assert summary["status"] == "active"
    assert "ended_at" not in summary

    detail = get(client, f"/api/v1/sessions/{recorded.session_id}", teacher)
    assert_matches("handler.SessionDetailResponse", detail.json())
    [screen] = detail.json()["streams"]
    assert screen["stream_type"] == "screen"
    assert screen["chunk_count"] == 3
    assert abs(screen["duration_ms"] - 12_000) <= 300
    assert screen["playlist_url"] == f"/api/v1/sessions/{recorded.session_id}/playlist/screen.m3u8"


@pytest.mark.parametrize(("limit", "expected"), [(None, 50), (0, 50), (5, 5), (500, 100)])
def test_list_limit_defaults_and_clamps(
    client: TestClient, teacher: dict[str, str], limit: int | None, expected: int
) -> None:
    params = {} if limit is None else {"limit": limit}
    assert get(client, "/api/v1/sessions", teacher, **params).json()["limit"] == expected


def test_playlist_marks_gaps_and_ends_when_the_session_ends(
    client: TestClient, recorded: Agent, teacher: dict[str, str]
) -> None:
    url = f"/api/v1/sessions/{recorded.session_id}/playlist/screen.m3u8"
    live = get(client, url, teacher)
    assert live.status_code == 200
    assert live.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    lines = live.text.splitlines()
    assert lines[0] == "#EXTM3U"
    assert "#EXT-X-TARGETDURATION:4" in lines
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in lines
    assert "#EXT-X-ENDLIST" not in lines
    durations = [float(line[8:-1]) for line in lines if line.startswith("#EXTINF:")]
    assert len(durations) == 3
    assert all(abs(d - 4.0) < 0.15 for d in durations)
    uris = [line for line in lines if not line.startswith("#")]
    assert uris == ["../segment/screen/0.ts", "../segment/screen/1.ts", "../segment/screen/3.ts"]
    assert lines.index("#EXT-X-DISCONTINUITY") == lines.index(uris[2]) - 2

    client.post("/api/v1/agent/end", headers=recorded.headers)
    ended = get(client, url, teacher).text.splitlines()
    assert ended[-1] == "#EXT-X-ENDLIST"
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in ended


def test_segment_bytes_ranges_and_etag(
    client: TestClient, recorded: Agent, teacher: dict[str, str]
) -> None:
    url = f"/api/v1/sessions/{recorded.session_id}/segment/screen/1.ts"
    whole = get(client, url, teacher)
    assert whole.status_code == 200
    assert whole.content == SEGMENTS[1]
    assert whole.headers["content-type"] == "video/mp2t"
    assert "immutable" in whole.headers["cache-control"]
    part = client.get(url, headers={**teacher, "Range": "bytes=188-375"})
    assert part.status_code == 206
    assert part.content == SEGMENTS[1][188:376]
    assert part.headers["content-range"] == f"bytes 188-375/{len(SEGMENTS[1])}"
    tail = client.get(url, headers={**teacher, "Range": "bytes=-100"})
    assert tail.content == SEGMENTS[1][-100:]
    beyond = client.get(url, headers={**teacher, "Range": f"bytes={len(SEGMENTS[1])}-"})
    assert beyond.status_code == 416
    cached = client.get(url, headers={**teacher, "If-None-Match": whole.headers["etag"]})
    assert cached.status_code == 304
    assert cached.content == b""


@pytest.mark.parametrize(
    ("path", "status"),
    [("segment/screen/2.ts", 404), ("segment/desktop/0.ts", 400), ("playlist/desktop.m3u8", 400),
     ("segment/screen/x.ts", 400)],
)  # fmt: skip
def test_bad_segment_requests(
    client: TestClient, recorded: Agent, teacher: dict[str, str], path: str, status: int
) -> None:
    answer = get(client, f"/api/v1/sessions/{recorded.session_id}/{path}", teacher)
    assert answer.status_code == status
    assert_matches("handler.ErrorResponse", answer.json())


def test_parsed_events_filtered_by_time(
    client: TestClient, recorded: Agent, teacher: dict[str, str]
) -> None:
    url = f"/api/v1/sessions/{recorded.session_id}/events"
    everything = get(client, url, teacher).json()
    assert_matches("handler.ParsedEventsResponse", everything)
    assert everything["count"] == 6
    assert [e["timestamp"] for e in everything["events"]] == sorted(
        e["timestamp"] for e in everything["events"]
    )
    first = everything["events"][0]
    assert first["event_type"] == "keyboard"
    assert json.loads(bytes(first["data"])) == {"event": "keyboard", "keys": 0}
    window = get(client, url, teacher, **{"from": T0 + 2000, "to": T0 + 4100}).json()
    assert [(e["event_type"], e["timestamp"]) for e in window["events"]] == [
        ("app_switch", T0 + 2000),
        ("keyboard", T0 + 4100),
    ]
    assert get(client, url, teacher, **{"from": 5, "to": 1}).status_code == 400


def test_telemetry_lists_every_event_of_the_session(
    client: TestClient, recorded: Agent, teacher: dict[str, str]
) -> None:
    answer = get(client, f"/api/v1/sessions/{recorded.session_id}/telemetry", teacher)
    assert answer.status_code == 200
    assert_array_of("handler.TelemetryEvent", answer.json())
    kinds = [e["event_type"] for e in answer.json()]
    assert kinds.count("host_info") == 5
    assert kinds.count("app_switch") == 3


def test_fingerprint(client: TestClient, recorded: Agent, teacher: dict[str, str]) -> None:
    base = f"/api/v1/sessions/{recorded.session_id}/fingerprint"
    full = get(client, f"{base}/full", teacher).json()
    assert full["timestamp"] == T0 + 8060
    assert {p["name"] for p in full["processes"]} == {"exam.exe", "AnyDesk.exe"}
    beats = get(client, f"{base}/heartbeats", teacher, **{"from": T0 + 4000}).json()
    assert [b["timestamp"] for b in beats] == [T0 + 7000, T0 + 11000]
    assert len(get(client, f"{base}/heartbeats", teacher, limit=1).json()) == 1
    summary = get(client, f"{base}/summary", teacher).json()
    assert summary["virtual_machine_detected"] is True
    assert summary["remote_desktop_detected"] is False
    kinds = {c["kind"]: c for c in summary["changes"]}
    assert kinds["display_added"]["first_seen"] == T0 + 11000
    assert kinds["process_started"]["process"] == "AnyDesk.exe"
    assert kinds["process_started"]["notable"] is True
    assert kinds["virtual_machine"]["indicator"] == "VBOX_HARDDISK"


def test_no_full_fingerprint_is_404(client: TestClient, teacher: dict[str, str]) -> None:
    session = create_session(client, teacher).json()
    answer = get(client, f"/api/v1/sessions/{session['id']}/fingerprint/full", teacher)
    assert answer.status_code == 404
    assert_matches("handler.ErrorResponse", answer.json())


# --- the authorization matrix, on a session a student sits for a teacher's exam ---------

ACTORS = ["student", "other_student", "teacher", "other_teacher", "admin", "nobody", "untrusted"]
EXPECTED = {"student": 200, "other_student": 403, "teacher": 200, "other_teacher": 403,
            "admin": 200, "nobody": 401, "untrusted": 401}  # fmt: skip
READ_PATHS = ["", "/events", "/telemetry", "/playlist/screen.m3u8", "/fingerprint/heartbeats",
              "/fingerprint/summary", "/evidence"]  # fmt: skip


@pytest.fixture
def matrix(client: TestClient) -> tuple[int, dict[str, dict[str, str]]]:
    for name, role in [("s1@uni.edu", Role.STUDENT), ("s2@uni.edu", Role.STUDENT),
                       ("t1@uni.edu", Role.TEACHER), ("t2@uni.edu", Role.TEACHER),
                       ("a@uni.edu", Role.ADMIN)]:  # fmt: skip
        create_user(client, name, role)
    headers = {
        "student": login(client, "s1@uni.edu"), "other_student": login(client, "s2@uni.edu"),
        "teacher": login(client, "t1@uni.edu"), "other_teacher": login(client, "t2@uni.edu"),
        "admin": login(client, "a@uni.edu"), "nobody": {},
        "untrusted": {"Remote-User": "a@uni.edu"},
    }  # fmt: skip
    exam = client.post("/exams/", params={"title": "E"}, headers=headers["teacher"]).json()
    session = client.post(
        "/sessions/start", params={"exam_id": exam["id"]}, headers=headers["student"]
    ).json()
    return session["session_id"], headers


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("path", READ_PATHS)
def test_read_matrix(
    client: TestClient, matrix: tuple[int, dict[str, dict[str, str]]], actor: str, path: str
) -> None:
    session_id, headers = matrix
    answer = get(client, f"/api/v1/sessions/{session_id}{path}", headers[actor])
    assert answer.status_code == EXPECTED[actor]
    if answer.status_code != 200:
        assert_matches("handler.ErrorResponse", answer.json())


@pytest.mark.parametrize("actor", ACTORS)
def test_list_matrix_students_see_their_own(
    client: TestClient, matrix: tuple[int, dict[str, dict[str, str]]], actor: str
) -> None:
    session_id, headers = matrix
    answer = get(client, "/api/v1/sessions", headers[actor])
    if EXPECTED[actor] == 401:
        assert answer.status_code == 401
        return
    visible = [s["id"] for s in answer.json()["sessions"]]
    assert visible == ([str(session_id)] if EXPECTED[actor] == 200 else [])


def test_time_filters_beyond_year_9999_are_400(
    client: TestClient, recorded: Agent, teacher: dict[str, str]
) -> None:
    base = f"/api/v1/sessions/{recorded.session_id}"
    for path in ("/events", "/fingerprint/heartbeats"):
        answer = get(client, base + path, teacher, **{"from": 0, "to": 2**53})
        assert answer.status_code == 400
        assert_matches("handler.ErrorResponse", answer.json())

"""Per-exam risk policies over HTTP (`/exams/{id}/risk-policy`, an extension) and through
the exam file import; a change rescores the exam's sessions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.surfaces.attempts.helpers import exam_file, run_import, write_exam_dir
from tests.surfaces.risk_world import World, build_world
from vigil.core.errors import InvalidInput

STRICT = {
    "weights": {"TAB_SWITCH": 10, "MULTIPLE_FACES": 1},
    "per_second": {"LOOKING_AWAY": {"points": 0.1, "after_seconds": 3}},
    "default_weight": 0,
    "thresholds": {"medium": 2, "high": 30},
}
STRICT_FULL = {**STRICT, "default_weight": 0.0}


@pytest.fixture
def world(client: TestClient) -> World:
    return build_world(client)


def policy_url(world: World, exam_id: int | None = None) -> str:
    return f"/exams/{exam_id or world.exam_id}/risk-policy"


def test_default_policy_is_served_spelt_out(world: World) -> None:
    answer = world.client.get(policy_url(world), headers=world.headers["exam_teacher"])
    assert answer.status_code == 200
    assert answer.json() == {
        "exam_id": world.exam_id,
        "custom": False,
        "policy": {
            "weights": {"NO_FACE": 2, "MULTIPLE_FACES": 4, "LOOKING_AWAY": 2, "TAB_SWITCH": 3},
            "per_second": {},
            "default_weight": 1,
            "thresholds": {"medium": 5, "high": 10},
        },
        "sessions_rescored": 0,
    }


def test_setting_a_policy_rescores_the_exams_sessions(world: World) -> None:
    client, teacher = world.client, world.headers["exam_teacher"]
    # A second session of the exam, already ended, and a session of another exam.
    other = client.post(
        "/sessions/start", params={"exam_id": world.exam_id}, headers=world.headers["other_student"]
    ).json()["session_id"]
    ended = client.post(
        "/sessions/end", params={"session_id": other}, headers=world.headers["other_student"]
    )
    assert ended.json()["risk_score"] == 0
    unrelated_exam = client.post("/exams/", params={"title": "Art"}, headers=teacher).json()["id"]
    unrelated = client.post(
        "/sessions/start", params={"exam_id": unrelated_exam}, headers=world.headers["candidate"]
    ).json()["session_id"]
    world.post_event("TAB_SWITCH", session_id=unrelated)

    answer = client.put(policy_url(world), json=STRICT, headers=teacher)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "exam_id": world.exam_id,
        "custom": True,
        "policy": STRICT_FULL,
        "sessions_rescored": 2,
    }
    # MULTIPLE_FACES 2 × 1 + TAB_SWITCH 10 = 12: Medium under this policy (High by default).
    stored = world.stored_session()
    assert (stored.risk_score, stored.risk_level) == (12, "Medium")
    assert [(r["rule"], r["points"]) for r in stored.risk_breakdown or []] == [
        ("TAB_SWITCH", 10),
        ("MULTIPLE_FACES", 2),
    ]
    assert world.stored_session(unrelated).risk_score == 3  # other exams keep theirs

    # New events score under the exam's policy at once; per-second rules use durations.
    world.post_event("TAB_SWITCH")
    world.post_event("NO_FACE")  # default_weight 0: nothing
    world.analysed_event("LOOKING_AWAY", 13.0, confidence=0.9)  # 0 + 0.1 × (13 − 3) = 1
    live = world.stored_session()
    assert (live.risk_score, live.risk_level) == (pytest.approx(23), "Medium")
    detail = client.get(f"/api/v1/sessions/{world.session_id}", headers=teacher).json()
    looking = [r for r in detail["risk_breakdown"] if r["rule"] == "LOOKING_AWAY"]
    assert looking == [
        {"rule": "LOOKING_AWAY", "weight": 0, "count": 1, "seconds": 13, "points": 1,
         "event_ids": world.event_ids["LOOKING_AWAY"]}
    ]  # fmt: skip

    end = client.post(
        "/sessions/end", params={"session_id": world.session_id}, headers=world.headers["candidate"]
    )
    assert (end.json()["risk_score"], end.json()["risk_level"]) == (23, "Medium")
    assert set(end.json()) >= {"risk_score", "risk_level"}

    reset = client.delete(policy_url(world), headers=world.headers["admin"])
    assert reset.status_code == 200
    assert (reset.json()["custom"], reset.json()["sessions_rescored"]) == (False, 2)
    # Default again: 4 + 4 + 3 + 3 + 2 (NO_FACE) + 2 (LOOKING_AWAY, no per-second rule) = 18.
    assert (world.stored_session().risk_score, world.stored_session().risk_level) == (18, "High")
    unchanged = client.delete(policy_url(world), headers=world.headers["admin"])
    assert unchanged.json()["sessions_rescored"] == 0


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"weights": {"NO_FACE": -1}}, ["body", "weights", "NO_FACE"]),
        ({"weights": {"no face": 1}}, ["body", "weights"]),
        ({"thresholds": {"medium": 11, "high": 10}}, ["body", "thresholds"]),
        ({"per_second": {"LOOKING_AWAY": {"points": 1, "after": 3}}},
         ["body", "per_second", "LOOKING_AWAY", "after"]),
        ({"weights": {"NO_FACE": 1}, "extra": True}, ["body", "extra"]),
        (["NO_FACE"], ["body"]),
    ],
)  # fmt: skip
def test_a_bad_policy_is_422_naming_the_field(world: World, body: Any, location: list[str]) -> None:
    answer = world.client.put(policy_url(world), json=body, headers=world.headers["admin"])
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == location
    assert "input" not in answer.json()["detail"][0]
    assert world.client.get(policy_url(world), headers=world.headers["admin"]).json()["custom"] is (
        False
    )


EXPECTED = {
    "candidate": 403,
    "other_student": 403,
    "exam_teacher": 200,
    "other_teacher": 403,
    "admin": 200,
    "nobody": 401,
}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("actor", list(EXPECTED))
def test_risk_policy_authorization_matrix(world: World, actor: str, method: str) -> None:
    body = STRICT if method == "PUT" else None
    answer = world.client.request(
        method, policy_url(world), json=body, headers=world.headers[actor]
    )
    assert answer.status_code == EXPECTED[actor], answer.text
    if answer.status_code == 403:
        assert answer.json() == {"detail": "you may not manage this exam's risk policy"}
    custom = world.client.get(policy_url(world), headers=world.headers["admin"]).json()["custom"]
    assert custom is (method == "PUT" and EXPECTED[actor] == 200)
    missing = world.client.request(
        method, policy_url(world, 999_999), json=body, headers=world.headers[actor]
    )
    assert missing.status_code == (401 if actor == "nobody" else 404)


def test_exam_file_sets_and_resets_the_policy(
    client: TestClient, tmp_path: Path, world: World
) -> None:
    directory = write_exam_dir(
        tmp_path / "exams", [{**exam_file(), "riskPolicy": STRICT}], {"algebra-1": True}
    )
    report = run_import(client, directory)
    assert (report.created, report.risk_policy_changed) == (["algebra-1"], ["algebra-1"])
    exam_id = next(e["id"] for e in client.get("/exams/").json() if e["title"] == "Algebra I")
    session = client.post(
        "/sessions/start", params={"exam_id": exam_id}, headers=world.headers["candidate"]
    ).json()["session_id"]
    world.post_event("TAB_SWITCH", session_id=session)
    assert (world.stored_session(session).risk_score, world.stored_session(session).risk_level) == (
        10,
        "Medium",
    )
    admin = world.headers["admin"]
    assert client.get(policy_url(world, exam_id), headers=admin).json()["policy"] == STRICT_FULL
    assert client.get(
        policy_url(world, exam_id), headers=world.headers["exam_teacher"]
    ).status_code == (
        403  # an imported exam has no owner: admins only
    )

    again = run_import(client, directory)
    assert (again.unchanged, again.risk_policy_changed) == (["algebra-1"], [])

    # A file without riskPolicy leaves the exam's policy alone; null resets it.
    write_exam_dir(directory, [exam_file()], {"algebra-1": True})
    assert run_import(client, directory).risk_policy_changed == []
    assert client.get(policy_url(world, exam_id), headers=admin).json()["custom"] is True
    write_exam_dir(directory, [{**exam_file(), "riskPolicy": None}], {"algebra-1": True})
    reset = run_import(client, directory)
    assert (reset.risk_policy_changed, reset.updated) == (["algebra-1"], [])
    assert world.stored_session(session).risk_score == 3


def test_a_bad_policy_in_an_exam_file_names_file_and_field(
    client: TestClient, tmp_path: Path
) -> None:
    bad = {**exam_file(), "riskPolicy": {"weights": {"NO_FACE": -2}}}
    directory = write_exam_dir(tmp_path / "exams", [bad], {})
    with pytest.raises(InvalidInput) as caught:
        run_import(client, directory)
    assert caught.value.field == "input/algebra-1.json:riskPolicy.weights.NO_FACE"
    assert "greater than or equal to 0" in caught.value.message

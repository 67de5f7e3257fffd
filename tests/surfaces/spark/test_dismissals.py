"""Reviewer extensions of the SparkProctoring API: the risk breakdown on the session detail,
and dismissing an event as a false positive (kept, excluded from the score, who/why/when)."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from tests.support.swagger import assert_array_of, assert_matches
from tests.surfaces.risk_world import World, build_world


@pytest.fixture
def world(client: TestClient) -> World:
    return build_world(client)


def dismiss_url(world: World, event_id: int, session_id: int | None = None) -> str:
    return f"/api/v1/sessions/{session_id or world.session_id}/events/{event_id}/dismiss"


def detail(world: World, actor: str = "exam_teacher") -> dict[str, object]:
    answer = world.client.get(f"/api/v1/sessions/{world.session_id}", headers=world.headers[actor])
    assert answer.status_code == 200, answer.text
    assert_matches("handler.SessionDetailResponse", answer.json())
    body: dict[str, object] = answer.json()
    return body


def test_session_detail_serves_the_breakdown(world: World) -> None:
    body = detail(world)
    session = body["session"]
    assert isinstance(session, dict)
    assert (session["risk_score"], session["risk_level"]) == (11, "High")
    faces, tabs = world.event_ids["MULTIPLE_FACES"], world.event_ids["TAB_SWITCH"]
    assert body["risk_breakdown"] == [
        {"rule": "MULTIPLE_FACES", "weight": 4, "count": 2, "seconds": 0, "points": 8,
         "event_ids": faces},
        {"rule": "TAB_SWITCH", "weight": 3, "count": 1, "seconds": 0, "points": 3,
         "event_ids": tabs},
    ]  # fmt: skip
    # While events arrive the stored breakdown is stale (NULL) and computed on read.
    assert world.stored_session().risk_breakdown is None


def test_dismiss_and_undo(world: World) -> None:
    client, reviewer = world.client, world.headers["exam_teacher"]
    second_face = world.event_ids["MULTIPLE_FACES"][1]

    answer = client.post(
        dismiss_url(world, second_face),
        json={"reason": "  the second face is a poster on the wall  "},
        headers=reviewer,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["dismissed"], body["risk_score"], body["risk_level"]) == (True, 7, "Medium")
    assert body["dismissal"]["by"] == world.user_ids["exam_teacher"]
    assert body["dismissal"]["reason"] == "the second face is a poster on the wall"
    dismissed_at = datetime.fromisoformat(body["dismissal"]["at"])
    assert body["risk_breakdown"][0]["event_ids"] == world.event_ids["MULTIPLE_FACES"][:1]

    # Stored on the session, and every surface reads the new score.
    stored = world.stored_session()
    assert (stored.risk_score, stored.risk_level) == (7, "Medium")
    assert stored.risk_breakdown == body["risk_breakdown"]
    assert detail(world)["risk_breakdown"] == body["risk_breakdown"]
    listed = client.get("/admin/sessions", headers=world.headers["admin"]).json()
    assert [(s["risk_score"], s["risk_level"]) for s in listed] == [(7, "Medium")]

    # The event is kept, and the listings show the dismissal.
    telemetry = client.get(f"/api/v1/sessions/{world.session_id}/telemetry", headers=reviewer)
    assert_array_of("handler.TelemetryEvent", telemetry.json())
    by_id = {row["id"]: row for row in telemetry.json()}
    assert len(by_id) == 4
    assert by_id[second_face]["dismissed"] is True
    assert by_id[second_face]["dismissal"]["reason"] == "the second face is a poster on the wall"
    assert by_id[world.event_ids["MULTIPLE_FACES"][0]]["dismissed"] is False
    assert "dismissal" not in by_id[world.event_ids["MULTIPLE_FACES"][0]]
    admin_events = client.get(
        f"/admin/sessions/{world.session_id}/events", headers=world.headers["admin"]
    ).json()
    dismissals = {row["id"]: row["dismissal"] for row in admin_events}
    assert dismissals[second_face]["by"] == world.user_ids["exam_teacher"]
    assert datetime.fromisoformat(dismissals[second_face]["at"]) == dismissed_at
    assert [d for i, d in dismissals.items() if i != second_face] == [None, None, None]

    again = client.post(dismiss_url(world, second_face), json={"reason": "x"}, headers=reviewer)
    assert again.status_code == 409
    assert again.json() == {
        "code": "CONFLICT",
        "error": f"event {second_face} is already dismissed; undo the dismissal first",
    }

    # Ending the session recomputes from the log: the dismissal holds.
    ended = client.post(
        "/sessions/end", params={"session_id": world.session_id}, headers=world.headers["candidate"]
    ).json()
    assert (ended["risk_score"], ended["risk_level"]) == (7, "Medium")

    undone = client.delete(dismiss_url(world, second_face), headers=world.headers["admin"])
    assert undone.status_code == 200, undone.text
    assert (undone.json()["dismissed"], undone.json()["dismissal"]) == (False, None)
    assert (undone.json()["risk_score"], undone.json()["risk_level"]) == (11, "High")
    assert world.stored_session().risk_score == 11
    twice = client.delete(dismiss_url(world, second_face), headers=world.headers["admin"])
    assert twice.status_code == 409
    assert twice.json()["error"] == f"event {second_face} is not dismissed"


def test_events_arriving_after_a_dismissal_add_on_top(world: World) -> None:
    face = world.event_ids["MULTIPLE_FACES"][0]
    reviewer = world.headers["admin"]
    assert world.client.post(
        dismiss_url(world, face), json={"reason": "twin"}, headers=reviewer
    ).status_code == 200  # fmt: skip
    world.post_event("NO_FACE")
    assert (world.stored_session().risk_score, world.stored_session().risk_level) == (9, "Medium")
    assert [rule["rule"] for rule in detail(world)["risk_breakdown"]] == [  # type: ignore[union-attr]
        "MULTIPLE_FACES",
        "TAB_SWITCH",
        "NO_FACE",
    ]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({}, 400, "reason: Field required"),
        ({"reason": ""}, 400, "reason: String should have at least 1 character"),
        ({"reason": "   "}, 400, "reason must not be empty: say why the event is dismissed"),
        ({"reason": "x" * 1001}, 400, "reason: String should have at most 1000 characters"),
        ({"reason": "ok", "by": 1}, 400, "by: Extra inputs are not permitted"),
        ({"reason": 5}, 400, "reason: Input should be a valid string"),
    ],
)
def test_bad_dismissals_are_400_naming_the_field(
    world: World, body: dict[str, object], status: int, error: str
) -> None:
    answer = world.client.post(
        dismiss_url(world, world.event_ids["TAB_SWITCH"][0]),
        json=body,
        headers=world.headers["admin"],
    )
    assert (answer.status_code, answer.json()) == (status, {"code": "BAD_REQUEST", "error": error})
    assert world.stored_session().risk_score == 11


def test_unknown_or_foreign_events_are_404(world: World) -> None:
    client, admin = world.client, world.headers["admin"]
    other_session = client.post(
        "/sessions/start", params={"exam_id": world.exam_id}, headers=world.headers["other_student"]
    ).json()["session_id"]
    answer = client.post(dismiss_url(world, 999_999), json={"reason": "x"}, headers=admin)
    assert answer.status_code == 404
    assert answer.json()["error"] == f"event 999999 does not exist in session {world.session_id}"
    own_event = world.event_ids["TAB_SWITCH"][0]
    crossed = client.post(
        dismiss_url(world, own_event, session_id=other_session), json={"reason": "x"}, headers=admin
    )
    assert crossed.status_code == 404
    assert client.post(dismiss_url(world, own_event, 999_999), json={"reason": "x"},
                       headers=admin).status_code == 404  # fmt: skip
    assert (
        client.post(dismiss_url(world, 0), json={"reason": "x"}, headers=admin).status_code == 400
    )


EXPECTED = {
    "candidate": 403,
    "other_student": 403,
    "exam_teacher": 200,
    "other_teacher": 403,
    "admin": 200,
    "nobody": 401,
}


@pytest.mark.parametrize("actor", list(EXPECTED))
def test_dismissal_authorization_matrix(world: World, actor: str) -> None:
    event_id = world.event_ids["TAB_SWITCH"][0]
    headers = world.headers[actor]
    posted = world.client.post(dismiss_url(world, event_id), json={"reason": "r"}, headers=headers)
    assert posted.status_code == EXPECTED[actor], posted.text
    if posted.status_code != 200:
        assert posted.json()["code"] in ("FORBIDDEN", "UNAUTHORIZED")
        assert world.stored_session().risk_score == 11
        # Whoever may not dismiss may not undo one either.
        world.client.post(dismiss_url(world, event_id), json={"reason": "r"},
                          headers=world.headers["admin"])  # fmt: skip
    assert world.stored_session().risk_score == 8
    deleted = world.client.delete(dismiss_url(world, event_id), headers=headers)
    assert deleted.status_code == EXPECTED[actor]
    assert world.stored_session().risk_score == (11 if deleted.status_code == 200 else 8)


def test_a_teacher_who_created_the_session_reviews_it(world: World) -> None:
    """The session creator (not the exam owner) is a reviewer too: a Spark session. Its
    agent, which speaks for the session, is not a reviewer."""
    from tests.surfaces.spark.test_agent import Agent, create_session, join

    created = create_session(world.client, world.headers["other_teacher"]).json()
    agent = Agent(world.client, join(world.client, created["session_key"]).json())
    url = f"/api/v1/sessions/{created['id']}/events/1/dismiss"
    mine = world.client.post(url, json={"reason": "r"}, headers=world.headers["other_teacher"])
    assert mine.status_code == 404  # allowed in; the event is not in this session
    theirs = world.client.post(url, json={"reason": "r"}, headers=world.headers["exam_teacher"])
    assert theirs.status_code == 403
    assert theirs.json() == {"code": "FORBIDDEN", "error": "you may not review this session"}
    for answer in (
        world.client.post(url, json={"reason": "r"}, headers=agent.headers),
        world.client.delete(url, headers=agent.headers),
    ):
        assert answer.status_code == 401
        assert answer.json() == {"code": "UNAUTHORIZED", "error": "token is not valid here"}


def test_a_breakdown_stored_before_durations_scored_is_still_served(world: World) -> None:
    """Sessions ended before this release stored rules without `seconds`."""
    from vigil.runtime import Runtime

    runtime: Runtime = world.client.app.state.runtime  # type: ignore[attr-defined]
    old_rule = {"rule": "TAB_SWITCH", "weight": 3, "count": 1, "points": 3, "event_ids": [3]}

    async def store_old_format() -> None:
        from vigil.core.sessions.models import ProctoringSession

        async with runtime.sessionmaker.begin() as db:
            session = await db.get(ProctoringSession, world.session_id)
            assert session is not None
            session.risk_breakdown = [old_rule]

    assert world.client.portal is not None
    world.client.portal.call(store_old_format)
    assert detail(world)["risk_breakdown"] == [{**old_rule, "seconds": 0}]

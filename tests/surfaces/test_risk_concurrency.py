"""A full recompute (a dismissal) and an event's incremental update, interleaved in both
orders on a real database: no event's points are lost, none counted twice."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient

from tests.surfaces.risk_world import World, build_world
from vigil.core.events import service as events
from vigil.core.identity.models import User
from vigil.core.sessions.models import ProctoringSession
from vigil.runtime import Runtime


@pytest.fixture
def world(client: TestClient) -> World:
    return build_world(client)  # 11 points: MULTIPLE_FACES ×2, TAB_SWITCH


def runtime_of(world: World) -> Runtime:
    runtime: Runtime = world.client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


async def _record(runtime: Runtime, session_id: int, commit: asyncio.Event | None) -> None:
    async with runtime.sessionmaker() as db:
        session = await db.get(ProctoringSession, session_id)
        assert session is not None
        await events.record_in(db, session, event_type="NO_FACE", severity=1, source="test")
        if commit is not None:
            await commit.wait()
        await db.commit()


async def _dismiss(runtime: Runtime, world: World, commit: asyncio.Event | None) -> None:
    async with runtime.sessionmaker() as db:
        reviewer = await db.get(User, world.user_ids["admin"])
        assert reviewer is not None
        face = world.event_ids["MULTIPLE_FACES"][0]
        await events.dismiss_event(db, reviewer, world.session_id, face, "a poster")
        if commit is not None:
            await commit.wait()
        await db.commit()


def test_event_uncommitted_while_a_dismissal_recomputes(world: World) -> None:
    runtime = runtime_of(world)

    async def run() -> None:
        release = asyncio.Event()
        first = asyncio.create_task(_record(runtime, world.session_id, release))
        await asyncio.sleep(0.2)  # the event's UPDATE holds the session row
        second = asyncio.create_task(_dismiss(runtime, world, None))
        await asyncio.sleep(0.2)  # the recompute waits for it (or for SQLite's writer)
        release.set()
        await asyncio.gather(first, second)

    assert world.client.portal is not None
    world.client.portal.call(run)
    stored = world.stored_session()
    # 11 − 4 (dismissed face) + 2 (NO_FACE) = 9, both in the score and in the breakdown.
    assert (stored.risk_score, stored.risk_level) == (9, "Medium")


def test_event_arriving_while_a_dismissal_is_uncommitted(world: World) -> None:
    runtime = runtime_of(world)

    async def run() -> None:
        release = asyncio.Event()
        first = asyncio.create_task(_dismiss(runtime, world, release))
        await asyncio.sleep(0.2)  # the recompute holds the session row, uncommitted
        second = asyncio.create_task(_record(runtime, world.session_id, None))
        await asyncio.sleep(0.2)  # the event's UPDATE waits for it
        release.set()
        await asyncio.gather(first, second)

    assert world.client.portal is not None
    world.client.portal.call(run)
    stored = world.stored_session()
    assert (stored.risk_score, stored.risk_level) == (9, "Medium")

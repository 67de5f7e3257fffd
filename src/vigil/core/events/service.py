"""Event rules: who may record an event, and what it does to the session's score."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.expression import Executable

from vigil.core import policy
from vigil.core.errors import Conflict, InvalidInput
from vigil.core.events.models import ProctoringEvent
from vigil.core.identity.models import User
from vigil.core.sessions import service as sessions
from vigil.core.sessions.models import ProctoringSession
from vigil.core.sessions.statuses import OPEN
from vigil.storage.db import utcnow

MAX_SEVERITY = 10
MAX_TYPE_LENGTH = 64


def normalise_event_type(event_type: str) -> str:
    cleaned = event_type.strip().upper()
    if not cleaned:
        raise InvalidInput("event_type must not be empty", field="event_type")
    if len(cleaned) > MAX_TYPE_LENGTH:
        raise InvalidInput(
            f"event_type is longer than {MAX_TYPE_LENGTH} characters", field="event_type"
        )
    if not all(c.isalnum() or c == "_" for c in cleaned):
        raise InvalidInput(
            "event_type may hold only letters, digits and underscores", field="event_type"
        )
    return cleaned


async def record_event(
    db: AsyncSession,
    actor: User,
    session_id: int,
    **event: Any,
) -> ProctoringEvent:
    """Log an event from the candidate's own client (ProctorBE's `POST /events/`)."""
    session = await sessions.get_session(db, actor, session_id, policy.Action.WRITE_EVIDENCE)
    return await record_in(db, session, **event)


async def record_in(
    db: AsyncSession,
    session: ProctoringSession,
    *,
    event_type: str,
    severity: int,
    source: str,
    occurred_at: datetime | None = None,
    duration_seconds: float | None = None,
    data: dict[str, object] | None = None,
    client_key: str | None = None,
    after_end: bool = False,
) -> ProctoringEvent:
    """Log an event in a session the caller has authorized, and add its points to the score.

    `client_key` makes a retried event a no-op that returns the first one; `after_end` lets
    late arrivals from a flaky client land in a session that has already ended.
    """
    event_type = normalise_event_type(event_type)
    if not 0 <= severity <= MAX_SEVERITY:
        raise InvalidInput(f"severity must be between 0 and {MAX_SEVERITY}", field="severity")
    if duration_seconds is not None and duration_seconds < 0:
        raise InvalidInput("duration_seconds must not be negative", field="duration_seconds")
    if session.status not in OPEN and not after_end:
        raise Conflict(f"session {session.id} is {session.status}; it takes no more events")
    fields: dict[str, Any] = {
        "session_id": session.id,
        "type": event_type,
        "severity": severity,
        "source": source,
        "occurred_at": occurred_at or utcnow(),
        "duration_seconds": duration_seconds,
        "data": data,
        "client_key": client_key,
        "created_at": utcnow(),
    }
    # A Core INSERT (the ORM's unit of work costs more than the row on this hot path) that
    # skips a retried event's key instead of failing on it.
    event_id = await db.scalar(_insert_unless_known(db.get_bind().dialect.name, fields))
    if event_id is None:
        assert client_key is not None
        earlier = await _by_client_key(db, session.id, client_key)
        assert earlier is not None
        return earlier
    event = ProctoringEvent(id=event_id, **fields)
    await _add_points(db, session, event)
    return event


def _insert_unless_known(dialect: str, fields: dict[str, Any]) -> Executable:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id, in the dialect's own spelling."""
    if dialect == "postgresql":
        pg = postgresql.insert(ProctoringEvent).values(fields).on_conflict_do_nothing()
        return pg.returning(ProctoringEvent.id)
    lite = sqlite.insert(ProctoringEvent).values(fields).on_conflict_do_nothing()
    return lite.returning(ProctoringEvent.id)


async def _by_client_key(
    db: AsyncSession, session_id: int, client_key: str
) -> ProctoringEvent | None:
    return await db.scalar(
        select(ProctoringEvent).where(
            ProctoringEvent.session_id == session_id, ProctoringEvent.client_key == client_key
        )
    )


async def _add_points(db: AsyncSession, session: ProctoringSession, event: ProctoringEvent) -> None:
    # One atomic UPDATE, so concurrent events cannot lose each other's points;
    # end_session recomputes the whole score from the log anyway.
    risk_policy = await sessions.risk_policy_for(db, session)
    points = risk_policy.points(event)
    if not points:
        return
    score = ProctoringSession.risk_score + points
    level = case(
        (score >= risk_policy.high_at, "High"),
        (score >= risk_policy.medium_at, "Medium"),
        else_="Low",
    )
    updated = (
        await db.execute(
            update(ProctoringSession)
            .where(ProctoringSession.id == session.id)
            .values(risk_score=score, risk_level=level)
            .returning(ProctoringSession.risk_score, ProctoringSession.risk_level)
            .execution_options(synchronize_session=False)
        )
    ).one()
    set_committed_value(session, "risk_score", float(updated.risk_score))
    set_committed_value(session, "risk_level", updated.risk_level)


async def session_events(db: AsyncSession, session_id: int) -> Sequence[ProctoringEvent]:
    """Every event of a session in time order; the caller has authorized reading it."""
    return (
        await db.scalars(
            select(ProctoringEvent)
            .where(ProctoringEvent.session_id == session_id)
            .order_by(ProctoringEvent.occurred_at, ProctoringEvent.id)
        )
    ).all()


async def list_session_events(
    db: AsyncSession, actor: User, session_id: int
) -> Sequence[ProctoringEvent]:
    await sessions.get_session(db, actor, session_id, policy.Action.READ_SESSION)
    return await session_events(db, session_id)

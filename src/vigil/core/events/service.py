"""Event rules: who may record an event, and what it does to the session's score."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, null, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.expression import Executable

from vigil.core import policy
from vigil.core.errors import Conflict, InvalidInput, NotFound
from vigil.core.events.models import MAX_DISMISSAL_REASON, ProctoringEvent
from vigil.core.identity.models import User
from vigil.core.risk import HIGH, LOW, MEDIUM, RiskAssessment, RiskPolicy
from vigil.core.sessions import service as sessions
from vigil.core.sessions.models import ProctoringSession
from vigil.core.sessions.refs import SessionRef
from vigil.core.sessions.statuses import OPEN
from vigil.storage.db import utcnow

MAX_SEVERITY = 10
MAX_TYPE_LENGTH = 64
MAX_DURATION_SECONDS = 7 * 24 * 3600


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
    session, risk_policy = await sessions.get_session_and_policy(
        db, actor, session_id, policy.Action.WRITE_EVIDENCE
    )
    return await record_in(db, session, risk_policy=risk_policy, **event)


async def record_in(
    db: AsyncSession,
    session: ProctoringSession | SessionRef,
    *,
    event_type: str,
    severity: int,
    source: str,
    occurred_at: datetime | None = None,
    ended_at: datetime | None = None,
    duration_seconds: float | None = None,
    confidence: float | None = None,
    data: dict[str, object] | None = None,
    client_key: str | None = None,
    after_end: bool = False,
    risk_policy: RiskPolicy | None = None,
) -> ProctoringEvent:
    """Log an event in a session the caller has authorized, and add its points to the score.

    `client_key` makes a retried event a no-op that returns the first one; `after_end` lets
    late arrivals from a flaky client land in a session that has already ended;
    `risk_policy` is the session's exam's policy when the caller has read it already. A
    `SessionRef` (no status) serves only with `after_end`.
    """
    event_type = normalise_event_type(event_type)
    if not 0 <= severity <= MAX_SEVERITY:
        raise InvalidInput(f"severity must be between 0 and {MAX_SEVERITY}", field="severity")
    if duration_seconds is not None and not 0 <= duration_seconds <= MAX_DURATION_SECONDS:
        raise InvalidInput(
            f"duration_seconds must be between 0 and {MAX_DURATION_SECONDS}",
            field="duration_seconds",
        )
    occurred_at = occurred_at or utcnow()
    if ended_at is not None and ended_at < occurred_at:
        raise InvalidInput("ended_at must not be before occurred_at", field="ended_at")
    if confidence is not None and not 0 <= confidence <= 1:
        raise InvalidInput("confidence must be between 0 and 1", field="confidence")
    if not after_end:
        status = cast(ProctoringSession, session).status
        if status not in OPEN:
            raise Conflict(f"session {session.id} is {status}; it takes no more events")
    fields: dict[str, Any] = {
        "session_id": session.id,
        "type": event_type,
        "severity": severity,
        "source": source,
        "occurred_at": occurred_at,
        "ended_at": ended_at,
        "duration_seconds": duration_seconds,
        "confidence": confidence,
        "data": data,
        "client_key": client_key,
        "created_at": utcnow(),
    }
    # A Core INSERT (the ORM's unit of work costs more than the row on this hot path) that
    # skips a retried event's key instead of failing on it.
    event_id = await db.scalar(_INSERT_UNLESS_KNOWN[db.get_bind().dialect.name], fields)
    if event_id is None:
        assert client_key is not None
        earlier = await _by_client_key(db, session.id, client_key)
        assert earlier is not None
        return earlier
    event = ProctoringEvent(id=event_id, **fields)
    if risk_policy is None:
        risk_policy = await sessions.risk_policy_for(db, session)
    await _add_points(db, session, event, risk_policy)
    return event


# INSERT … ON CONFLICT DO NOTHING RETURNING id, in each dialect's own spelling. Built once
# (building a statement costs more than running it on this hot path), on the tables rather
# than the ORM classes (the ORM's bulk-persistence layer cost more than the row itself).
_EVENTS = cast(Table, ProctoringEvent.__table__)
_SESSIONS = cast(Table, ProctoringSession.__table__)
_INSERT_UNLESS_KNOWN: dict[str, Executable] = {
    "postgresql": postgresql.insert(_EVENTS).on_conflict_do_nothing().returning(_EVENTS.c.id),
    "sqlite": sqlite.insert(_EVENTS).on_conflict_do_nothing().returning(_EVENTS.c.id),
}


async def _by_client_key(
    db: AsyncSession, session_id: int, client_key: str
) -> ProctoringEvent | None:
    return await db.scalar(
        select(ProctoringEvent).where(
            ProctoringEvent.session_id == session_id, ProctoringEvent.client_key == client_key
        )
    )


_SCORE = _SESSIONS.c.risk_score + bindparam("b_points")
_ADD_POINTS = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("b_session_id"))
    .values(
        risk_score=_SCORE,
        risk_level=case(
            (_SCORE >= bindparam("b_high"), HIGH),
            (_SCORE >= bindparam("b_medium"), MEDIUM),
            else_=LOW,
        ),
        risk_breakdown=null(),
    )
)
# For a loaded session, whose attributes then take the new values; a SessionRef (SUSIE's
# hot path) has none to update, and spares the fetch.
_ADD_POINTS_RETURNING = _ADD_POINTS.returning(_SESSIONS.c.risk_score, _SESSIONS.c.risk_level)


async def _add_points(
    db: AsyncSession,
    session: ProctoringSession | SessionRef,
    event: ProctoringEvent,
    risk_policy: RiskPolicy,
) -> None:
    # One atomic UPDATE, so concurrent events cannot lose each other's points. The stored
    # breakdown is marked stale (NULL) rather than rewritten: readers compute it while the
    # session is live, and every full recompute (end, dismissal, policy change) stores it.
    seconds = sessions.event_seconds(event.duration_seconds, event.occurred_at, event.ended_at)
    points = risk_policy.points(event.type, event.severity, seconds)
    if not points:
        return
    parameters = {
        "b_session_id": session.id,
        "b_points": points,
        "b_high": risk_policy.thresholds.high,
        "b_medium": risk_policy.thresholds.medium,
    }
    if not isinstance(session, ProctoringSession):
        await db.execute(_ADD_POINTS, parameters)
        return
    updated = (await db.execute(_ADD_POINTS_RETURNING, parameters)).one()
    set_committed_value(session, "risk_score", float(updated.risk_score))
    set_committed_value(session, "risk_level", updated.risk_level)
    set_committed_value(session, "risk_breakdown", None)


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


def clean_reason(reason: str) -> str:
    cleaned = reason.strip()
    if not cleaned:
        raise InvalidInput(
            "reason must not be empty: say why the event is dismissed", field="reason"
        )
    if len(cleaned) > MAX_DISMISSAL_REASON:
        raise InvalidInput(
            f"reason is longer than {MAX_DISMISSAL_REASON} characters", field="reason"
        )
    return cleaned


async def dismiss_event(
    db: AsyncSession, actor: User, session_id: int, event_id: int, reason: str
) -> tuple[ProctoringEvent, ProctoringSession, RiskAssessment]:
    """Mark an event a false positive: kept, with who, why and when, and scored no more."""
    session = await sessions.get_session(db, actor, session_id, policy.Action.REVIEW_SESSION)
    event = await _event_of(db, session_id, event_id)
    reason = clean_reason(reason)
    if event.dismissed_at is not None:
        raise Conflict(f"event {event_id} is already dismissed; undo the dismissal first")
    event.dismissed_at = utcnow()
    event.dismissed_by_id = actor.id
    event.dismissal_reason = reason
    await db.flush()
    return event, session, await sessions.recompute_risk(db, session)


async def undismiss_event(
    db: AsyncSession, actor: User, session_id: int, event_id: int
) -> tuple[ProctoringEvent, ProctoringSession, RiskAssessment]:
    """Undo a dismissal: the event scores again."""
    session = await sessions.get_session(db, actor, session_id, policy.Action.REVIEW_SESSION)
    event = await _event_of(db, session_id, event_id)
    if event.dismissed_at is None:
        raise Conflict(f"event {event_id} is not dismissed")
    event.dismissed_at = None
    event.dismissed_by_id = None
    event.dismissal_reason = None
    await db.flush()
    return event, session, await sessions.recompute_risk(db, session)


async def _event_of(db: AsyncSession, session_id: int, event_id: int) -> ProctoringEvent:
    event = await db.scalar(
        select(ProctoringEvent).where(
            ProctoringEvent.id == event_id, ProctoringEvent.session_id == session_id
        )
    )
    if event is None:
        raise NotFound(f"event {event_id} does not exist in session {session_id}", field="event_id")
    return event

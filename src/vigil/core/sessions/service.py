"""Session rules: start, end, look up under the authorization policy, list."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import Executable

from vigil.core import policy
from vigil.core.attempts.links import link_active_attempt
from vigil.core.errors import NotFound, PermissionDenied
from vigil.core.events.models import ProctoringEvent
from vigil.core.exams.models import Exam
from vigil.core.exams.service import get_exam
from vigil.core.identity.models import User
from vigil.core.risk import (
    DEFAULT_POLICY,
    Observation,
    RiskAssessment,
    RiskPolicy,
    assess,
    stored_policy,
)
from vigil.core.sessions.models import ProctoringSession
from vigil.core.sessions.statuses import OPEN, SessionStatus, transition
from vigil.storage.db import MAX_ROW_ID, bare_instance, utcnow

if TYPE_CHECKING:
    from vigil.core.sessions.refs import SessionRef

# A session as the ORM loads it, or the reference a process keeps of it.
S = TypeVar("S", "ProctoringSession", "SessionRef")


def new_session_key() -> str:
    return secrets.token_urlsafe(24)


async def start_exam_session(
    db: AsyncSession, candidate: User, exam_id: int, *, source: str
) -> ProctoringSession:
    """Start the candidate's session for an exam, or resume the one still open."""
    exam = await get_exam(db, exam_id)
    open_session = await db.scalar(
        select(ProctoringSession)
        .where(
            ProctoringSession.candidate_id == candidate.id,
            ProctoringSession.exam_id == exam.id,
            ProctoringSession.status.in_(list(OPEN)),
        )
        .order_by(ProctoringSession.id.desc())
        .limit(1)
    )
    if open_session is not None:
        return open_session
    now = utcnow()
    session = ProctoringSession(
        session_key=new_session_key(),
        candidate_id=candidate.id,
        exam_id=exam.id,
        created_by_id=candidate.id,
        title=exam.title,
        source=source,
        status=SessionStatus.ACTIVE,
        created_at=now,
        started_at=now,
    )
    db.add(session)
    await db.flush()
    await link_active_attempt(db, session)
    return session


async def start_external_session(
    db: AsyncSession,
    candidate: User,
    external_id: str,
    *,
    exam_ref: str | None,
    source: str,
    started_at: datetime | None = None,
    expect_new: bool = False,
) -> ProctoringSession:
    """The session a client names by its own id: created on first sight, then reused.

    A session id another candidate already holds is refused, whoever asks. `expect_new`
    (a client's own start) tries the INSERT before looking the id up.
    """
    if not expect_new:
        session = await find_external_session(db, external_id)
        if session is not None:
            return require_candidate(session, candidate)
    exam = await _exam_by_ref(db, exam_ref)
    now = utcnow()
    fields: dict[str, Any] = {
        "session_key": new_session_key(),
        "candidate_id": candidate.id,
        "exam_id": exam.id if exam else None,
        "external_exam_ref": exam_ref,
        "created_by_id": candidate.id,
        "external_id": external_id,
        "title": exam.title if exam else exam_ref,
        "source": source,
        "status": SessionStatus.ACTIVE,
        "created_at": now,
        "started_at": started_at or now,
    }
    # INSERT … ON CONFLICT DO NOTHING RETURNING the row: yields to a session with the same
    # id started a moment ago without a SAVEPOINT or a unit-of-work flush (every student
    # starts one in the exam's first minute). A Core INSERT, and the session made from its
    # row as a load makes one: the ORM's bulk-insert path costs the event loop more than
    # the rest of the start.
    row = (await db.execute(_INSERT_UNLESS_STARTED[db.get_bind().dialect.name], fields)).first()
    if row is None:
        return await start_external_session(
            db, candidate, external_id, exam_ref=exam_ref, source=source
        )
    started = bare_instance(ProctoringSession, zip(_SESSION_COLUMNS, row, strict=True))
    await link_active_attempt(db, started)
    return started


_SESSIONS = cast(Table, ProctoringSession.__table__)
_SESSION_COLUMNS = tuple(column.key for column in _SESSIONS.columns)
_INSERT_UNLESS_STARTED: dict[str, Executable] = {
    "postgresql": postgresql.insert(_SESSIONS)
    .on_conflict_do_nothing(index_elements=["external_id"])
    .returning(*_SESSIONS.columns),
    "sqlite": sqlite.insert(_SESSIONS)
    .on_conflict_do_nothing(index_elements=["external_id"])
    .returning(*_SESSIONS.columns),
}


def require_candidate(session: S, candidate: User) -> S:
    """A session a client names by its own id serves its candidate only, whoever asks."""
    if session.candidate_id != candidate.id:
        raise PermissionDenied(f"session {session.external_id} belongs to another candidate")
    return session


async def _exam_by_ref(db: AsyncSession, exam_ref: str | None) -> Exam | None:
    if exam_ref is None or not (exam_ref.isascii() and exam_ref.isdigit()):
        return None
    if int(exam_ref) > MAX_ROW_ID:
        return None
    return await db.get(Exam, int(exam_ref))


async def find_external_session(db: AsyncSession, external_id: str) -> ProctoringSession | None:
    return await db.scalar(_BY_EXTERNAL_ID, {"b_external_id": external_id})


# Built once: a statement built per call pays for its cache key on every call.
_BY_EXTERNAL_ID = select(ProctoringSession).where(
    ProctoringSession.external_id == bindparam("b_external_id")
)


async def get_external_session(db: AsyncSession, external_id: str) -> ProctoringSession:
    session = await find_external_session(db, external_id)
    if session is None:
        raise NotFound(f"session {external_id} does not exist", field="examSessionId")
    return session


async def finish_session(
    db: AsyncSession, actor: User, session: ProctoringSession, status: SessionStatus
) -> ProctoringSession:
    """End a session as finished or cancelled; ending an ended session again changes nothing."""
    policy.require(actor, policy.Action.END_SESSION, await ownership(db, session))
    await close(db, session, status)
    return session


async def close(db: AsyncSession, session: ProctoringSession, status: SessionStatus) -> None:
    """Move an open session to an ended status and score it; a no-op once it has ended,
    because clients retry an end whose answer they lost."""
    if session.status in OPEN:
        session.status = transition(session.status, status)
        session.ended_at = utcnow()
        await recompute_risk(db, session)
        await db.flush()


async def ownership(db: AsyncSession, session: ProctoringSession) -> policy.SessionOwnership:
    exam_owner_id = None
    if session.exam_id is not None:
        exam_owner_id = await db.scalar(select(Exam.owner_id).where(Exam.id == session.exam_id))
    return policy.SessionOwnership(
        candidate_id=session.candidate_id,
        created_by_id=session.created_by_id,
        exam_owner_id=exam_owner_id,
    )


async def get_session(
    db: AsyncSession, actor: User, session_id: int, action: policy.Action
) -> ProctoringSession:
    """The session, if `actor` may do `action` on it: NotFound or PermissionDenied else."""
    session, _policy = await get_session_and_policy(db, actor, session_id, action)
    return session


async def get_session_and_policy(
    db: AsyncSession, actor: User, session_id: int, action: policy.Action
) -> tuple[ProctoringSession, RiskPolicy]:
    """`get_session`, with the risk policy of the session's exam read by the same query
    (the events hot path needs both)."""
    found = (
        await db.execute(
            select(ProctoringSession, Exam.owner_id, Exam.risk_policy)
            .outerjoin(Exam, Exam.id == ProctoringSession.exam_id)
            .where(ProctoringSession.id == session_id)
        )
    ).first()
    if found is None:
        raise NotFound(f"session {session_id} does not exist", field="session_id")
    session, exam_owner_id, policy_document = found
    owners = policy.SessionOwnership(session.candidate_id, session.created_by_id, exam_owner_id)
    policy.require(actor, action, owners)
    return session, stored_policy(policy_document)


async def risk_policy_for(db: AsyncSession, session: ProctoringSession | SessionRef) -> RiskPolicy:
    """The policy of the session's exam; the default when it has no exam or no policy."""
    if session.exam_id is None:
        return DEFAULT_POLICY
    document = await db.scalar(select(Exam.risk_policy).where(Exam.id == session.exam_id))
    return stored_policy(document)


_OBSERVATIONS = (
    select(
        ProctoringEvent.id,
        ProctoringEvent.type,
        ProctoringEvent.severity,
        ProctoringEvent.duration_seconds,
        ProctoringEvent.occurred_at,
        ProctoringEvent.ended_at,
        ProctoringEvent.dismissed_at,
    )
    .where(ProctoringEvent.session_id == bindparam("b_session_id"), ProctoringEvent.severity > 0)
    .order_by(ProctoringEvent.id)
)


async def observations(db: AsyncSession, session_id: int) -> list[Observation]:
    """The session's events as the engine sees them. Severity-0 rows (the bulk of an agent's
    telemetry) score nothing under any policy, so they are not read at all."""
    rows = await db.execute(_OBSERVATIONS, {"b_session_id": session_id})
    return [
        Observation(
            id=row.id,
            type=row.type,
            severity=row.severity,
            seconds=event_seconds(row.duration_seconds, row.occurred_at, row.ended_at),
            dismissed=row.dismissed_at is not None,
        )
        for row in rows
    ]


def event_seconds(
    duration_seconds: float | None, occurred_at: datetime | None, ended_at: datetime | None
) -> float:
    """How long an event lasted: its duration, else end minus start, else 0."""
    if duration_seconds is not None:
        return max(duration_seconds, 0.0)
    if occurred_at is not None and ended_at is not None:
        return max((ended_at - occurred_at).total_seconds(), 0.0)
    return 0.0


_LOCK_FOR_SCORING = (
    select(ProctoringSession.id)
    .where(ProctoringSession.id == bindparam("b_session_id"))
    .with_for_update(key_share=True)  # FOR NO KEY UPDATE
)


async def recompute_risk(
    db: AsyncSession, session: ProctoringSession, risk_policy: RiskPolicy | None = None
) -> RiskAssessment:
    """Score the session from its stored events and store score, level and breakdown.

    The session row is locked first (FOR NO KEY UPDATE, which an event's foreign-key check
    does not wait for), so an event whose points land meanwhile is added on top of this
    result instead of being overwritten by it.
    """
    await db.execute(_LOCK_FOR_SCORING, {"b_session_id": session.id})
    if risk_policy is None:
        risk_policy = await risk_policy_for(db, session)
    result = assess(await observations(db, session.id), risk_policy)
    session.risk_score = result.score
    session.risk_level = result.level
    session.risk_breakdown = result.breakdown_document()
    await db.flush()
    return result


async def risk_breakdown(db: AsyncSession, session: ProctoringSession) -> list[dict[str, Any]]:
    """The stored breakdown; while events are arriving it is computed on read instead (an
    event marks it stale rather than rewrite it: the hot path stays one UPDATE)."""
    if session.risk_breakdown is not None:
        return list(session.risk_breakdown)
    result = assess(await observations(db, session.id), await risk_policy_for(db, session))
    return result.breakdown_document()


async def end_session(
    db: AsyncSession, actor: User, session_id: int
) -> tuple[ProctoringSession, RiskAssessment]:
    session = await get_session(db, actor, session_id, policy.Action.END_SESSION)
    session.status = transition(session.status, SessionStatus.FINISHED)
    session.ended_at = utcnow()
    result = await recompute_risk(db, session)
    await db.flush()
    return session, result


async def list_sessions(
    db: AsyncSession, actor: User, *, limit: int | None = None, offset: int = 0
) -> tuple[Sequence[ProctoringSession], int]:
    """The staff view (ProctorBE's /admin): students are refused outright."""
    policy.require(actor, policy.Action.LIST_SESSIONS)
    return await visible_sessions(db, actor, limit=limit, offset=offset)


async def visible_sessions(
    db: AsyncSession, actor: User, *, limit: int | None = None, offset: int = 0
) -> tuple[Sequence[ProctoringSession], int]:
    """Newest first, the sessions `actor` may read (a student: their own), and their total."""
    visible = policy.visible_sessions(actor)
    total = await db.scalar(select(func.count()).select_from(ProctoringSession).where(visible))
    query = select(ProctoringSession).where(visible).order_by(ProctoringSession.id.desc())
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return (await db.scalars(query)).all(), int(total or 0)

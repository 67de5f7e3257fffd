"""SparkProctoring's side of a session: a teacher creates it, a desktop agent joins it with
the session key and gets a token for that one session plus the session's telemetry key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil import telemetry
from vigil.core import policy
from vigil.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from vigil.core.identity.models import User
from vigil.core.identity.tokens import IssuedToken, decode_token, issue_token
from vigil.core.sessions import keys
from vigil.core.sessions.models import ProctoringSession
from vigil.core.sessions.service import close, new_session_key
from vigil.core.sessions.statuses import OPEN, SessionStatus, transition
from vigil.storage.db import utcnow

AGENT_TOKEN = "agent"
MAX_TITLE_LENGTH = 300


@dataclass(frozen=True)
class AgentGrant:
    session: ProctoringSession
    token: IssuedToken
    encryption_key: bytes


async def create_session(db: AsyncSession, actor: User, title: str | None) -> ProctoringSession:
    policy.require(actor, policy.Action.CREATE_SESSION)
    title = (title or "").strip() or None
    if title and len(title) > MAX_TITLE_LENGTH:
        raise InvalidInput(f"title is longer than {MAX_TITLE_LENGTH} characters", field="title")
    session = ProctoringSession(
        session_key=new_session_key(),
        candidate_id=None,
        created_by_id=actor.id,
        title=title,
        source="spark",
        status=SessionStatus.PENDING,
        created_at=utcnow(),
    )
    db.add(session)
    await db.flush()
    return session


async def authenticate_agent(
    db: AsyncSession,
    secret: str,
    session_key: str,
    agent_info: dict[str, object],
    ttl_seconds: int,
) -> AgentGrant:
    """Join the session this key opens: it turns active, and the agent gets its token and key.

    An agent that restarts mid-exam authenticates again and gets the same telemetry key.
    """
    session = await db.scalar(
        select(ProctoringSession).where(ProctoringSession.session_key == session_key)
    )
    if session is None:
        raise Unauthenticated("unknown session key")
    if session.status not in OPEN:
        raise Conflict(f"session {session.id} is {session.status}; agents can no longer join")
    if session.status is SessionStatus.PENDING:
        session.status = transition(session.status, SessionStatus.ACTIVE)
        session.started_at = utcnow()
    if session.telemetry_key_wrapped is None:
        session.telemetry_key_wrapped = keys.wrap(secret, session.id, telemetry.new_key())
    session.agent_info = agent_info
    await db.flush()
    token = issue_token(
        secret,
        subject=f"session:{session.id}",
        token_type=AGENT_TOKEN,
        ttl_seconds=ttl_seconds,
        sid=session.id,
    )
    return AgentGrant(session, token, telemetry_key(secret, session))


def telemetry_key(secret: str, session: ProctoringSession) -> bytes:
    if session.telemetry_key_wrapped is None:
        raise Conflict(f"no agent has joined session {session.id} yet, so it has no telemetry key")
    return keys.unwrap(secret, session.id, session.telemetry_key_wrapped)


def agent_session_id(secret: str, token: str) -> int:
    claims = decode_token(secret, token, token_type=AGENT_TOKEN)
    session_id = claims.get("sid")
    if not isinstance(session_id, int):
        raise Unauthenticated("agent token names no session")
    return session_id


async def agent_session(
    db: AsyncSession, token_session_id: int, session_id: int
) -> ProctoringSession:
    policy.require_agent_scope(token_session_id, session_id)
    session = await db.get(ProctoringSession, session_id)
    if session is None:
        raise NotFound(f"session {session_id} does not exist", field="session_id")
    return session


async def end_by_agent(db: AsyncSession, session: ProctoringSession) -> ProctoringSession:
    """The agent's EndSession: idempotent, since an agent retries when the answer is lost."""
    await close(db, session, SessionStatus.FINISHED)
    return session

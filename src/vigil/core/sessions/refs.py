"""Sessions that clients name by their own id (SUSIE's `examSessionId`), remembered per
process.

What evidence intake needs of such a session (its id, its candidate, who created it, its
exam) is
fixed when the session is created, and sessions are never deleted, so a process reads it
once instead of once for every chunk a student sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from cachetools import LRUCache
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vigil.core.sessions.models import ProctoringSession
from vigil.core.sessions.service import find_external_session

MAX_SESSIONS = 100_000


@dataclass(frozen=True)
class SessionRef:
    id: int
    external_id: str | None
    candidate_id: int | None
    created_by_id: int | None
    exam_id: int | None


class ExternalSessionRefs:
    def __init__(self, size: int = MAX_SESSIONS) -> None:
        self._refs: LRUCache[str, SessionRef] = LRUCache(maxsize=size)

    async def find(
        self, reader: async_sessionmaker[AsyncSession], external_id: str
    ) -> SessionRef | None:
        """The session with that client-given id, if one has been started."""
        ref = self._refs.get(external_id)
        if ref is not None:
            return ref
        async with reader() as db:
            session = await find_external_session(db, external_id)
        return None if session is None else self.remember(session)

    def remember(self, session: ProctoringSession) -> SessionRef:
        """Keep a committed session's reference (the caller vouches that it is committed)."""
        ref = SessionRef(session.id, session.external_id, session.candidate_id,
                         session.created_by_id, session.exam_id)  # fmt: skip
        if session.external_id is not None and session.candidate_id is not None:
            self._refs[session.external_id] = ref
        return ref

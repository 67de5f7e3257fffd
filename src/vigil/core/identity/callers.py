"""Bearer-token callers remembered for a moment.

Every authenticated request reads its token's user (does it still exist, is it disabled,
which role). At an exam's peak that read, and the token's signature check, cost more than
storing a snapshot does, so each process keeps a token's user for `seconds` (default 2,
`VIGIL_AUTH_CACHE_SECONDS`; 0 turns it off). Disabling a user or changing a role
therefore takes effect within that time in other processes, and at once in the process
that made the change: committing a change to a user forgets every remembered caller there
(docs/security.md). Each request gets a fresh detached copy of the user, so no request can
change what another one sees.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from itertools import chain
from typing import Any

from cachetools import TTLCache
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, UOWTransaction, make_transient_to_detached

from vigil.core.identity.models import User
from vigil.core.identity.service import user_and_expiry_from_token

MAX_CALLERS = 100_000
_COLUMNS = tuple(column.key for column in User.__table__.columns)
_live: weakref.WeakSet[CallerCache] = weakref.WeakSet()


class CallerCache:
    def __init__(self, seconds: float, timer: Callable[[], float] = time.monotonic) -> None:
        self._entries: TTLCache[str, tuple[dict[str, Any], float]] | None = (
            TTLCache(maxsize=MAX_CALLERS, ttl=seconds, timer=timer) if seconds > 0 else None
        )
        _live.add(self)

    def forget(self) -> None:
        if self._entries is not None:
            self._entries.clear()

    async def user_from_token(
        self, reader: async_sessionmaker[AsyncSession], secret: str, token: str
    ) -> User:
        """The token's user, as `identity.user_from_token` finds it (Unauthenticated if the
        token is bad or expired, or its user is gone or disabled)."""
        if self._entries is not None:
            remembered = self._entries.get(token)
            if remembered is not None and time.time() < remembered[1]:
                return _copy(remembered[0])
        async with reader() as db:
            user, expires_at = await user_and_expiry_from_token(db, secret, token)
        if self._entries is not None:
            self._entries[token] = ({key: getattr(user, key) for key in _COLUMNS}, expires_at)
        return user


def _copy(columns: dict[str, Any]) -> User:
    user = User(**columns)
    make_transient_to_detached(user)
    return user


_USERS_CHANGED = "vigil.users_changed"


@event.listens_for(Session, "after_flush")
def _note_changed_users(session: Session, _flush: UOWTransaction) -> None:
    # After a flush the session still lists what it flushed as dirty or deleted.
    if any(isinstance(row, User) for row in chain(session.dirty, session.deleted)):
        session.info[_USERS_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _forget_callers_when_users_changed(session: Session) -> None:
    # On commit, not on flush: a request reading the user in between would remember the
    # old row again.
    if session.info.pop(_USERS_CHANGED, False):
        for cache in list(_live):
            cache.forget()

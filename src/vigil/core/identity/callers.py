"""Bearer-token callers remembered for a moment.

Every authenticated request needs its token checked (signature, expiry) and its user read
(does it still exist, is it disabled, which role). In an exam every student sends a
request every few seconds, each with a token of their own; read one by one, those users
cost the event loop more than storing the evidence does. So each process keeps:

- each token it has checked, with its user id and expiry: a token's claims never change,
  so its signature is checked once; its expiry is checked on every use;
- each caller's user row, known current at most `seconds` ago (default 2,
  `VIGIL_AUTH_CACHE_SECONDS`; 0 turns all of this off). Before a row gets that old, a
  background read asks the database whether any user changed since the rows were read
  (`user_changes`, a counter kept by triggers on `users`, read before the rows it vouches
  for): a row read since the last change is current as of that read; the others (rows
  from before a change, and rows read alone, for a caller's first request) of callers
  seen in the last minute, the same read fetches again, in one query. A steady exam hall
  costs one small query a second, not one per request, nor one row per caller a second.
  A row that could not be renewed in time is read for its own request, as a first one is.

Disabling a user or changing a role therefore takes effect within `seconds` in other
processes, and at once in the process that made the change: committing a change to a user
forgets every remembered row there, and a read that began before the change is not kept
(docs/security.md). Each request gets a fresh detached copy of the user, so no request can
change what another one sees.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import structlog
from cachetools import LRUCache
from sqlalchemy import bindparam, event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, UOWTransaction, make_transient_to_detached

from vigil.core.errors import Unauthenticated
from vigil.core.identity.models import User, user_changes
from vigil.core.identity.service import subject_of, user_and_expiry_from_token
from vigil.core.identity.tokens import USER_TOKEN, decode_token
from vigil.storage.db import bare_instance

log = structlog.get_logger("vigil.callers")

MAX_CALLERS = 100_000
IDLE_SECONDS = 60.0  # a caller not seen for this long is no longer read again
REFRESH_BATCH = 500  # user ids per query (SQLite allows 32,766 bound parameters)
_USERS = User.__table__
_COLUMNS = tuple(column.key for column in _USERS.columns)
_ID, _DISABLED = _COLUMNS.index("id"), _COLUMNS.index("disabled")
_VERSION = select(user_changes.c.version)
_live: weakref.WeakSet[CallerCache] = weakref.WeakSet()


@dataclass
class _Row:
    values: tuple[Any, ...]  # in the order of the table's columns
    read_at: float  # the timer's time when the read that found it began
    used_at: float
    version: int | None  # user_changes.version read just before the row; None: read alone


class CallerCache:
    def __init__(self, seconds: float, timer: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._timer = timer
        self._tokens: LRUCache[str, tuple[int, float]] = LRUCache(maxsize=MAX_CALLERS)
        self._rows: dict[int, _Row] = {}
        self._forgotten = 0  # counts `forget` calls: a read begun before one is not kept
        self._refreshing: asyncio.Task[None] | None = None
        _live.add(self)

    def forget(self) -> None:
        self._rows.clear()
        self._forgotten += 1

    async def user_from_token(
        self, reader: async_sessionmaker[AsyncSession], secret: str, token: str
    ) -> User:
        """The token's user, as `identity.user_from_token` finds it (Unauthenticated if the
        token is bad or expired, or its user is gone or disabled)."""
        if self._seconds <= 0:
            async with reader() as db:
                user, _expires_at = await user_and_expiry_from_token(db, secret, token)
            return user
        user_id = self._user_id(secret, token)
        now = self._timer()
        row = self._rows.get(user_id)
        if row is None or now - row.read_at >= self._seconds:
            row = await self._read_one(reader, user_id)
        row.used_at = now
        if now - row.read_at >= self._seconds / 2:
            self._refresh_soon(reader)
        return _copy(row.values)

    async def close(self) -> None:
        """Wait for a read of rows still running (before the engines close)."""
        if self._refreshing is not None:
            await asyncio.gather(self._refreshing, return_exceptions=True)

    def _user_id(self, secret: str, token: str) -> int:
        known = self._tokens.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        claims = decode_token(secret, token, token_type=USER_TOKEN)  # raises if expired
        user_id = subject_of(claims)
        self._tokens[token] = (user_id, float(claims["exp"]))  # type: ignore[arg-type]
        return user_id

    async def _read_one(self, reader: async_sessionmaker[AsyncSession], user_id: int) -> _Row:
        began, forgotten = self._timer(), self._forgotten
        async with reader() as db:
            rows = await _rows_of(db, [user_id])
        found = rows[0] if rows else None
        if found is None or found[_DISABLED]:
            self._rows.pop(user_id, None)
            raise Unauthenticated("token's user no longer exists or is disabled")
        # No counter read here (a statement per first request): the next renewal reads
        # the row again with the others, as one it cannot vouch for.
        row = _Row(found, read_at=began, used_at=began, version=None)
        if forgotten == self._forgotten:
            self._rows[user_id] = row
        return row

    def _refresh_soon(self, reader: async_sessionmaker[AsyncSession]) -> None:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh(reader))

    async def _refresh(self, reader: async_sessionmaker[AsyncSession]) -> None:
        began, forgotten = self._timer(), self._forgotten
        for user_id, row in list(self._rows.items()):
            if began - row.used_at > IDLE_SECONDS:
                self._rows.pop(user_id, None)
        kept = list(self._rows.items())
        try:
            async with reader() as db:
                # The counter first: a change committed after it is seen next time.
                version = await db.scalar(_VERSION)
                stale = [user_id for user_id, row in kept if not _current(row, version)]
                found: list[tuple[Any, ...]] = []
                for start in range(0, len(stale), REFRESH_BATCH):
                    found += await _rows_of(db, stale[start : start + REFRESH_BATCH])
        except Exception as exc:  # each request reads its own row once this one is too old
            log.warning("could not read callers again", count=len(kept), error=repr(exc))
            return
        if forgotten != self._forgotten:
            return
        current = {values[_ID]: values for values in found if not values[_DISABLED]}
        for user_id, row in kept:
            if self._rows.get(user_id) is not row:  # gone, or read again meanwhile
                continue
            if _current(row, version):
                row.read_at = max(row.read_at, began)
            elif user_id in current:
                row.values, row.read_at, row.version = current[user_id], began, version
            else:
                self._rows.pop(user_id, None)


def _current(row: _Row, version: int | None) -> bool:
    """No user has changed since the row was read."""
    return version is not None and row.version == version


async def _rows_of(db: AsyncSession, user_ids: Sequence[int]) -> list[tuple[Any, ...]]:
    result = await db.execute(_ROWS_OF, {"b_user_ids": user_ids})
    return [tuple(values) for values in result]


# Built once: a statement built per call pays for building it and for its cache key.
_ROWS_OF = select(_USERS).where(_USERS.c.id.in_(bindparam("b_user_ids", expanding=True)))


def _copy(values: tuple[Any, ...]) -> User:
    # Every request gets its own instance, detached, with nothing marked changed.
    user = bare_instance(User, zip(_COLUMNS, values, strict=True))
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

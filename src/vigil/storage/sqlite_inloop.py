"""SQLite driven from the event loop's own thread, for SQLAlchemy's aiosqlite dialect.

aiosqlite runs every call (execute, fetch, close, commit) on a thread of its own and hands
the result back through the event loop: a thread hop and a loop wake-up per call, about a
dozen per request, and between any two statements of a transaction the loop runs other
requests while this one holds SQLite's single write lock. A SQLite statement on a local
file takes microseconds, less than the hop, so here statements run where they are awaited
and a transaction's statements run back to back.

Only what can wait runs on a thread, and only when it has to: a `BEGIN` that finds the
write lock taken (by another process or connection) waits for it there, up to the busy
timeout; and the `COMMIT` of a transaction that changed rows (its fsync). A `BEGIN` that
gets the lock at once, and the `COMMIT` of a transaction that only read, stay on the loop.
Each connection has one such thread, so a connection is used by one thread at a time.

The object returned by `connect` offers the part of `aiosqlite.Connection` that
SQLAlchemy's aiosqlite adapter uses (`sqlalchemy.connectors.asyncio`); it is passed to
`create_async_engine(async_creator=...)`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class InLoopCursor:
    def __init__(self, connection: InLoopConnection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor

    async def __aenter__(self) -> InLoopCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InLoopCursor:
        if sql.lstrip()[:5].upper() == "BEGIN":
            await self._connection.begin(self._cursor, sql, parameters)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> InLoopCursor:
        self._cursor.executemany(sql, rows)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class InLoopConnection:
    def __init__(self, connection: sqlite3.Connection, busy_timeout_ms: int) -> None:
        # SQLAlchemy's adapter checks `_connection` to tell an open connection.
        self._connection: sqlite3.Connection | None = connection
        self._busy_timeout_ms = busy_timeout_ms
        self._changes_at_begin = 0
        self._waits = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigil-sqlite")

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    def cursor(self) -> InLoopCursor:
        return InLoopCursor(self, self._open().cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InLoopCursor:
        return await self.cursor().execute(sql, parameters)

    async def begin(self, cursor: sqlite3.Cursor, sql: str, parameters: Sequence[Any]) -> None:
        # The connection's own busy timeout is 0 (see `connector`): a taken lock fails here
        # at once, and the wait for it runs on the thread.
        try:
            cursor.execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            await self.off_loop(self._begin_waiting, cursor, sql, parameters)
        self._changes_at_begin = self._open().total_changes

    def _begin_waiting(self, cursor: sqlite3.Cursor, sql: str, parameters: Sequence[Any]) -> None:
        connection = self._open()
        connection.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        try:
            cursor.execute(sql, parameters)
        finally:
            connection.execute("PRAGMA busy_timeout=0")

    async def commit(self) -> None:
        connection = self._open()
        if not connection.in_transaction:
            return
        if connection.total_changes == self._changes_at_begin:
            connection.commit()  # nothing written: nothing to fsync
        else:
            await self.off_loop(connection.commit)

    async def rollback(self) -> None:
        self._open().rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._waits.shutdown(wait=False)

    async def off_loop(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._waits, call, *args)

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        return self._connection


def connector(
    path: str, pragmas: Sequence[str], busy_timeout_ms: int, *, writer: bool
) -> Callable[[], Any]:
    """An `async_creator`: a connection in autocommit mode (SQLAlchemy issues BEGIN
    itself), with `pragmas` applied. A reader's statements wait up to `busy_timeout_ms`
    for a lock where they run; a `writer` waits only in its BEGIN, off the loop."""

    async def connect() -> InLoopConnection:
        connection = sqlite3.connect(
            path,
            isolation_level=None,
            check_same_thread=False,
            timeout=busy_timeout_ms / 1000,
        )
        for pragma in pragmas:
            connection.execute(pragma)
        if writer:
            # Every writer transaction opens with a BEGIN that takes the write lock: once it
            # has it, no later statement of the transaction waits for a lock. Without a
            # timeout of its own, that BEGIN fails at once where it would wait, and only
            # then waits on the thread (`InLoopConnection.begin`): no PRAGMA pair around
            # every BEGIN on the loop (each statement lets other threads take the GIL).
            connection.execute("PRAGMA busy_timeout=0")
        return InLoopConnection(connection, busy_timeout_ms)

    return connect

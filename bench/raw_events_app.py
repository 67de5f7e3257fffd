"""The raw baseline for bench_events.py: one Starlette endpoint, one INSERT + COMMIT.

It writes the same row Vigil's `POST /events/` writes into the same `proctoring_events`
table (a database made by `vigil migrate`), with the PRAGMAs of src/vigil/storage/db.py:
journal_mode=WAL, synchronous=FULL, foreign_keys=ON, busy_timeout=30000, and every
transaction opened with BEGIN IMMEDIATE. Per request it also does what is cheap to copy
from Vigil: it decodes and checks the HS256 bearer token with PyJWT (same options) and
validates the three query parameters. It does NOT look the user up, check the session's
owner or status, or update the session's risk score.

Configured by environment variables, set by bench_events.py:

- RAW_DB_PATH: the SQLite file.
- RAW_SECRET: the HS256 key the bench signs its tokens with.
- RAW_MODE: "lock" (default) keeps ONE aiosqlite connection and lets one request at a time
  use it (an asyncio.Lock), the usual way to drive a single SQLite writer; "pool" keeps
  RAW_POOL_SIZE connections (default 15, what SQLAlchemy's default pool allows: 5 + 10
  overflow) and lets concurrent requests race for SQLite's write lock through busy_timeout,
  the way Vigil's engine does.

Run it with uvicorn:  uvicorn raw_events_app:app --app-dir bench
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiosqlite
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DB_PATH = os.environ.get("RAW_DB_PATH", "raw.db")
SECRET = os.environ.get("RAW_SECRET", "")
MODE = os.environ.get("RAW_MODE", "lock")
POOL_SIZE = int(os.environ.get("RAW_POOL_SIZE", "15"))
SOURCE = "proctorbe"

INSERT = (
    "INSERT INTO proctoring_events (session_id, type, severity, source, occurred_at, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


async def _connect() -> aiosqlite.Connection:
    db = await aiosqlite.connect(DB_PATH, timeout=30, isolation_level=None)
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=FULL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA busy_timeout=30000",
    ):
        await db.execute(pragma)
    return db


class Writer:
    """Hands out a connection: the single one under a lock, or a free one of the pool."""

    def __init__(self) -> None:
        self.connections: list[aiosqlite.Connection] = []
        self.free: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self.lock = asyncio.Lock()

    async def open(self) -> None:
        for _ in range(1 if MODE == "lock" else POOL_SIZE):
            db = await _connect()
            self.connections.append(db)
            self.free.put_nowait(db)

    async def close(self) -> None:
        for db in self.connections:
            await db.close()

    async def insert(self, session_id: int, event_type: str, severity: int) -> tuple[int, str]:
        if MODE == "lock":
            async with self.lock:
                return await self._insert(self.connections[0], session_id, event_type, severity)
        db = await self.free.get()
        try:
            return await self._insert(db, session_id, event_type, severity)
        finally:
            self.free.put_nowait(db)

    @staticmethod
    async def _insert(
        db: aiosqlite.Connection, session_id: int, event_type: str, severity: int
    ) -> tuple[int, str]:
        # SQLAlchemy's SQLite DateTime format, so the rows look like Vigil's.
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        await db.execute("BEGIN IMMEDIATE")
        try:
            cursor = await db.execute(INSERT, (session_id, event_type, severity, SOURCE, now, now))
            event_id = cursor.lastrowid
            await cursor.close()
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        assert event_id is not None
        return event_id, now


writer = Writer()


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


async def log_event(request: Request) -> JSONResponse:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _error(401, "not authenticated: send a bearer token")
    try:
        claims = jwt.decode(
            token, SECRET, algorithms=["HS256"], options={"require": ["sub", "exp", "typ"]}
        )
    except jwt.PyJWTError:
        return _error(401, "token is invalid")
    if claims.get("typ") != "user":
        return _error(401, "token is not valid here")
    try:
        session_id = int(request.query_params["session_id"])
        severity = int(request.query_params.get("severity", "1"))
        event_type = request.query_params["event_type"].strip().upper()
    except (KeyError, ValueError):
        return _error(422, "bad query parameters")
    if session_id < 1 or not 0 <= severity <= 10 or not 0 < len(event_type) <= 64:
        return _error(422, "bad query parameters")
    event_id, now = await writer.insert(session_id, event_type, severity)
    return JSONResponse(
        {
            "id": event_id,
            "session_id": session_id,
            "event_type": event_type,
            "severity": severity,
            "timestamp": now.replace(" ", "T") + "Z",
            "source": SOURCE,
        }
    )


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "mode": MODE, "connections": len(writer.connections)})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await writer.open()
    try:
        yield
    finally:
        await writer.close()


app = Starlette(
    routes=[
        Route("/events/", log_event, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ],
    lifespan=lifespan,
)

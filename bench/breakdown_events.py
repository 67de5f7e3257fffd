"""Where one `POST /events/` spends its CPU: an in-process companion to bench_events.py.

    .venv/bin/python bench/breakdown_events.py [--requests 300]

It builds Vigil's real app (create_app) on a throw-away data dir, drives it sequentially
through httpx's in-process ASGI transport (no sockets, one request at a time, so no lock
waits) and reports the event-loop thread's CPU time (time.thread_time) per request for:

- the whole POST /events/ (including the in-process httpx client's own share);
- GET / (no database: FastAPI routing, middleware, response model, and the client);
- a 401 POST /events/ (everything up to the failing JWT check);
- the core call alone (user_from_token + record_event + commit, no HTTP);
- the JWT decode alone;
- inside the core call, the CPU between consecutive SQL statements, taken from
  SQLAlchemy's before_cursor_execute/commit events, so each line is "the ORM work and
  the aiosqlite round trip of this statement, up to the next one";
- and, for scale, a bare sqlite3 loop of BEGIN IMMEDIATE + INSERT + COMMIT on the same
  database with synchronous=FULL, then NORMAL (the fsync per commit).

The aiosqlite worker threads' CPU (SQLite itself, fsync's system time) is reported apart.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib.util
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_events import PASSWORD, VIGIL, vigil_env, vigil_source  # noqa: E402


def thread_cpu_others() -> float:
    """CPU seconds of every thread of this process except the current one."""
    me = str(os.getpid())
    total = 0.0
    for task in Path("/proc/self/task").iterdir():
        if task.name == me:
            continue
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def measure(label: str, n: int, action: Callable[[], Awaitable[None]]) -> None:
    for _ in range(20):
        await action()
    wall, main, others = time.perf_counter(), time.thread_time(), thread_cpu_others()
    for _ in range(n):
        await action()
    wall = (time.perf_counter() - wall) / n * 1000
    main = (time.thread_time() - main) / n * 1000
    others = (thread_cpu_others() - others) / n * 1000
    print(
        f"{label:52s} {wall:7.2f} ms wall  {main:6.2f} ms loop-thread CPU  "
        f"{others:5.2f} ms other threads"
    )


async def run(data_dir: Path, n: int) -> None:
    os.environ["VIGIL_DATA_DIR"] = str(data_dir)
    print(f"Vigil imported from {Path(importlib.util.find_spec('vigil').origin).parent}")
    from vigil.app import create_app
    from vigil.core.events import service as events
    from vigil.core.identity import service as identity
    from vigil.core.identity.tokens import decode_token
    from vigil.settings import Settings

    settings = Settings()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def login(email: str) -> str:
                form = {"username": email, "password": PASSWORD}
                return str((await client.post("/auth/login", data=form)).json()["access_token"])

            admin = {"Authorization": f"Bearer {await login('admin@b.org')}"}
            exam = (await client.post("/exams/", params={"title": "Bench"}, headers=admin)).json()
            student = {"email": "s@b.org", "password": PASSWORD, "role": "student"}
            (await client.post("/auth/register", json=student)).raise_for_status()
            token = await login("s@b.org")
            bearer = {"Authorization": f"Bearer {token}"}
            started = await client.post(
                "/sessions/start", params={"exam_id": exam["id"]}, headers=bearer
            )
            session_id = started.json()["session_id"]
            url = f"/events/?session_id={session_id}&event_type=TAB_SWITCH&severity=1"

            async def full() -> None:
                assert (await client.post(url, headers=bearer)).status_code == 200

            async def root() -> None:
                assert (await client.get("/")).status_code == 200

            async def rejected() -> None:
                bad = {"Authorization": "Bearer not-a-token"}
                assert (await client.post(url, headers=bad)).status_code == 401

            async def core() -> None:
                async with runtime.sessionmaker() as db:
                    user = await identity.user_from_token(db, settings.signing_key, token)
                    await events.record_event(
                        db, user, session_id, event_type="TAB_SWITCH", severity=1, source="x"
                    )
                    await db.commit()

            async def jwt_only() -> None:
                decode_token(settings.signing_key, token, token_type="user")

            print(f"{n} sequential requests each, after 20 unmeasured ones\n")
            await measure("POST /events/ (HTTP in-process, incl. client)", n, full)
            await measure("GET / (no database)", n, root)
            await measure("POST /events/ with a bad token (401)", n, rejected)
            await measure("core: user_from_token + record_event + commit", n, core)
            await measure("JWT decode alone", n, jwt_only)

            # Per statement, inside the core call.
            spent: dict[str, float] = collections.defaultdict(float)
            marks: list[tuple[str, float]] = []
            engine = runtime.engine.sync_engine

            def on_execute(_c: Any, _cur: Any, statement: str, *_args: Any) -> None:
                marks.append((" ".join(statement.split()[:4])[:48], time.thread_time()))

            def on_commit(_c: Any) -> None:
                marks.append(("COMMIT", time.thread_time()))

            event.listen(engine, "before_cursor_execute", on_execute)
            event.listen(engine, "commit", on_commit)
            for _ in range(n):
                marks.clear()
                begin = time.thread_time()
                await core()
                end = time.thread_time()
                points = [
                    ("start: new session, JWT decode, pool checkout", begin),
                    *marks,
                    ("", end),
                ]
                for (label, at), (_, after) in zip(points, points[1:], strict=False):
                    spent[label] += after - at
            event.remove(engine, "before_cursor_execute", on_execute)
            event.remove(engine, "commit", on_commit)
            print("\nloop-thread CPU of the core call, from each step to the next:")
            for label, seconds in spent.items():
                print(f"  {label:48s} {seconds / n * 1000:6.3f} ms")
            print(f"  {'total':48s} {sum(spent.values()) / n * 1000:6.3f} ms")
            bare_commits(data_dir / "vigil.db", session_id, n)


def bare_commits(db_path: Path, session_id: int, n: int) -> None:
    """The floor under any server: one INSERT + COMMIT per loop, plain sqlite3, no threads."""
    db = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    try:
        for synchronous in ("FULL", "NORMAL"):
            for pragma in ("journal_mode=WAL", f"synchronous={synchronous}", "foreign_keys=ON"):
                db.execute(f"PRAGMA {pragma}")
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(n):
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "INSERT INTO proctoring_events (session_id, type, severity, source,"
                    " occurred_at, created_at) VALUES (?, 'TAB_SWITCH', 1, 'x', ?, ?)",
                    (session_id, "2026-01-01 00:00:00.000000", "2026-01-01 00:00:00.000000"),
                )
                db.execute("COMMIT")
            wall = (time.perf_counter() - wall) / n * 1000
            cpu = (time.process_time() - cpu) / n * 1000
            print(
                f"bare sqlite3 BEGIN IMMEDIATE + INSERT + COMMIT, synchronous={synchronous:6s} "
                f"{wall:6.3f} ms wall  {cpu:6.3f} ms CPU  (~{1000 / wall:.0f} commits/s)"
            )
    finally:
        db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="measured requests per line")
    parser.add_argument(
        "--vigil-ref", help="measure src/ of this git ref (e.g. HEAD) instead of the working tree"
    )
    args = parser.parse_args()
    if not 1 <= args.requests <= 10_000:
        parser.error("--requests must be in [1, 10000]")
    data_dir = Path(tempfile.mkdtemp(prefix="vigil-breakdown-"))
    try:
        src, label = vigil_source(data_dir, args.vigil_ref)
        print(f"Vigil: {label}")
        if src is not None:
            sys.path.insert(0, str(src))
        env = vigil_env(data_dir, src)
        for command in (
            ["migrate"],
            ["users", "create", "--login", "admin@b.org", "--email", "admin@b.org",
             "--password", PASSWORD, "--role", "admin"],
        ):  # fmt: skip
            subprocess.run([str(VIGIL), *command], env=env, check=True, capture_output=True)
        asyncio.run(run(data_dir, args.requests))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CPU of one background renewal of the remembered callers (core/identity/callers.py), for
N callers in a migrated SQLite database: when no user has changed since the last renewal
(one read of the users' change counter), against the same renewal with every row read
again (what each renewal did before the counter, and what it still does after a change),
alternating in the same run. Also the CPU of a caller's first request (its row read
alone), per caller, as every student's session start pays it.

    .venv/bin/python bench/caller_renewal.py [--callers 2500] [--renewals 20] [--rounds 2]

A renewal runs about once a second per process while callers keep coming (when their
rows are half as old as VIGIL_AUTH_CACHE_SECONDS), on the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker

from vigil.core.identity.callers import CallerCache
from vigil.core.identity.models import Role, User
from vigil.settings import async_database_url
from vigil.storage import migrate
from vigil.storage.db import create_engine


async def measure(url: str, callers: int, renewals: int, rounds: int) -> dict[str, list[float]]:
    engine = create_engine(url, read_only=True)
    reader = async_sessionmaker(engine, expire_on_commit=False)
    writer_engine = create_engine(url)
    async with async_sessionmaker(writer_engine)() as db:
        db.add_all(
            User(login=f"student{k}", email=f"student{k}@bench.dev", role=Role.STUDENT)
            for k in range(callers)
        )
        await db.commit()
    await writer_engine.dispose()
    cache = CallerCache(2.0)
    started = time.thread_time()
    for user_id in range(1, callers + 1):
        await cache._read_one(reader, user_id)
    first_reads = (time.thread_time() - started) * 1000 / callers
    await cache._refresh(reader)  # the first renewal vouches for the rows read alone
    unchanged, reread = "counter unchanged", "every row read again"
    spent: dict[str, list[float]] = {unchanged: [], reread: []}
    for _ in range(rounds):
        for label in (unchanged, reread):
            for _ in range(renewals):
                if label == reread:
                    for row in cache._rows.values():
                        row.version = None
                started = time.thread_time()
                await cache._refresh(reader)
                spent[label].append((time.thread_time() - started) * 1000)
    await engine.dispose()
    return {"a caller's first read (per caller)": [first_reads]} | spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=2500)
    parser.add_argument("--renewals", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = async_database_url(f"sqlite:///{Path(folder) / 'vigil.db'}")
        migrate.upgrade(url)
        spent = asyncio.run(measure(url, args.callers, args.renewals, args.rounds))
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.callers} callers")
    print("| what | median CPU ms | p90 CPU ms |")
    print("|---|---:|---:|")
    for label, values in spent.items():
        p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
        print(f"| {label} | {statistics.median(values):.2f} | {p90:.2f} |")


if __name__ == "__main__":
    main()

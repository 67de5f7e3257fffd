"""The SQLite driver that runs statements on the event loop: transactions commit and roll
back like any driver's, and a writer waiting for another connection's lock does not stall
the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy import text

from vigil.storage.db import create_engine


def url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def make_table(path: Path) -> None:
    engine = create_engine(url(path))
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    await engine.dispose()


def rows(path: Path) -> list[str]:
    with sqlite3.connect(path) as reader:
        return [body for (body,) in reader.execute("SELECT body FROM notes ORDER BY id")]


def test_committed_rows_are_there_and_rolled_back_ones_are_not(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite"

    async def main() -> None:
        await make_table(database)
        engine = create_engine(url(database))
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
        async with engine.connect() as connection:
            await connection.execute(text("INSERT INTO notes (body) VALUES ('dropped')"))
            await connection.rollback()
        async with engine.begin() as connection:  # a transaction that only reads
            count = await connection.scalar(text("SELECT count(*) FROM notes"))
            assert count == 1
        await engine.dispose()

    asyncio.run(main())
    assert rows(database) == ["kept"]


def test_a_writer_waits_for_another_connections_lock_off_the_loop(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite"
    asyncio.run(make_table(database))
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock

    async def main() -> int:
        engine = create_engine(url(database))
        ticks = 0

        async def write() -> None:
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO notes (body) VALUES ('waited')"))

        writer = asyncio.create_task(write())
        while ticks < 20:  # the loop keeps serving while the writer waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not writer.done()
        other.execute("INSERT INTO notes (body) VALUES ('first')")
        other.execute("COMMIT")
        await asyncio.wait_for(writer, timeout=30)
        await engine.dispose()
        return ticks

    assert asyncio.run(main()) == 20
    other.close()
    assert rows(database) == ["first", "waited"]

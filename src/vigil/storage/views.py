"""Files derived from the database, written only after the transaction that justifies
them commits: each by a temporary file, fsync, and an atomic rename.

A service queues a write with `after_commit(db, path, document)`; whoever owns the
transaction (the request dependency, a CLI command) calls `write_pending(db)` once the
commit went through. A rolled-back transaction writes nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vigil.jobs import send_committed

PENDING = "vigil.pending_files"


def after_commit(db: AsyncSession, path: Path, document: Any) -> None:
    """Write `document` as JSON to `path` once `db` commits (a later write to the same path
    in the same transaction replaces an earlier one)."""
    pending: dict[Path, Any] = db.info.setdefault(PENDING, {})
    pending.pop(path, None)
    pending[path] = document


def discard_pending(db: AsyncSession) -> None:
    db.info.pop(PENDING, None)


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends, rolled back on any exception; the
    files it queued are written after the commit, and dropped with a rollback. Jobs leave
    once the transaction that asked for them committed (an earlier commit inside the block
    counts: see vigil.jobs)."""
    async with sessionmaker() as db:
        try:
            yield db
            await db.commit()
        except BaseException:
            await db.rollback()
            discard_pending(db)
            await send_committed(db)
            raise
        await write_pending(db)
        await send_committed(db)


async def write_pending(db: AsyncSession) -> None:
    pending: dict[Path, Any] = db.info.pop(PENDING, {})
    if pending:
        await asyncio.to_thread(_write_all, pending)


def _write_all(pending: dict[Path, Any]) -> None:
    for path, document in pending.items():
        write_json_atomically(path, document)


def write_json_atomically(path: Path, document: Any) -> None:
    data = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)

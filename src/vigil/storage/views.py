"""Files derived from the database, put in place only after the transaction that justifies
them commits: each written to a temporary file in its directory, fsynced, and renamed over
the old one (atomic: a reader sees the old file or the new one, never half of one).

A service queues a file with `after_commit(db, path, document)`; the owner of the
transaction (the request dependency, a CLI command, the sweeper) runs `unit_of_work`,
which commits and then renames the files into place. A rolled-back transaction leaves
nothing behind.

The latency of an autosave is mostly fsyncs, so the temporary copies are written and
fsynced on a thread while the commit's own fsync runs, the renames follow on that thread
once the commit went through, and the directories are not fsynced after the rename: the
committed rows are the durable record, and `vigil serve` renders every file again from
them before it starts serving (core/attempts/jobs.py), so a rename lost to a power cut,
or a file a crash left behind, is put right there.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import tempfile
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vigil.jobs import send_committed

log = structlog.get_logger("vigil.views")

PENDING = "vigil.pending_files"
WRITE_BEHIND = "vigil.files_write_behind"

# Transactions that commit one after another may finish their renames out of order; each
# file keeps the version of the latest commit that wrote it.
_commit_order = itertools.count()
_published: dict[Path, int] = {}
_publishing = threading.Lock()
# Waits on fsync and on the file system's journal, off the event loop's default executor.
_IO = ThreadPoolExecutor(max_workers=8, thread_name_prefix="vigil-views")
# The single files' writes, handed out by an `_IO` thread (never waiting on `_IO` itself).
_FSYNCS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="vigil-views-fsync")


# Writes that finish after their answer left (write_behind); `drain` waits for them.
_behind: set[asyncio.Future[None]] = set()


def write_behind(db: AsyncSession) -> None:
    """Let this transaction's answer leave once its rows are committed, before its files
    are in place (they follow within milliseconds, in commit order). For autosave: the
    files' fsyncs were most of its latency, and the database is the record."""
    db.info[WRITE_BEHIND] = True


async def drain() -> None:
    """Wait until every file written behind an answer is in place (shutdown, tests)."""
    while _behind:
        await asyncio.gather(*list(_behind), return_exceptions=True)


def after_commit(db: AsyncSession, path: Path, document: Any) -> None:
    """Write `document` as JSON to `path` once `db` commits (a later write to the same path
    in the same transaction replaces an earlier one)."""
    pending: dict[Path, Any] = db.info.setdefault(PENDING, {})
    pending.pop(path, None)
    pending[path] = document


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends, rolled back on any exception; the
    files it queued are put in place after the commit, and dropped with a rollback. Jobs
    leave once the transaction that asked for them committed (an earlier commit inside the
    block counts: see vigil.jobs)."""
    async with sessionmaker() as db:
        try:
            yield db
        except BaseException:
            await db.rollback()
            db.info.pop(PENDING, None)
            await send_committed(db)
            raise
        await commit_and_write(db)
        await send_committed(db)


async def commit_and_write(db: AsyncSession) -> None:
    pending: dict[Path, Any] = db.info.pop(PENDING, {})
    if not pending:
        await db.commit()
        return
    # Taken while the transaction still holds its rows: commits of the same file are
    # ordered (on SQLite by the one writer, on PostgreSQL by the rows' locks).
    order = next(_commit_order)
    verdict = _Verdict()
    writing = asyncio.get_running_loop().run_in_executor(
        _IO, _stage_then_publish, pending, order, verdict
    )
    committed = False
    try:
        await db.commit()
        committed = True
    finally:
        verdict.give(committed)
    if db.info.pop(WRITE_BEHIND, False):
        _behind.add(writing)
        writing.add_done_callback(_written_behind)
        return
    await writing


def _written_behind(writing: asyncio.Future[None]) -> None:
    _behind.discard(writing)
    if not writing.cancelled() and writing.exception() is not None:
        log.error("a file written behind its answer failed", error=repr(writing.exception()))


async def write_pending(db: AsyncSession) -> None:
    """Put the queued files in place after a commit made by the caller itself."""
    pending: dict[Path, Any] = db.info.pop(PENDING, {})
    if pending:
        verdict = _Verdict()
        verdict.give(True)
        await asyncio.get_running_loop().run_in_executor(
            _IO, _stage_then_publish, pending, next(_commit_order), verdict
        )


class _Verdict:
    """Whether the transaction behind some files committed, told across threads."""

    def __init__(self) -> None:
        self._given = threading.Event()
        self._committed = False

    def give(self, committed: bool) -> None:
        self._committed = committed
        self._given.set()

    def wait(self) -> bool:
        self._given.wait()
        return self._committed


def _stage_then_publish(pending: dict[Path, Any], order: int, verdict: _Verdict) -> None:
    """On a thread: write and fsync the temporary copies while the commit runs, then, once
    it went through, rename them into place (a rename can wait on the file system's
    journal: not on the event loop)."""
    # Each file on a thread of its own: their fsyncs run side by side (the file system
    # folds them into one journal commit) instead of one after the other.
    writes = [(path, _FSYNCS.submit(_stage, path, _encode(doc))) for path, doc in pending.items()]
    staged: list[tuple[Path, Path]] = []
    failure: BaseException | None = None
    for path, write in writes:
        try:
            staged.append((write.result(), path))
        except BaseException as exc:
            failure = failure or exc
    if failure is not None:
        verdict.wait()
        _discard(staged)
        raise failure
    if not verdict.wait():
        _discard(staged)
        return
    with _publishing:
        for temporary, path in staged:
            if _published.get(path, -1) > order:
                temporary.unlink(missing_ok=True)  # a later commit's version is in place
                continue
            os.replace(temporary, path)
            _published[path] = order


def _discard(staged: list[tuple[Path, Path]]) -> None:
    for temporary, _path in staged:
        temporary.unlink(missing_ok=True)


def write_json_atomically(path: Path, document: Any) -> None:
    os.replace(_stage(path, _encode(document)), path)


def rewrite_if_changed(path: Path, document: Any) -> bool:
    """Write `document` unless `path` already holds exactly it; True when written."""
    data = _encode(document)
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    os.replace(_stage(path, data), path)
    return True


def _stage(path: Path, data: bytes) -> Path:
    """`data` in a fsynced temporary file beside `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def _encode(document: Any) -> bytes:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False).encode()

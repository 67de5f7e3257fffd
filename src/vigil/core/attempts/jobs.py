"""Background work on attempts.

- `sweep_forever`: submits attempts whose time ran out. It runs in every server process,
  every `VIGIL_ATTEMPT_SWEEP_SECONDS`; it owns its transaction, and writes the files after
  the commit like a request does.
- `rebuild_views`: renders every attempt file from the database; `vigil serve` runs it
  once before any worker starts (their directories are not fsynced: storage/views.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vigil.core.attempts.service import all_views, finish_due
from vigil.storage import views

log = structlog.get_logger("vigil.attempts")


async def finish_due_once(sessionmaker: async_sessionmaker[AsyncSession], data_dir: Path) -> int:
    async with views.unit_of_work(sessionmaker) as db:
        count = await finish_due(db, data_dir)
    if count:
        log.info("submitted attempts whose time ran out", count=count)
    return count


async def sweep_forever(
    sessionmaker: async_sessionmaker[AsyncSession], data_dir: Path, interval: float
) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await finish_due_once(sessionmaker, data_dir)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed sweep is retried at the next tick
            log.exception("attempt sweep failed")


async def rebuild_views(sessionmaker: async_sessionmaker[AsyncSession], data_dir: Path) -> int:
    """Remove temporaries left by a killed writer, then write every file that differs
    from what the database says; returns how many were written. Run it only while no
    server process writes these files."""
    async with sessionmaker() as db:
        documents = await all_views(db, data_dir)
    return await asyncio.to_thread(_rewrite, data_dir, documents)


def _rewrite(data_dir: Path, documents: dict[Path, object]) -> int:
    leftovers = list(data_dir.glob(".manifest.json.*.tmp"))
    for folder in ("attempts", "output", "progress"):
        leftovers += (data_dir / folder).rglob(".*.tmp")
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    written = sum(views.rewrite_if_changed(path, document) for path, document in documents.items())
    if leftovers or written:
        log.info("attempt files rebuilt from the database", written=written, swept=len(leftovers))
    return written

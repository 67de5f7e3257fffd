"""`attempts.finish_due`: the sweeper that submits attempts whose time ran out.

It runs in every server process, every `VIGIL_ATTEMPT_SWEEP_SECONDS`; it owns its
transaction, and writes the files after the commit like a request does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vigil.core.attempts.service import finish_due
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

"""Group commit for evidence rows: the uploads that arrive while one transaction commits
share the next one, and with it one fsync.

An upload whose row needs nothing else in its transaction (a SUSIE audio chunk or snapshot)
hands the row to the ledger instead of opening a transaction of its own. The ledger is the
edge that owns these transactions (DESIGN §9.2): it inserts every waiting row in one
statement, commits, and only then answers each waiting upload with its row's id, so an
acknowledgement still means "committed". Jobs for the rows leave after that commit.

If a batch breaks a unique rule (a retry racing its own first attempt), the rows are
committed again one by one, so that only the row at fault is refused (`SlotTaken`).
"""

from __future__ import annotations

from asyncio import Future
from collections.abc import Sequence
from typing import Any

import structlog
from prometheus_client import Histogram
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from vigil.core.evidence.jobs import job_for
from vigil.core.evidence.models import Evidence, EvidenceKind
from vigil.jobs import JobQueue
from vigil.storage.batches import Batches, settle

log = structlog.get_logger("vigil.evidence")

MAX_BATCH = 256
BATCH_ROWS = Histogram(
    "vigil_evidence_commit_rows",
    "Evidence rows committed together by the ledger (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
# Rows come back matched by blob key (unique), not by order: RETURNING rows in parameter
# order would make SQLAlchemy send one INSERT per row on SQLite (no ordering sentinel
# there), and every statement run on the event loop also hands the GIL to the blob threads.
_INSERT = insert(Evidence).returning(Evidence.blob_key, Evidence.id)


class SlotTaken(Exception):
    """The row's (session, kind, stream, chunk index) or blob key is already recorded."""


class EvidenceLedger:
    def __init__(
        self,
        engine: AsyncEngine,
        reader: async_sessionmaker[AsyncSession],
        jobs: JobQueue | None,
    ) -> None:
        self._engine = engine
        self._reader = reader
        self._jobs = jobs
        self._batches: Batches[Evidence, int] = Batches(self._commit, MAX_BATCH)

    async def record(self, row: Evidence) -> int:
        """Commit `row` (a new, unattached Evidence) and return its id once it is durable.
        An upload whose client went away still has its row committed, so the client's
        retry finds it instead of a blob without a row."""
        return await self._batches.submit(row)

    async def find(
        self, session_id: int, kind: EvidenceKind, stream: str, chunk_index: int
    ) -> Evidence | None:
        """The committed row in that slot, if any (read outside any write transaction)."""
        async with self._reader() as db:
            return await db.scalar(
                select(Evidence).where(
                    Evidence.session_id == session_id,
                    Evidence.kind == kind,
                    Evidence.stream == stream,
                    Evidence.chunk_index == chunk_index,
                )
            )

    async def close(self) -> None:
        """Wait until every row handed over so far is committed or refused."""
        await self._batches.close()

    async def _commit(self, batch: list[tuple[Evidence, Future[int]]]) -> None:
        BATCH_ROWS.observe(len(batch))
        try:
            ids = await self._insert([row for row, _ in batch])
        except IntegrityError:
            for row, future in batch:
                await self._commit_alone(row, future)
            return
        except Exception as exc:
            log.error("evidence rows could not be committed", count=len(batch), error=repr(exc))
            for _, future in batch:
                settle(future, exception=exc)
            return
        for (row, future), row_id in zip(batch, ids, strict=True):
            row.id = row_id
            settle(future, result=row_id)
        await self._send_jobs([row for row, _ in batch])

    async def _commit_alone(self, row: Evidence, future: Future[int]) -> None:
        try:
            (row_id,) = await self._insert([row])
        except IntegrityError:
            settle(future, exception=SlotTaken(row.blob_key))
            return
        except Exception as exc:
            settle(future, exception=exc)
            return
        row.id = row_id
        settle(future, result=row_id)
        await self._send_jobs([row])

    async def _insert(self, rows: Sequence[Evidence]) -> list[int]:
        values = [_values(row) for row in rows]
        async with self._engine.begin() as connection:
            ids: dict[str, int] = dict((await connection.execute(_INSERT, values)).all())
        return [ids[row.blob_key] for row in rows]

    async def _send_jobs(self, rows: Sequence[Evidence]) -> None:
        if self._jobs is None:
            return
        try:
            await self._jobs.send([job_for(row) for row in rows])
        except Exception as exc:  # the rows stay pending: the next requeue sends them
            log.warning("could not send jobs; they stay pending", count=len(rows), error=str(exc))


_COLUMNS = tuple(column.key for column in Evidence.__table__.columns if column.key != "id")


def _values(row: Evidence) -> dict[str, Any]:
    # Attributes left unset fall back to the columns' defaults in the INSERT.
    state = row.__dict__
    return {key: state[key] for key in _COLUMNS if key in state}

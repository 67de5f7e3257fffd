"""Group commit for short units of work: the requests that arrive while one transaction
commits share the next one, its commit and its fsync.

A request whose whole write is a few statements (a SUSIE session start or end, a browser
event) hands its unit of work here instead of opening a transaction of its own. On SQLite,
where all writes go through one connection, a batch holds that connection once instead of
once per request, and waits for one fsync instead of one each. Every request is answered
only after the transaction that holds its unit committed (DESIGN §9.2: the edge owns the
transaction; this is an edge shared by the requests of a moment).

A unit of work only reads and writes the database: it must not wait on the network or on
anything else, because the whole batch waits for it. Its after-commit jobs and files leave
with the batch's commit. If any unit fails, the batch is rolled back and each unit runs
again in a transaction of its own, so that one request's error (a refused event, say) is
that request's alone and the others still commit.
"""

from __future__ import annotations

from asyncio import Future
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vigil.storage.batches import Batches, settle
from vigil.storage.views import unit_of_work

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[Any]]

MAX_BATCH = 64  # a batch's units run back to back on the event loop
BATCH_UNITS = Histogram(
    "vigil_group_commit_units",
    "Units of work committed together in one transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)


class GroupCommit:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, batched: bool) -> None:
        """`batched` only where writes queue for one connection anyway (SQLite), and a
        statement costs no round trip. On PostgreSQL each unit keeps a transaction of its
        own: units that wait on the network one after another would serialise what the
        server runs side by side (measured: 1,500 students, p99 1.9 s batched)."""
        self._sessionmaker = sessionmaker
        self._batches: Batches[Work, Any] | None = (
            Batches(self._commit, MAX_BATCH) if batched else None
        )

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`work(db)`'s result once its transaction committed; its exception if it failed
        (then nothing it wrote is kept). Batched units run even if the caller is cancelled
        meanwhile."""
        if self._batches is None:
            async with unit_of_work(self._sessionmaker) as db:
                return await work(db)
        return cast(T, await self._batches.submit(work))

    async def close(self) -> None:
        """Wait until every unit handed over so far is committed or refused."""
        if self._batches is not None:
            await self._batches.close()

    async def _commit(self, batch: list[tuple[Work, Future[Any]]]) -> None:
        BATCH_UNITS.observe(len(batch))
        if len(batch) == 1:
            await self._commit_alone(*batch[0])
            return
        results = []
        try:
            async with unit_of_work(self._sessionmaker) as db:
                for work, _ in batch:
                    results.append(await work(db))
        except Exception:
            for work, future in batch:
                await self._commit_alone(work, future)
            return
        for (_, future), result in zip(batch, results, strict=True):
            settle(future, result=result)

    async def _commit_alone(self, work: Work, future: Future[Any]) -> None:
        try:
            async with unit_of_work(self._sessionmaker) as db:
                result = await work(db)
        except Exception as exc:
            settle(future, exception=exc)
            return
        settle(future, result=result)

"""One task takes what many requests hand over, a batch at a time: what arrives while a
batch is being handled waits for the next one. Both group commits (the evidence ledger
and `GroupCommit`) are built on this."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batches(Generic[Item, Result]):
    def __init__(
        self,
        handle: Callable[[list[tuple[Item, asyncio.Future[Result]]]], Awaitable[None]],
        max_batch: int,
    ) -> None:
        """`handle` settles every future of the batch it is given (see `settle`)."""
        self._handle = handle
        self._max_batch = max_batch
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """Hand `item` over and wait for its result. Shielded: a request whose client went
        away still has its item handled, so that the client's retry finds it done."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._worker is None:
            self._worker = asyncio.create_task(self._work_while_waiting())
        return await asyncio.shield(future)

    async def close(self) -> None:
        """Wait until every item handed over so far is handled."""
        while self._worker is not None:
            await asyncio.wait([self._worker])

    async def _work_while_waiting(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                try:
                    await self._handle(batch)
                except Exception as exc:  # a broken handler must not leave requests waiting
                    for _, future in batch:
                        settle(future, exception=exc)
        finally:
            self._worker = None


def settle(
    future: asyncio.Future[Result],
    *,
    result: Result | None = None,
    exception: BaseException | None = None,
) -> None:
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)  # type: ignore[arg-type]

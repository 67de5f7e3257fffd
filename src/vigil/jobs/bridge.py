"""Database work for a job thread, run on the one event loop that owns the engines.

Worker threads never open engines of their own: on SQLite that would add a second writer
that waits in SQLite's busy handler instead of in the writer connection's FIFO (see
storage/db.py), and on PostgreSQL it would multiply the pools. A thread hands each short
transaction to the loop and blocks until it is done; the CPU-heavy analysis between those
transactions stays on the thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class LoopBridge:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def call(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run `make()` on the loop and wait for its result (from any other thread)."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(make(), self.loop)
        return future.result()

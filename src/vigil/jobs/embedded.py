"""Embedded mode: jobs run on worker threads inside the server process.

The queue lives in memory; the database is what makes it safe to lose: a restart finds the
rows still `pending` and sends them again (vigil.analysis.actors.requeue_pending).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import Callable, Sequence

import structlog

from vigil.jobs import Job

log = structlog.get_logger("vigil.jobs")
_STOP = None


def _yield_to_requests() -> None:
    """Analysis is CPU-heavy and can wait; an upload cannot. Linux schedules this thread
    (and the threads its models start, in a `vigil worker`) behind the event loop's; in a
    server the models run in child processes behind it (analysis/detectors.py)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class ThreadQueue:
    def __init__(self, threads: int) -> None:
        self.thread_count = threads
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._dropping = False

    def start(self, handler: Callable[[Job], None]) -> None:
        for number in range(self.thread_count):
            thread = threading.Thread(
                target=self._work, args=(handler,), name=f"vigil-job-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    @property
    def backlog(self) -> int:
        return self._jobs.qsize()

    async def send(self, jobs: Sequence[Job]) -> None:
        if self._dropping:
            return
        for job in jobs:
            self._jobs.put(job)

    def drop_jobs(self) -> None:
        """No thread will run them here (VIGIL_ANALYSIS_WORKERS=0): keep no jobs in memory,
        which would grow all exam long. Their rows stay pending, and the next process with
        threads sends them again."""
        with self._lock:
            self._dropping = True
        self._discard_queued()

    def send_later(self, job: Job, delay_seconds: float) -> None:
        with self._lock:
            if self._closed or self._dropping:
                return  # the row stays pending; the next start sends it again
            timer = threading.Timer(delay_seconds, self._fire, args=(job,))
            timer.daemon = True
            self._timers.add(timer)
            timer.start()

    def _fire(self, job: Job) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not current()}
            if not self._closed:
                self._jobs.put(job)

    def _work(self, handler: Callable[[Job], None]) -> None:
        _yield_to_requests()
        while (job := self._jobs.get()) is not _STOP:
            try:
                handler(job)
            except Exception:  # the handler records failures itself; this is a bug's net
                log.exception("job crashed", actor=job.actor, evidence_id=job.evidence_id)

    async def close(self, timeout: float = 30) -> None:
        """Stop the threads after the job each one is running (they may need the event
        loop for it, so this waits off the loop)."""
        with self._lock:
            self._closed = True
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
        self._discard_queued()  # dropped, not run: their rows stay pending
        for _ in self._threads:
            self._jobs.put(_STOP)
        await asyncio.to_thread(self._join, timeout)

    def _discard_queued(self) -> None:
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break

    def _join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)


def current() -> threading.Thread:
    return threading.current_thread()

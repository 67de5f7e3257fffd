"""`vigil worker`: a scaled-mode process that runs the analysis actors from RabbitMQ.

One event loop thread owns the database engines and the blob store (as in a server);
Dramatiq's worker threads run the jobs and reach the database through it.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from types import FrameType

import dramatiq
import structlog

from vigil.analysis.actors import JobRunner, requeue_when_possible
from vigil.core.evidence.jobs import ACTORS
from vigil.jobs.bridge import LoopBridge
from vigil.jobs.rabbitmq import DramatiqQueue
from vigil.logging import configure_logging
from vigil.runtime import Runtime
from vigil.settings import Settings

log = structlog.get_logger("vigil.worker")
STOP_TIMEOUT_MS = 30_000


def run_worker(settings: Settings, threads: int, *, requeue: bool) -> None:
    configure_logging(settings.log_level)
    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever, name="vigil-db-loop", daemon=True)
    loop_thread.start()
    bridge = LoopBridge(loop)
    runtime = bridge.call(lambda: Runtime.open(settings))
    try:
        queue = runtime.jobs
        if not isinstance(queue, DramatiqQueue):
            raise RuntimeError("vigil worker needs VIGIL_QUEUE_URL")
        queue.declare_actors(ACTORS, JobRunner(runtime, bridge))
        if requeue:
            sent = bridge.call(lambda: requeue_when_possible(runtime.sessionmaker, queue))
            log.info("sent pending analysis jobs", count=sent)
        worker = dramatiq.Worker(queue.broker, worker_threads=threads)
        worker.start()
        log.info("worker started", threads=threads, actors=ACTORS)
        _wait_for_signal()
        log.info("worker stopping")
        worker.stop(timeout=STOP_TIMEOUT_MS)
    finally:
        bridge.call(runtime.close)
        loop.call_soon_threadsafe(loop.stop)
        loop_thread.join(timeout=10)


def _wait_for_signal() -> None:
    stop = threading.Event()

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    while not stop.wait(1):
        pass

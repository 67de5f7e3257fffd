"""The analysis actors, and the runner that executes one job on a worker thread.

The actor names, and which kind each one analyses, are in core/evidence/jobs.py.
The runner's rule, the same in embedded and scaled mode:
- claim: a row that is not `pending` is skipped (done by another worker, or failed);
  otherwise its attempt count goes up *before* the work starts, so a job that kills its
  worker (kill -9, out of memory) still uses up an attempt;
- analyse on this thread, then store in one transaction;
- on an error: record the reason; below `VIGIL_ANALYSIS_MAX_RETRIES` retries the job is
  sent again after `VIGIL_ANALYSIS_RETRY_SECONDS * 2**(attempt-1)` (at most an hour);
  after that, or at once for evidence that cannot be decoded, the row is `failed`.
"""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vigil.analysis import detectors, pipeline
from vigil.core.evidence.jobs import ACTOR_FOR_KIND
from vigil.core.evidence.models import AnalysisState, Evidence
from vigil.jobs import Job, JobQueue
from vigil.jobs.bridge import LoopBridge
from vigil.jobs.embedded import ThreadQueue
from vigil.runtime import Runtime
from vigil.storage import views

log = structlog.get_logger("vigil.analysis")

MAX_BACKOFF_SECONDS = 3600
REQUEUE_BATCH = 500


async def requeue_pending(sessionmaker: async_sessionmaker[AsyncSession], queue: JobQueue) -> int:
    """Send a job for every `pending` row (start-up: the database, not the queue, knows what
    is left to do; a row already queued is skipped by whichever run comes second)."""
    sent, after = 0, 0
    while True:
        async with sessionmaker() as db:
            rows = (
                await db.execute(
                    select(Evidence.id, Evidence.kind)
                    .where(Evidence.analysis_state == AnalysisState.PENDING, Evidence.id > after)
                    .order_by(Evidence.id)
                    .limit(REQUEUE_BATCH)
                )
            ).all()
        if not rows:
            return sent
        await queue.send([Job(ACTOR_FOR_KIND[kind], evidence_id) for evidence_id, kind in rows])
        sent += len(rows)
        after = rows[-1][0]


async def analysis_counts(db: AsyncSession) -> dict[str, int]:
    rows = await db.execute(
        select(Evidence.analysis_state, func.count()).group_by(Evidence.analysis_state)
    )
    counts = {state.value: 0 for state in AnalysisState}
    counts.update({state.value: int(count) for state, count in rows})
    return counts


def backoff_seconds(base: float, attempt: int) -> float:
    return float(min(MAX_BACKOFF_SECONDS, base * 2 ** max(0, attempt - 1)))


class JobRunner:
    """Runs one job on the calling (worker) thread; database work goes through `bridge`."""

    def __init__(self, runtime: Runtime, bridge: LoopBridge) -> None:
        self.runtime = runtime
        self.bridge = bridge
        self.max_attempts = runtime.settings.analysis_max_retries + 1
        self.thresholds = detectors.Thresholds.from_settings(runtime.settings)

    def __call__(self, job: Job) -> None:
        attempt = self.bridge.call(lambda: self._claim(job))
        if attempt is None:
            return
        try:
            work = self.bridge.call(lambda: self._load(job))
            if work is None:
                return
            result = pipeline.analyze(work)
            stored = self.bridge.call(lambda: self._store(work, result))
        except pipeline.PermanentFailure as exc:
            self._failed(job, attempt, f"cannot be analysed: {exc}", permanent=True)
            return
        except Exception as exc:
            log.exception("analysis failed", actor=job.actor, evidence_id=job.evidence_id)
            self._failed(job, attempt, f"{type(exc).__name__}: {exc}", permanent=False)
            return
        log.info(
            "analysed",
            actor=job.actor,
            evidence_id=job.evidence_id,
            events=list(pipeline.event_types(stored)),
        )

    async def _claim(self, job: Job) -> int | None:
        """The attempt number this run is, or None when there is nothing to do."""
        async with self.runtime.reader() as reader:
            # Most duplicates (a frame judged in its request, a row queued twice) end here,
            # without taking the (SQLite) write lock.
            state = await reader.scalar(
                select(Evidence.analysis_state).where(Evidence.id == job.evidence_id)
            )
        if state is not AnalysisState.PENDING:
            return None
        async with views.unit_of_work(self.runtime.sessionmaker) as db:
            row = await db.get(Evidence, job.evidence_id, with_for_update=True)
            if row is None or row.analysis_state is not AnalysisState.PENDING:
                return None
            if ACTOR_FOR_KIND[row.kind] != job.actor:
                log.warning("job names the wrong actor", actor=job.actor, kind=row.kind.value)
                return None
            if row.analysis_attempts >= self.max_attempts:
                # The earlier attempts ended without a word (the worker died each time).
                row.analysis_state = AnalysisState.FAILED
                row.analysis_error = row.analysis_error or (
                    f"gave up after {row.analysis_attempts} attempts that never finished"
                )
                return None
            row.analysis_attempts += 1
            return row.analysis_attempts

    async def _load(self, job: Job) -> pipeline.Work | None:
        async with self.runtime.reader() as reader:
            return await pipeline.load(reader, self.runtime.blobs, job.evidence_id)

    async def _store(self, work: pipeline.Work, result: pipeline.Result) -> pipeline.Stored | None:
        async with views.unit_of_work(self.runtime.sessionmaker) as db:
            return await pipeline.store(db, work, result, self.thresholds)

    def _failed(self, job: Job, attempt: int, reason: str, *, permanent: bool) -> None:
        give_up = permanent or attempt >= self.max_attempts
        reason = reason[:2000]

        async def record() -> None:
            async with views.unit_of_work(self.runtime.sessionmaker) as db:
                row = await db.get(Evidence, job.evidence_id, with_for_update=True)
                if row is None or row.analysis_state is not AnalysisState.PENDING:
                    return
                row.analysis_error = reason
                if give_up:
                    row.analysis_state = AnalysisState.FAILED

        self.bridge.call(record)
        if give_up:
            log.warning("analysis failed for good", evidence_id=job.evidence_id, attempt=attempt)
            return
        delay = backoff_seconds(self.runtime.settings.analysis_retry_seconds, attempt)
        self.runtime.jobs.send_later(job, delay)


def start_embedded_workers(runtime: Runtime) -> asyncio.Task[int] | None:
    """In a server without VIGIL_QUEUE_URL: start the job threads, and in the background
    send every pending row (what a previous run left). None if no threads run."""
    queue = runtime.jobs
    if not isinstance(queue, ThreadQueue):
        return None
    if queue.thread_count == 0:
        queue.drop_jobs()
        return None
    detectors.analyze_in_processes(queue.thread_count)
    queue.start(JobRunner(runtime, LoopBridge(asyncio.get_running_loop())))
    return asyncio.create_task(requeue_when_possible(runtime.sessionmaker, queue))


async def requeue_when_possible(
    sessionmaker: async_sessionmaker[AsyncSession], queue: JobQueue, retry_seconds: float = 5
) -> int:
    """The start-up requeue, tried again while the database is unreachable: a server starts
    (and answers /healthz with 503) even when it cannot read its work yet."""
    while True:
        try:
            sent = await requeue_pending(sessionmaker, queue)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("could not read pending analysis jobs; retrying", error=str(exc))
            await asyncio.sleep(retry_seconds)
            continue
        if sent:
            log.info("sent pending analysis jobs again", count=sent)
        return sent

"""Background jobs: what a job is, the queue Protocol, and sending jobs only after commit.

A job names an actor and carries one evidence id, nothing else: the worker reads the rest
from the database, which stays the source of truth (DESIGN §3, §9.3). A service asks for a
job with `after_commit(db, job)`; the job leaves once that transaction commits, and a
rolled-back transaction sends nothing. If the send itself fails (the broker is down), the
row is still `pending` and the start-up requeue sends it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

log = structlog.get_logger("vigil.jobs")

QUEUE = "vigil.job_queue"  # a session's info key: the queue its committed jobs go to
_PENDING = "vigil.jobs.pending"  # asked for in the open transaction
_COMMITTED = "vigil.jobs.committed"  # their transaction committed: ready to send


@dataclass(frozen=True)
class Job:
    actor: str
    evidence_id: int


class JobQueue(Protocol):
    """Where jobs go: in-process threads (embedded) or RabbitMQ (scaled), by configuration."""

    async def send(self, jobs: Sequence[Job]) -> None:
        """Hand jobs over for running as soon as a worker is free."""

    def send_later(self, job: Job, delay_seconds: float) -> None:
        """Run `job` again after a delay (a retry); called from a worker thread."""

    async def close(self) -> None:
        """Stop taking jobs and release connections and threads."""


def after_commit(db: AsyncSession, job: Job) -> None:
    pending: list[Job] = db.info.setdefault(_PENDING, [])
    if job not in pending:
        pending.append(job)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.info.setdefault(_COMMITTED, []).extend(pending)


async def send_committed(db: AsyncSession) -> None:
    """Send what committed (called by whoever owns the transaction, after it ended); jobs of
    a transaction that did not commit are dropped."""
    db.info.pop(_PENDING, None)
    jobs: list[Job] = db.info.pop(_COMMITTED, [])
    queue: JobQueue | None = db.info.get(QUEUE)
    if not jobs or queue is None:
        return
    try:
        await queue.send(jobs)
    except Exception as exc:  # the rows stay pending: the next requeue sends them
        log.warning("could not send jobs; they stay pending", count=len(jobs), error=str(exc))

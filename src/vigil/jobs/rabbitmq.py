"""Scaled mode: Dramatiq over RabbitMQ; `vigil worker` processes run the actors.

Messages carry the evidence id only. Retries are decided by the job runner from the row's
attempt count (the same rule as embedded mode), so Dramatiq's own retries are off and a
retry is a new message with a delay. A worker killed mid-job never acknowledged its
message: RabbitMQ gives it to another worker, and analysis being idempotent, the result is
stored once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    ShutdownNotifications,
    TimeLimit,
)

from vigil.jobs import Job

QUEUE_NAME = "vigil.analysis"
# A job that runs this long is stuck: TimeLimit interrupts it, and the runner records it as
# a failed attempt. Video segments take seconds, not minutes.
TIME_LIMIT_MS = 10 * 60 * 1000


def create_broker(url: str) -> RabbitmqBroker:
    middleware = [
        AgeLimit(),
        TimeLimit(time_limit=TIME_LIMIT_MS),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        CurrentMessage(),
    ]
    return RabbitmqBroker(url=url, middleware=middleware, confirm_delivery=True)


class DramatiqQueue:
    def __init__(self, url: str) -> None:
        self.broker = create_broker(url)

    def _message(self, job: Job) -> dramatiq.Message[None]:
        return dramatiq.Message(
            queue_name=QUEUE_NAME,
            actor_name=job.actor,
            args=(job.evidence_id,),
            kwargs={},
            options={},
        )

    def _enqueue(self, jobs: Sequence[Job], delay_ms: int | None = None) -> None:
        # Dramatiq's broker keeps one pika connection per thread: callers may be many.
        for job in jobs:
            self.broker.enqueue(self._message(job), delay=delay_ms)

    async def send(self, jobs: Sequence[Job]) -> None:
        await asyncio.to_thread(self._enqueue, jobs)

    def send_later(self, job: Job, delay_seconds: float) -> None:
        self._enqueue([job], delay_ms=max(1, int(delay_seconds * 1000)))

    async def close(self) -> None:
        await asyncio.to_thread(self.broker.close)

    def declare_actors(self, actor_names: Sequence[str], handler: Callable[[Job], None]) -> None:
        """Register the actors a `vigil worker` runs, each under its explicit name."""
        for name in actor_names:
            dramatiq.Actor(
                _bind(handler, name),
                broker=self.broker,
                actor_name=name,
                queue_name=QUEUE_NAME,
                priority=0,
                options={},
            )


def _bind(handler: Callable[[Job], None], actor: str) -> Callable[[int], None]:
    def run(evidence_id: int) -> None:
        handler(Job(actor, evidence_id))

    run.__name__ = actor.replace(".", "_")
    return run

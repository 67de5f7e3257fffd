"""Jobs leave only after the transaction that asked for them commits (DESIGN §9.3)."""

from __future__ import annotations

import asyncio

import pytest

from vigil.jobs import QUEUE, Job, after_commit
from vigil.jobs.embedded import ThreadQueue
from vigil.runtime import Runtime
from vigil.settings import Settings
from vigil.storage import views


class Boom(Exception):
    pass


def run(settings: Settings, body: object) -> ThreadQueue:
    """Run `body(db)` in a unit of work on a queue without threads, and return the queue."""

    async def main() -> ThreadQueue:
        runtime = await Runtime.open(settings)
        queue = ThreadQueue(0)
        runtime.sessionmaker.configure(info={QUEUE: queue})
        try:
            async with views.unit_of_work(runtime.sessionmaker) as db:
                await body(db)  # type: ignore[operator]
        except Boom:
            pass
        finally:
            await runtime.close()
        return queue

    return asyncio.run(main())


def test_a_committed_transaction_sends_its_jobs_once(settings: Settings) -> None:
    async def body(db: object) -> None:
        after_commit(db, Job("evidence.analyze_snapshot", 1))  # type: ignore[arg-type]
        after_commit(db, Job("evidence.analyze_snapshot", 1))  # type: ignore[arg-type]
        after_commit(db, Job("evidence.analyze_audio", 2))  # type: ignore[arg-type]

    assert run(settings, body).backlog == 2


def test_a_rolled_back_transaction_sends_nothing(settings: Settings) -> None:
    async def body(db: object) -> None:
        after_commit(db, Job("evidence.analyze_snapshot", 1))  # type: ignore[arg-type]
        raise Boom

    assert run(settings, body).backlog == 0


def test_jobs_of_an_earlier_commit_leave_even_if_the_rest_rolls_back(settings: Settings) -> None:
    async def body(db: object) -> None:
        after_commit(db, Job("evidence.analyze_snapshot", 1))  # type: ignore[arg-type]
        await db.commit()  # type: ignore[attr-defined]  # e.g. intake: the row is durable
        after_commit(db, Job("evidence.analyze_snapshot", 2))  # type: ignore[arg-type]
        raise Boom

    queue = run(settings, body)
    assert queue.backlog == 1
    assert queue._jobs.get_nowait() == Job("evidence.analyze_snapshot", 1)


def test_nothing_is_sent_before_the_commit(settings: Settings) -> None:
    seen: list[int] = []

    async def body(db: object) -> None:
        after_commit(db, Job("evidence.analyze_snapshot", 1))  # type: ignore[arg-type]
        queue = db.info[QUEUE]  # type: ignore[attr-defined]
        seen.append(queue.backlog)

    assert run(settings, body).backlog == 1
    assert seen == [0]


@pytest.mark.parametrize(("attempt", "delay"), [(1, 10), (2, 20), (3, 40), (20, 3600)])
def test_backoff_doubles_up_to_an_hour(attempt: int, delay: float) -> None:
    from vigil.analysis.actors import backoff_seconds

    assert backoff_seconds(10, attempt) == delay

"""Group commit: units of work handed over together share one transaction; each caller
learns only its own unit's fate (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.core.identity.models import Role, User
from vigil.jobs import QUEUE, Job, after_commit
from vigil.runtime import Runtime
from vigil.settings import Settings
from vigil.storage.group_commit import GroupCommit


def with_group(
    settings: Settings, body: Callable[..., Awaitable[Any]], batched: bool = True
) -> Any:
    """Run `body(group, runtime, commits)`; `commits` counts the writer's commits."""

    async def main() -> Any:
        runtime = await Runtime.open(settings)
        group = GroupCommit(runtime.sessionmaker, batched=batched)
        commits: list[int] = []
        event.listen(runtime.engine.sync_engine, "commit", lambda _conn: commits.append(1))
        try:
            return await body(group, runtime, commits)
        finally:
            await group.close()
            await runtime.close()

    return asyncio.run(main())


def add_student(login: str) -> Callable[[AsyncSession], Awaitable[int]]:
    async def work(db: AsyncSession) -> int:
        student = User(login=login, email=f"{login}@uni.edu", role=Role.STUDENT)
        db.add(student)
        await db.flush()
        return student.id

    return work


async def logins(runtime: Runtime) -> list[str]:
    async with runtime.reader() as db:
        return list(await db.scalars(select(User.login).order_by(User.login)))


def test_units_handed_over_together_share_one_commit(settings: Settings) -> None:
    async def body(group: GroupCommit, runtime: Runtime, commits: list[int]) -> None:
        names = [f"student{i:02d}" for i in range(10)]
        ids = await asyncio.gather(*(group.run(add_student(name)) for name in names))
        assert len(set(ids)) == 10
        assert len(commits) <= 2  # the first unit alone, then the nine that queued behind it
        assert await logins(runtime) == names

    with_group(settings, body)


def test_unbatched_units_commit_each_on_its_own(settings: Settings) -> None:
    async def body(group: GroupCommit, runtime: Runtime, commits: list[int]) -> None:
        names = [f"student{i}" for i in range(4)]
        await asyncio.gather(*(group.run(add_student(name)) for name in names))
        assert len(commits) == 4
        assert await logins(runtime) == names

    with_group(settings, body, batched=False)


def test_the_runtime_batches_on_sqlite_only(settings: Settings) -> None:
    async def body(group: GroupCommit, runtime: Runtime, commits: list[int]) -> None:
        await asyncio.gather(*(runtime.writes.run(add_student(f"s{i}")) for i in range(6)))
        if runtime.engine.dialect.name == "sqlite":
            assert len(commits) <= 2
        else:
            assert len(commits) == 6

    with_group(settings, body)


def test_a_failing_unit_fails_alone_and_the_others_commit(settings: Settings) -> None:
    async def refused(db: AsyncSession) -> int:
        db.add(User(login="refused", email="refused@uni.edu", role=Role.STUDENT))
        await db.flush()
        raise PermissionError("not this one")

    async def body(group: GroupCommit, runtime: Runtime, commits: list[int]) -> None:
        await group.run(add_student("taken"))
        outcomes = await asyncio.gather(
            group.run(add_student("first")),
            group.run(add_student("taken")),  # breaks the unique login inside the batch
            group.run(refused),
            group.run(add_student("last")),
            return_exceptions=True,
        )
        assert isinstance(outcomes[0], int)
        assert isinstance(outcomes[1], Exception)
        assert "UNIQUE" in str(outcomes[1]).upper()
        assert isinstance(outcomes[2], PermissionError)
        assert isinstance(outcomes[3], int)
        assert await logins(runtime) == ["first", "last", "taken"]

    with_group(settings, body)


def test_a_lone_failing_unit_runs_once(settings: Settings) -> None:
    runs: list[int] = []

    async def failing(db: AsyncSession) -> None:
        runs.append(1)
        raise LookupError("no such session")

    async def body(group: GroupCommit, runtime: Runtime, commits: list[int]) -> None:
        with pytest.raises(LookupError, match="no such session"):
            await group.run(failing)
        assert runs == [1]

    with_group(settings, body)


def test_a_unit_whose_caller_went_away_still_commits(settings: Settings) -> None:
    async def body(group: GroupCommit, runtime: Runtime, commits: list[int]) -> None:
        first = asyncio.ensure_future(group.run(add_student("stays")))
        await asyncio.sleep(0)  # handed over
        first.cancel()
        await group.close()
        assert await logins(runtime) == ["stays"]

    with_group(settings, body)


class SentJobs:
    """A JobQueue that keeps what it is sent."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    async def send(self, jobs: Sequence[Job]) -> None:
        self.jobs.extend(jobs)

    def send_later(self, job: Job, delay_seconds: float) -> None:
        raise AssertionError("not used here")

    async def close(self) -> None:
        return None


def test_jobs_leave_after_the_batch_commits_and_only_for_kept_units(settings: Settings) -> None:
    queue = SentJobs()

    def queued_student(login: str, fail: bool = False) -> Callable[[AsyncSession], Awaitable[int]]:
        async def work(db: AsyncSession) -> int:
            db.info[QUEUE] = queue
            student_id = await add_student(login)(db)
            after_commit(db, Job("test.welcome", student_id))
            if fail:
                raise ValueError("refused")
            return student_id

        return work

    async def body(group: GroupCommit, runtime: Runtime, commits: list[int]) -> None:
        outcomes = await asyncio.gather(
            group.run(queued_student("a")),
            group.run(queued_student("b")),
            group.run(queued_student("c", fail=True)),
            return_exceptions=True,
        )
        sent = sorted(job.evidence_id for job in queue.jobs)
        assert sent == sorted(outcome for outcome in outcomes if isinstance(outcome, int))
        assert len(sent) == 2

    with_group(settings, body)

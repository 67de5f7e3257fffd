"""The evidence ledger: concurrent uploads share one commit, each learns only its own fate,
and jobs leave after the commit (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event, func, select

from vigil.core.evidence.ledger import MAX_BATCH, EvidenceLedger, SlotTaken
from vigil.core.evidence.models import AnalysisState, Evidence, EvidenceKind
from vigil.core.identity.models import Role, User
from vigil.core.sessions.models import ProctoringSession
from vigil.jobs.embedded import ThreadQueue
from vigil.runtime import Runtime
from vigil.settings import Settings
from vigil.storage.db import utcnow


def row(session_id: int, index: int, data: bytes = b"jpeg") -> Evidence:
    return Evidence(
        session_id=session_id,
        kind=EvidenceKind.SNAPSHOT,
        stream="webcam",
        chunk_index=index,
        blob_key=f"sessions/{session_id}/snapshot/webcam/chunk_{index}.jpg",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type="image/jpeg",
        source="susie",
        details=None,
        captured_at=None,
        received_at=utcnow(),
    )


def with_ledger(settings: Settings, body: Callable[..., Awaitable[Any]]) -> Any:
    """Run `body(ledger, runtime, session_id, queue, commits)` against a fresh session."""

    async def main() -> Any:
        runtime = await Runtime.open(settings)
        queue = ThreadQueue(0)  # collects jobs, runs none
        ledger = EvidenceLedger(runtime.engine, runtime.reader, queue)
        commits: list[int] = []
        event.listen(runtime.engine.sync_engine, "commit", lambda _conn: commits.append(1))
        try:
            async with runtime.sessionmaker.begin() as db:
                student = User(login="ana", email="ana@uni.edu", role=Role.STUDENT)
                db.add(student)
                await db.flush()
                session = ProctoringSession(
                    session_key="k" * 32, candidate_id=student.id, source="susie"
                )
                db.add(session)
                await db.flush()
                session_id = session.id
            commits.clear()
            return await body(ledger, runtime, session_id, queue, commits)
        finally:
            await ledger.close()
            await runtime.close()

    return asyncio.run(main())


async def stored(runtime: Runtime, session_id: int) -> list[Evidence]:
    async with runtime.reader() as db:
        rows = await db.scalars(
            select(Evidence).where(Evidence.session_id == session_id).order_by(Evidence.id)
        )
        return list(rows)


def test_concurrent_rows_share_one_insert_and_commit_and_each_gets_its_own_id(
    settings: Settings,
) -> None:
    async def body(ledger: EvidenceLedger, runtime: Runtime, session_id: int,
                   queue: ThreadQueue, commits: list[int]) -> None:  # fmt: skip
        inserts: list[str] = []

        def seen(_connection: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            if statement.lstrip().upper().startswith("INSERT"):
                inserts.append(statement)

        event.listen(runtime.engine.sync_engine, "before_cursor_execute", seen)
        ids = await asyncio.gather(*(ledger.record(row(session_id, i)) for i in range(20)))
        assert len(set(ids)) == 20
        assert (len(commits), len(inserts)) == (1, 1)
        rows = await stored(runtime, session_id)
        assert {r.id: r.chunk_index for r in rows} == dict(zip(ids, range(20), strict=True))
        assert {r.analysis_state for r in rows} == {AnalysisState.PENDING}
        assert queue.backlog == 20  # one analysis job per row, sent after the commit

    with_ledger(settings, body)


def test_more_rows_than_a_batch_take_more_commits(settings: Settings) -> None:
    async def body(ledger: EvidenceLedger, runtime: Runtime, session_id: int,
                   queue: ThreadQueue, commits: list[int]) -> None:  # fmt: skip
        count = MAX_BATCH + 5
        await asyncio.gather(*(ledger.record(row(session_id, i)) for i in range(count)))
        assert len(commits) == 2
        assert len(await stored(runtime, session_id)) == count

    with_ledger(settings, body)


def test_a_taken_slot_refuses_that_row_only(settings: Settings) -> None:
    async def body(ledger: EvidenceLedger, runtime: Runtime, session_id: int,
                   queue: ThreadQueue, commits: list[int]) -> None:  # fmt: skip
        first = await ledger.record(row(session_id, 7, b"first"))
        outcomes = await asyncio.gather(
            ledger.record(row(session_id, 6)),
            ledger.record(row(session_id, 7, b"second")),
            ledger.record(row(session_id, 8)),
            return_exceptions=True,
        )
        assert isinstance(outcomes[1], SlotTaken)
        assert all(isinstance(outcome, int) for outcome in (outcomes[0], outcomes[2]))
        rows = await stored(runtime, session_id)
        assert [r.chunk_index for r in rows] == [7, 6, 8]
        kept = next(r for r in rows if r.chunk_index == 7)
        assert (kept.id, kept.sha256) == (first, hashlib.sha256(b"first").hexdigest())
        assert queue.backlog == 3  # nothing sent for the refused row

    with_ledger(settings, body)


def test_a_row_whose_upload_went_away_is_still_committed(settings: Settings) -> None:
    async def body(ledger: EvidenceLedger, runtime: Runtime, session_id: int,
                   queue: ThreadQueue, commits: list[int]) -> None:  # fmt: skip
        upload = asyncio.create_task(ledger.record(row(session_id, 1)))
        await asyncio.sleep(0)  # handed over
        upload.cancel()  # the client disconnected
        await ledger.close()
        assert upload.cancelled()
        assert [r.chunk_index for r in await stored(runtime, session_id)] == [1]

    with_ledger(settings, body)


def test_find_reads_only_committed_rows(settings: Settings) -> None:
    async def body(ledger: EvidenceLedger, runtime: Runtime, session_id: int,
                   queue: ThreadQueue, commits: list[int]) -> None:  # fmt: skip
        slot = (session_id, EvidenceKind.SNAPSHOT, "webcam", 3)
        assert await ledger.find(*slot) is None
        row_id = await ledger.record(row(session_id, 3))
        found = await ledger.find(*slot)
        assert found is not None
        assert found.id == row_id
        async with runtime.reader() as db:
            assert await db.scalar(select(func.count()).select_from(Evidence)) == 1

    with_ledger(settings, body)


@pytest.mark.parametrize("count", [1, 3])
def test_an_unknown_session_is_an_error_for_its_rows(settings: Settings, count: int) -> None:
    async def body(ledger: EvidenceLedger, runtime: Runtime, session_id: int,
                   queue: ThreadQueue, commits: list[int]) -> None:  # fmt: skip
        outcomes = await asyncio.gather(
            *(ledger.record(row(session_id + 1000, i)) for i in range(count)),
            return_exceptions=True,
        )
        assert all(isinstance(outcome, Exception) for outcome in outcomes)
        assert await stored(runtime, session_id + 1000) == []
        assert queue.backlog == 0

    with_ledger(settings, body)

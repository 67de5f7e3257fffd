"""Attempt rules: start or resume, autosave, submit, progress; and the files they refresh.

Every change queues its files (docs/exam-attempts.md, "Files") to be written from the
rows just flushed, after the transaction commits; the files are never read back.
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.core import policy
from vigil.core.attempts.links import link_open_session
from vigil.core.attempts.models import ExamAttempt
from vigil.core.attempts.statuses import AttemptFinished, AttemptStatus, transition
from vigil.core.errors import Conflict, InvalidInput, NotAvailable, NotFound
from vigil.core.exams.content import check_response, questions_of
from vigil.core.exams.models import Exam
from vigil.core.exams.service import find_exam, manifest_exams
from vigil.core.identity.models import User
from vigil.storage.db import utcnow
from vigil.storage.views import after_commit, write_behind

MAX_ATTEMPTS_PER_EXAM = 1


class AttemptExists(Conflict):
    """The user already finished this exam, and it allows no further attempt."""


class StaleWrite(Conflict):
    """The client wrote over a version of the attempt older than the server's."""

    def __init__(self, message: str, current: dict[str, Any]) -> None:
        super().__init__(message, field="updatedAt")
        self.current = current


@dataclass(frozen=True)
class AnswerIn:
    question_id: str
    response: Any
    time_sec: float | None = None


# --- documents (the spec's JSON shapes) --------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def attempt_document(attempt: ExamAttempt, exam_ref: str) -> dict[str, Any]:
    answers = [
        {"questionId": question_id, **value} for question_id, value in attempt.answers.items()
    ]
    document: dict[str, Any] = {
        "attemptId": str(attempt.uuid),
        "userId": str(attempt.user_id),
        "examId": exam_ref,
        "examVersion": attempt.exam_version,
        "status": attempt.status.value,
        "startedAt": iso(attempt.started_at),
        "updatedAt": iso(attempt.updated_at),
        "answers": answers,
    }
    if attempt.submitted_at is not None:
        document["submittedAt"] = iso(attempt.submitted_at)
    if attempt.deadline_at is not None:
        document["deadlineAt"] = iso(attempt.deadline_at)
    if attempt.proctoring_session_id is not None:
        document["proctoringSessionId"] = attempt.proctoring_session_id
    return document


def answered_count(attempt: ExamAttempt) -> int:
    return sum(1 for value in attempt.answers.values() if is_answered(value.get("response")))


def is_answered(response: object) -> bool:
    return response is not None and response != "" and response != []


def question_count(attempt: ExamAttempt) -> int:
    return len(attempt.exam_content.get("questions", []))


def bundle_document(attempt: ExamAttempt, exam_ref: str) -> dict[str, Any]:
    """The output bundle: the attempt's own exam content (answer keys included) and it."""
    return {"exam": attempt.exam_content, "attempt": attempt_document(attempt, exam_ref)}


def output_path(exam_ref: str, attempt: ExamAttempt) -> str:
    """Relative to the data directory, as the submit answer reports it."""
    return f"output/{exam_ref}_{attempt.uuid}.json"


# --- rules ------------------------------------------------------------------------------


async def start_or_resume(
    db: AsyncSession, user: User, exam_ref: str, data_dir: Path
) -> tuple[ExamAttempt, Exam, bool]:
    """The user's active attempt at the exam, or a new one; True when it was resumed."""
    exam = await find_exam(db, exam_ref)
    if not exam.published:
        raise NotAvailable(f"exam {exam_ref} is not published", field="examId")
    now = utcnow()
    active = await _latest(db, user.id, exam.id, AttemptStatus.ACTIVE)
    if active is not None:
        if is_due(active, now):  # time ran out while away: it is submitted as it stood
            await finish(db, active, exam, data_dir, at=_deadline_of(active))
        elif active.proctoring_session_id is None:
            await link_open_session(db, active, exam)
            if active.proctoring_session_id is not None:
                await refresh_views(db, data_dir, active, exam, status_changed=False)
        return active, exam, True
    if await _count_done(db, user.id, exam.id) >= MAX_ATTEMPTS_PER_EXAM:
        raise AttemptExists(f"you have already submitted exam {exam_ref}", field="examId")
    check_window(exam, now)
    content = exam.content or {"examId": exam.public_id, "title": exam.title, "questions": []}
    attempt = ExamAttempt(
        uuid=uuid_module.uuid4(),
        user_id=user.id,
        exam_id=exam.id,
        status=AttemptStatus.ACTIVE,
        active_key=f"{user.id}:{exam.id}",
        exam_version=exam.version,
        exam_content=content,
        answers={},
        started_at=now,
        updated_at=now,
        deadline_at=deadline_for(exam, content, now),
    )
    await link_open_session(db, attempt, exam)
    try:
        async with db.begin_nested():
            db.add(attempt)
    except IntegrityError:  # a concurrent request started it a moment ago: resume that one
        active = await _latest(db, user.id, exam.id, AttemptStatus.ACTIVE)
        if active is None:
            raise
        return active, exam, True
    await refresh_views(db, data_dir, attempt, exam)
    return attempt, exam, False


async def autosave(
    db: AsyncSession,
    user: User,
    attempt_id: str,
    answers: Sequence[AnswerIn],
    client_updated_at: datetime | None,
    data_dir: Path,
) -> tuple[ExamAttempt, Exam]:
    """Merge the answers by question id; a null response clears one. A client that saw an
    older `updatedAt` than the server holds is refused, with the current attempt."""
    attempt, exam = await own_attempt(db, user, attempt_id, for_update=True)
    if attempt.status is not AttemptStatus.ACTIVE:
        transition(attempt.status, AttemptStatus.SUBMITTED)  # raises AttemptFinished
    if is_due(attempt, utcnow()):
        raise AttemptFinished(
            "time is up: the attempt is submitted as it was last saved", field="attemptId"
        )
    if client_updated_at is not None and client_updated_at < attempt.updated_at:
        raise StaleWrite(
            "the attempt changed since this client last saw it; reconcile and resend",
            attempt_document(attempt, exam.public_id),
        )
    questions = questions_of(attempt.exam_content)
    merged = dict(attempt.answers)
    for index, answer in enumerate(answers):
        question = questions.get(answer.question_id)
        if question is None:
            field = f"answers.{index}.questionId"
            raise InvalidInput(f"{field}: no question {answer.question_id!r}", field=field)
        if not is_answered(answer.response):
            merged.pop(answer.question_id, None)
            continue
        try:
            check_response(question, answer.response)
        except ValueError as exc:
            field = f"answers.{index}.response"
            raise InvalidInput(f"{field}: {exc}", field=field) from exc
        value: dict[str, Any] = {"response": answer.response}
        if answer.time_sec is not None:
            value["timeSec"] = answer.time_sec
        merged[answer.question_id] = value
    attempt.answers = merged
    attempt.updated_at = _later_than(attempt.updated_at)
    await db.flush()
    await refresh_views(db, data_dir, attempt, exam, status_changed=False)
    write_behind(db)
    return attempt, exam


async def submit(
    db: AsyncSession, user: User, attempt_id: str, data_dir: Path
) -> tuple[ExamAttempt, Exam, str]:
    """Submitted, then finished, in one transaction; the bundle is written once it commits."""
    attempt, exam = await own_attempt(db, user, attempt_id, for_update=True)
    now = utcnow()
    late = is_due(attempt, now)
    path = await finish(db, attempt, exam, data_dir, at=_deadline_of(attempt) if late else now)
    return attempt, exam, path


async def finish(
    db: AsyncSession, attempt: ExamAttempt, exam: Exam, data_dir: Path, *, at: datetime
) -> str:
    """active → submitted → finished, submitted as of `at`; queue the bundle and views."""
    attempt.status = transition(attempt.status, AttemptStatus.SUBMITTED)
    attempt.submitted_at = at
    await db.flush()
    attempt.status = transition(attempt.status, AttemptStatus.FINISHED)
    attempt.finished_at = utcnow()
    attempt.updated_at = at if at > attempt.updated_at else _later_than(attempt.updated_at)
    attempt.active_key = None
    await db.flush()
    path = output_path(exam.public_id, attempt)
    after_commit(db, data_dir / path, bundle_document(attempt, exam.public_id))
    await refresh_views(db, data_dir, attempt, exam)
    return path


async def finish_due(db: AsyncSession, data_dir: Path, now: datetime | None = None) -> int:
    """Submit every active attempt whose time ran out, as it was last saved (the sweeper)."""
    now = now or utcnow()
    due = (
        await db.scalars(
            select(ExamAttempt)
            .where(ExamAttempt.status == AttemptStatus.ACTIVE, ExamAttempt.deadline_at <= now)
            .order_by(ExamAttempt.id)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for attempt in due:
        exam = await db.get(Exam, attempt.exam_id)
        assert exam is not None
        await finish(db, attempt, exam, data_dir, at=_deadline_of(attempt))
    return len(due)


# --- time -------------------------------------------------------------------------------


def check_window(exam: Exam, now: datetime) -> None:
    if exam.start_time is not None and now < exam.start_time:
        raise NotAvailable(f"exam opens at {iso(exam.start_time)}", field="startTime")
    if exam.end_time is not None and now >= exam.end_time:
        raise NotAvailable(f"exam closed at {iso(exam.end_time)}", field="endTime")


def deadline_for(exam: Exam, content: dict[str, Any], started: datetime) -> datetime | None:
    """The duration from the start, capped by the exam's end time; None: no limit."""
    limits = []
    duration = content.get("durationSeconds") or exam.duration_seconds
    if duration:
        limits.append(started + timedelta(seconds=int(duration)))
    if exam.end_time is not None:
        limits.append(exam.end_time)
    return min(limits, default=None)


def is_due(attempt: ExamAttempt, now: datetime) -> bool:
    return (
        attempt.status is AttemptStatus.ACTIVE
        and attempt.deadline_at is not None
        and now >= attempt.deadline_at
    )


def _deadline_of(attempt: ExamAttempt) -> datetime:
    assert attempt.deadline_at is not None
    return attempt.deadline_at


async def own_attempt(
    db: AsyncSession, user: User, attempt_id: str, *, for_update: bool = False
) -> tuple[ExamAttempt, Exam]:
    """The caller's attempt; somebody else's is reported as not existing (no probing)."""
    missing = NotFound(f"attempt {attempt_id} does not exist", field="attemptId")
    try:
        key = uuid_module.UUID(attempt_id)
    except ValueError:
        raise missing from None
    query = select(ExamAttempt).where(ExamAttempt.uuid == key)
    if for_update:
        query = query.with_for_update()
    attempt = await db.scalar(query)
    if attempt is None or not policy.may_use_attempt(user, attempt.user_id):
        raise missing
    exam = await db.get(Exam, attempt.exam_id)
    assert exam is not None  # attempts are deleted with their exam
    return attempt, exam


async def progress(db: AsyncSession, user_id: int) -> dict[str, Any]:
    """Per exam: the latest attempt's answered/total and status; published exams not yet
    started show as not_started."""
    attempts = (await db.scalars(select(ExamAttempt).where(ExamAttempt.user_id == user_id))).all()
    exams = (await db.scalars(select(Exam).order_by(Exam.id))).all()
    return progress_document(user_id, attempts, exams)


def progress_document(
    user_id: int, attempts: Sequence[ExamAttempt], exams: Sequence[Exam]
) -> dict[str, Any]:
    ordered = sorted(attempts, key=lambda attempt: (attempt.updated_at, attempt.id))
    latest: dict[int, ExamAttempt] = {attempt.exam_id: attempt for attempt in ordered}
    entries = []
    for exam in exams:
        attempt = latest.get(exam.id)
        if attempt is None:
            if exam.published:
                total = len((exam.content or {}).get("questions", []))
                entries.append(_progress_entry(exam.public_id, None, 0, total))
            continue
        entries.append(
            _progress_entry(
                exam.public_id, attempt, answered_count(attempt), question_count(attempt)
            )
        )
    return {"userId": str(user_id), "exams": entries}


def _progress_entry(
    exam_ref: str, attempt: ExamAttempt | None, answered: int, total: int
) -> dict[str, Any]:
    return {
        "examId": exam_ref,
        "attemptId": str(attempt.uuid) if attempt else None,
        "status": attempt.status.value if attempt else "not_started",
        "answered": answered,
        "total": total,
        "percent": round(100 * answered / total, 2) if total else 0.0,
        "updatedAt": iso(attempt.updated_at) if attempt else None,
    }


async def manifest(db: AsyncSession) -> dict[str, Any]:
    """Published flags per exam and, per user, the exams with an active or finished attempt."""
    exams = await manifest_exams(db)
    refs = {exam_id: ref for exam_id, (ref, _) in exams.items()}
    rows = (
        await db.execute(
            select(ExamAttempt.user_id, ExamAttempt.exam_id, ExamAttempt.status).order_by(
                ExamAttempt.user_id, ExamAttempt.exam_id
            )
        )
    ).all()
    users: dict[str, dict[str, list[str]]] = {}
    for user_id, exam_id, status in rows:
        sets = users.setdefault(str(user_id), {"active": [], "finished": []})
        bucket = sets["active"] if status is AttemptStatus.ACTIVE else sets["finished"]
        if refs[exam_id] not in bucket:
            bucket.append(refs[exam_id])
    return {"exams": {ref: entry for ref, entry in exams.values()}, "users": users}


async def refresh_views(
    db: AsyncSession,
    data_dir: Path,
    attempt: ExamAttempt,
    exam: Exam,
    *,
    status_changed: bool = True,
) -> None:
    """Queue the attempt's file, its user's progress and (when the status changed, the
    only thing it records about attempts) the manifest, from the database."""
    await db.flush()
    ref = exam.public_id
    after_commit(
        db,
        data_dir / "attempts" / str(attempt.user_id) / ref / f"{attempt.uuid}.json",
        attempt_document(attempt, ref),
    )
    after_commit(
        db, data_dir / "progress" / f"{attempt.user_id}.json", await progress(db, attempt.user_id)
    )
    if status_changed:
        await queue_manifest(db, data_dir)


async def queue_manifest(db: AsyncSession, data_dir: Path) -> None:
    after_commit(db, data_dir / "manifest.json", await manifest(db))


async def _latest(
    db: AsyncSession, user_id: int, exam_id: int, status: AttemptStatus
) -> ExamAttempt | None:
    return await db.scalar(
        select(ExamAttempt)
        .where(
            ExamAttempt.user_id == user_id,
            ExamAttempt.exam_id == exam_id,
            ExamAttempt.status == status,
        )
        .order_by(ExamAttempt.updated_at.desc(), ExamAttempt.id.desc())
        .limit(1)
    )


async def _count_done(db: AsyncSession, user_id: int, exam_id: int) -> int:
    rows = await db.scalars(
        select(ExamAttempt.id).where(
            ExamAttempt.user_id == user_id,
            ExamAttempt.exam_id == exam_id,
            ExamAttempt.status != AttemptStatus.ACTIVE,
        )
    )
    return len(rows.all())


def _later_than(previous: datetime) -> datetime:
    """Now, or a microsecond after `previous`: every save moves updatedAt forward."""
    now = utcnow()
    return now if now > previous else previous + timedelta(microseconds=1)


async def all_views(db: AsyncSession, data_dir: Path) -> dict[Path, Any]:
    """Every file the attempts keep, rendered from the rows: what `vigil serve` writes
    before it starts, so files a crash left behind catch up with the database."""
    exams = (await db.scalars(select(Exam).order_by(Exam.id))).all()
    refs = {exam.id: exam.public_id for exam in exams}
    attempts = (await db.scalars(select(ExamAttempt).order_by(ExamAttempt.id))).all()
    documents: dict[Path, Any] = {}
    by_user: dict[int, list[ExamAttempt]] = {}
    for attempt in attempts:
        ref = refs[attempt.exam_id]
        folder = data_dir / "attempts" / str(attempt.user_id) / ref
        documents[folder / f"{attempt.uuid}.json"] = attempt_document(attempt, ref)
        if attempt.status is AttemptStatus.FINISHED:
            documents[data_dir / output_path(ref, attempt)] = bundle_document(attempt, ref)
        by_user.setdefault(attempt.user_id, []).append(attempt)
    for user_id, own in by_user.items():
        documents[data_dir / "progress" / f"{user_id}.json"] = progress_document(
            user_id, own, exams
        )
    documents[data_dir / "manifest.json"] = await manifest(db)
    return documents

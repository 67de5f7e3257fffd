"""Exam rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.core import policy
from vigil.core.errors import InvalidInput, NotFound
from vigil.core.exams.models import Exam
from vigil.core.identity.models import User

MAX_TITLE_LENGTH = 300


async def create_exam(
    db: AsyncSession,
    actor: User,
    *,
    title: str,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
) -> Exam:
    policy.require(actor, policy.Action.MANAGE_EXAMS)
    title = title.strip()
    if not title:
        raise InvalidInput("title must not be empty", field="title")
    if len(title) > MAX_TITLE_LENGTH:
        raise InvalidInput(f"title is longer than {MAX_TITLE_LENGTH} characters", field="title")
    if start_time and end_time and end_time <= start_time:
        raise InvalidInput("end_time must be after start_time", field="end_time")
    exam = Exam(title=title, start_time=start_time, end_time=end_time, owner_id=actor.id)
    db.add(exam)
    await db.flush()
    return exam


async def list_exams(db: AsyncSession) -> Sequence[Exam]:
    return (await db.scalars(select(Exam).order_by(Exam.id))).all()


async def get_exam(db: AsyncSession, exam_id: int) -> Exam:
    exam = await db.get(Exam, exam_id)
    if exam is None:
        raise NotFound(f"exam {exam_id} does not exist", field="exam_id")
    return exam

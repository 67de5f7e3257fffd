"""Exam rules."""

from __future__ import annotations

import uuid as uuid_module
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


async def find_exam(db: AsyncSession, exam_ref: str) -> Exam:
    """The exam a client names by `examId`: a file's id, or a ProctorBE exam's uuid."""
    exam = await db.scalar(select(Exam).where(Exam.external_ref == exam_ref))
    if exam is None:
        try:
            key = uuid_module.UUID(exam_ref)
        except ValueError:
            key = None
        if key is not None:
            exam = await db.scalar(
                select(Exam).where(Exam.uuid == key, Exam.external_ref.is_(None))
            )
    if exam is None:
        raise NotFound(f"exam {exam_ref} does not exist", field="examId")
    return exam


async def list_published(db: AsyncSession) -> Sequence[Exam]:
    return (await db.scalars(select(Exam).where(Exam.published).order_by(Exam.id))).all()


async def manifest_exams(db: AsyncSession) -> dict[int, tuple[str, dict[str, object]]]:
    """Every exam's examId with its published flag, version and title, by row id."""
    exams = (await db.scalars(select(Exam).order_by(Exam.id))).all()
    return {
        exam.id: (
            exam.public_id,
            {"published": exam.published, "version": exam.version, "title": exam.title},
        )
        for exam in exams
    }

"""Exam attempts: a candidate's answers to one version of an exam.

Personal data: links a user to an exam, with their answers and times. Kept as long as the
exam's records (docs/security.md); the files under the data directory are derived views.
"""

from __future__ import annotations

import uuid as uuid_module
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vigil.core.attempts.statuses import AttemptStatus
from vigil.storage.db import Base, UtcDateTime, str_enum, utcnow


class ExamAttempt(Base):
    __tablename__ = "exam_attempts"
    __table_args__ = (Index("ix_exam_attempts_user_exam", "user_id", "exam_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[uuid_module.UUID] = mapped_column(Uuid, unique=True, default=uuid_module.uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    status: Mapped[AttemptStatus] = mapped_column(str_enum(AttemptStatus))
    # "{user_id}:{exam_id}" while the attempt is active, NULL after: the unique constraint
    # is the database's own guarantee of one active attempt per exam per user.
    active_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    # The exam as it was when the attempt started: a later import does not change it.
    exam_version: Mapped[int] = mapped_column(Integer)
    exam_content: Mapped[dict[str, Any]] = mapped_column(JSON)
    # {questionId: {"response": ..., "timeSec": ...}}
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # When time runs out (the exam's duration, capped by its end time); None: no limit.
    deadline_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The candidate's proctoring session for this exam, when one is open (core/attempts/links.py).
    proctoring_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("proctoring_sessions.id", ondelete="SET NULL"), index=True
    )

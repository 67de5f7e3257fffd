"""Proctoring sessions.

Personal data: links a candidate to an exam, with times and a risk score. Kept as long as
the evidence it indexes (retention rules in docs/security.md).
"""

from __future__ import annotations

import uuid as uuid_module
from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vigil.core.sessions.statuses import SessionStatus
from vigil.storage.db import Base, UtcDateTime, str_enum, utcnow


class ProctoringSession(Base):
    __tablename__ = "proctoring_sessions"
    __table_args__ = (Index("ix_proctoring_sessions_candidate", "candidate_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[uuid_module.UUID] = mapped_column(Uuid, unique=True, default=uuid_module.uuid4)
    session_key: Mapped[str] = mapped_column(String(64), unique=True)
    # None until someone sits it: a SparkProctoring session is created by a teacher and
    # joined by a desktop agent holding its session key.
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    exam_id: Mapped[int | None] = mapped_column(
        ForeignKey("exams.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    external_exam_ref: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(32))
    status: Mapped[SessionStatus] = mapped_column(
        str_enum(SessionStatus), default=SessionStatus.PENDING
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    risk_score: Mapped[float] = mapped_column(Float, default=0.0)
    risk_level: Mapped[str] = mapped_column(String(16), default="Low")
    risk_breakdown: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)
    # The agent's AES-256-GCM telemetry key, wrapped by the server key (core/sessions/keys.py).
    telemetry_key_wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    agent_info: Mapped[dict[str, object] | None] = mapped_column(JSON)

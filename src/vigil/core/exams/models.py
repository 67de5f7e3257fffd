"""Exams. No personal data beyond the owner's id.

An exam created through ProctorBE has only a title and times. One imported from an exam
file (`vigil exams import`, docs/exam-attempts.md) also has content: its questions, with
the answer keys, which never leave the server.
"""

from __future__ import annotations

import uuid as uuid_module
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from vigil.storage.db import Base, UtcDateTime, utcnow


class Exam(Base):
    __tablename__ = "exams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[uuid_module.UUID] = mapped_column(Uuid, unique=True, default=uuid_module.uuid4)
    title: Mapped[str] = mapped_column(String(300))
    start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    risk_policy: Mapped[dict[str, object] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # The exam file's `examId`; None for exams created through ProctorBE.
    external_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    # The validated exam file, answer keys included; None when the exam has no content.
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    published: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    duration_seconds: Mapped[int | None] = mapped_column(Integer)

    @property
    def public_id(self) -> str:
        """The `examId` clients use: the file's id, or the uuid of a ProctorBE exam."""
        return self.external_ref or str(self.uuid)

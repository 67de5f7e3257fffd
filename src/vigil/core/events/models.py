"""Proctoring events.

Personal data: describes a candidate's behaviour during an exam, and, once a reviewer
dismisses it, who did and why. Kept with its session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.storage.db import Base, UtcDateTime, utcnow

MAX_DISMISSAL_REASON = 1000


class ProctoringEvent(Base):
    __tablename__ = "proctoring_events"
    __table_args__ = (
        Index("ix_proctoring_events_session_time", "session_id", "occurred_at"),
        UniqueConstraint("session_id", "client_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("proctoring_sessions.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    data: Mapped[dict[str, object] | None] = mapped_column(JSON)
    # Set when a client may send the same event twice (keepalive retries): one row per key.
    client_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # A reviewer's "false positive": the event is kept, and scores nothing while dismissed.
    dismissed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    dismissed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    dismissal_reason: Mapped[str | None] = mapped_column(String(MAX_DISMISSAL_REASON))

"""Evidence rows: one per stored blob.

Personal data: the blobs are students' webcam snapshots, audio, screen and webcam video and
device telemetry. Kept for the retention period the university configures (docs/security.md);
the row keeps the blob's key, size and SHA-256, never its contents.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vigil.storage.db import Base, UtcDateTime, str_enum, utcnow


class EvidenceKind(StrEnum):
    AUDIO = "audio"
    SNAPSHOT = "snapshot"
    VIDEO = "video"
    TELEMETRY = "telemetry"
    FRAME = "frame"


class AnalysisState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Evidence(Base):
    __tablename__ = "evidence"
    __table_args__ = (
        UniqueConstraint("session_id", "kind", "stream", "chunk_index"),
        # The start-up requeue looks for pending rows among every row ever stored.
        Index("ix_evidence_analysis_state", "analysis_state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("proctoring_sessions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[EvidenceKind] = mapped_column(str_enum(EvidenceKind))
    stream: Mapped[str] = mapped_column(String(32))
    chunk_index: Mapped[int] = mapped_column(BigInteger)
    blob_key: Mapped[str] = mapped_column(String(512), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, object] | None] = mapped_column(JSON)
    captured_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    analysis_state: Mapped[AnalysisState] = mapped_column(
        str_enum(AnalysisState), default=AnalysisState.PENDING
    )
    analysis_error: Mapped[str | None] = mapped_column(Text)
    # Started analysis runs, including one a crash cut short; at the limit the row is failed.
    analysis_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    analyzed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

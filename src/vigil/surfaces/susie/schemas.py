"""SUSIE's JSON shapes. The client in the wild drifted from its document (Spanish field names
in `meta`); both spellings are accepted and folded into one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field


def _as_utc(value: datetime) -> datetime:
    """SUSIE clients send ISO times, sometimes without a zone: those are read as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Moment = Annotated[datetime, AfterValidator(_as_utc)]


def _as_text(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Ident = Annotated[str, BeforeValidator(_as_text), Field(min_length=1, max_length=255)]
ChunkIndex = Annotated[int, Field(ge=0, le=2**62)]


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SessionStart(Lenient):
    exam_session_id: Ident = Field(alias="examSessionId")
    exam_id: Ident | None = Field(default=None, alias="examId")
    user_id: Ident | None = Field(default=None, alias="userId")
    timestamp: Moment | None = None


class SessionEnd(Lenient):
    exam_session_id: Ident = Field(alias="examSessionId")
    status: Literal["submitted", "cancelled"] = "submitted"
    timestamp: Moment | None = None


class Meta(Lenient):
    correlation_id: Ident = Field(validation_alias=AliasChoices("correlation_id", "sesion_id"))
    exam_id: Ident | None = Field(
        default=None, validation_alias=AliasChoices("exam_id", "nombre_examen")
    )
    student_id: Ident | None = Field(
        default=None, validation_alias=AliasChoices("student_id", "usuario_id")
    )
    timestamp: Moment | None = None
    source: str | None = Field(default=None, max_length=100)
    fragmento_indice: ChunkIndex | None = None


class AudioInfo(Lenient):
    chunk_index: ChunkIndex | None = None
    type: str | None = Field(default=None, max_length=64)


class SnapshotInfo(Lenient):
    type: str | None = Field(default=None, max_length=64)
    trigger: str | None = Field(default=None, max_length=64)
    browser_focus: bool | None = None
    chunk_index: ChunkIndex | None = None


class BrowserEventInfo(Lenient):
    type: str | None = Field(default=None, max_length=64)
    trigger: str = Field(min_length=1, max_length=64)
    duration_seconds: float | None = Field(default=None, ge=0, le=24 * 3600)


class BrowserEvent(Lenient):
    meta: Meta
    payload_info: BrowserEventInfo


class Ack(BaseModel):
    status: Literal["ok"] = "ok"
    session_id: int
    examSessionId: str  # noqa: N815 - SUSIE's own spelling


class SessionAck(Ack):
    session_status: str


class EvidenceAck(Ack):
    evidence_id: int
    chunk_index: int
    size: int
    sha256: str
    duplicate: bool


class EventAck(Ack):
    event_id: int
    event_type: str

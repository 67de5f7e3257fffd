"""SparkProctoring's shapes, named as the Swagger's `handler.*` definitions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorResponse(BaseModel):
    code: str
    error: str


class CreateSessionRequest(BaseModel):
    title: str | None = Field(default=None, max_length=300)


class CreateSessionResponse(BaseModel):
    id: int
    session_key: str
    status: str
    title: str | None
    created_at: datetime


class AgentAuthRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    session_key: str = Field(min_length=1, max_length=64)
    agent_version: str | None = Field(default=None, max_length=64)
    os: str | None = Field(default=None, max_length=128)
    hostname: str | None = Field(default=None, max_length=255)


class AgentAuthResponse(BaseModel):
    session_id: int
    token: str
    expires_at: datetime
    encryption_key: str = Field(description="base64 of the session's AES-256-GCM telemetry key")


class UploadResponse(BaseModel):
    status: Literal["ok"] = "ok"
    session_id: int
    chunk_idx: int
    stream_type: str
    kind: str
    size: int
    sha256: str
    duplicate: bool


class EndSessionResponse(BaseModel):
    id: int
    status: str
    ended_at: datetime | None


def errors(*codes: int) -> dict[int | str, dict[str, object]]:
    return {code: {"model": ErrorResponse, "description": str(code)} for code in codes}


class EvidenceItem(BaseModel):
    id: int
    kind: str
    stream: str
    chunk_index: int
    size: int
    sha256: str
    content_type: str
    source: str
    received_at: datetime
    captured_at: datetime | None
    analysis_state: str
    content_url: str


class EvidenceListResponse(BaseModel):
    session_id: int
    count: int
    evidence: list[EvidenceItem]


class MeResponse(BaseModel):
    id: int
    email: str | None
    role: str


class SessionSummary(BaseModel):
    id: str
    user_id: str | None = None  # None-valued fields are left out of the body
    status: str
    started_at: str | None = None
    ended_at: str | None = None
    chunks_total: int
    events_total: int
    title: str | None = None
    source: str | None = None
    risk_score: float | None = None
    risk_level: str | None = None


class SessionListResponse(BaseModel):
    sessions: list[SessionSummary]
    total: int
    limit: int
    offset: int


class StreamInfo(BaseModel):
    stream_type: str
    chunk_count: int
    duration_ms: int
    playlist_url: str


class RiskRule(BaseModel):
    """One line of a risk breakdown (docs/risk.md)."""

    rule: str = Field(description="the event type")
    weight: float = Field(description="points per event per unit of severity")
    count: int = Field(description="events counted (dismissed ones are not)")
    # Breakdowns stored before durations were scored have no `seconds`: they had none.
    seconds: float = Field(default=0.0, description="their total duration")
    points: float
    event_ids: list[int]


class SessionDetailResponse(BaseModel):
    session: SessionSummary
    streams: list[StreamInfo]
    risk_breakdown: list[RiskRule] = Field(
        default_factory=list, description="extension: the rules behind risk_score"
    )


class ParsedEvent(BaseModel):
    event_type: str
    timestamp: int
    data: list[int] = Field(description="the event payload's JSON text as bytes 0-255")
    decoded: dict[str, object] | None = Field(default=None, description="extension: data parsed")


class ParsedEventsResponse(BaseModel):
    session_id: int
    count: int
    events: list[ParsedEvent]


class Dismissal(BaseModel):
    by: int | None = Field(description="the reviewer's user id (null once that user is deleted)")
    reason: str
    at: datetime


class TelemetryEvent(BaseModel):
    id: int
    session_id: int
    user_id: int | None = None
    event_type: str
    payload: list[int]
    created_at: datetime
    source: str | None = None
    dismissed: bool = Field(default=False, description="extension: a reviewer's false positive")
    dismissal: Dismissal | None = Field(default=None, description="extension: who, why, when")


class DismissRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, description="why: required")


class DismissalResponse(BaseModel):
    """Extension: an event's dismissal and the session's score after it."""

    session_id: int
    event_id: int
    dismissed: bool
    dismissal: Dismissal | None = None
    risk_score: float
    risk_level: str
    risk_breakdown: list[RiskRule]

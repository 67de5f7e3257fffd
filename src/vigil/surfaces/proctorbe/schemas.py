"""ProctorBE's request and response shapes (docs/proctorbe.md lists every field)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from vigil.core.events.models import ProctoringEvent
from vigil.core.exams.models import Exam
from vigil.core.identity.models import User
from vigil.core.risk import RiskPolicy
from vigil.core.sessions.models import ProctoringSession


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    role: Literal["student", "admin", "teacher"] = "student"


class UserOut(BaseModel):
    id: int
    email: str | None
    role: str

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, email=user.email, role=user.role.value)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    role: str
    user_id: int


class ExamOut(BaseModel):
    id: int
    title: str
    start_time: datetime | None
    end_time: datetime | None
    created_by: int | None

    @classmethod
    def of(cls, exam: Exam) -> ExamOut:
        return cls(
            id=exam.id,
            title=exam.title,
            start_time=exam.start_time,
            end_time=exam.end_time,
            created_by=exam.owner_id,
        )


class SessionOut(BaseModel):
    id: int
    session_id: int
    user_id: int | None
    exam_id: int | None
    status: str
    start_time: datetime | None
    end_time: datetime | None
    risk_score: float
    risk_level: str

    @classmethod
    def of(cls, session: ProctoringSession) -> SessionOut:
        return cls(
            id=session.id,
            session_id=session.id,
            user_id=session.candidate_id,
            exam_id=session.exam_id,
            status=session.status,
            start_time=session.started_at,
            end_time=session.ended_at,
            risk_score=session.risk_score,
            risk_level=session.risk_level,
        )


class RiskRuleOut(BaseModel):
    rule: str
    weight: float
    count: int
    seconds: float
    points: float
    event_ids: list[int]


class SessionEndOut(SessionOut):
    breakdown: list[RiskRuleOut]


class DismissalOut(BaseModel):
    by: int | None
    reason: str
    at: datetime


class EventOut(BaseModel):
    id: int
    session_id: int
    event_type: str
    severity: int
    timestamp: datetime
    source: str
    dismissal: DismissalOut | None = None

    @classmethod
    def of(cls, event: ProctoringEvent) -> EventOut:
        dismissal = None
        if event.dismissed_at is not None:
            dismissal = DismissalOut(
                by=event.dismissed_by_id, reason=event.dismissal_reason or "", at=event.dismissed_at
            )
        return cls(
            id=event.id,
            session_id=event.session_id,
            event_type=event.type,
            severity=event.severity,
            timestamp=event.occurred_at,
            source=event.source,
            dismissal=dismissal,
        )


class FrameAnalysisOut(BaseModel):
    """`/cv/analyze-frame`'s answer (the contract names only the event types)."""

    session_id: int
    evidence_id: int | None = Field(description="the stored frame; null when none was kept")
    analysis: Literal["done", "pending"] = Field(
        description="pending: the analyzer failed, the stored frame is analysed later"
    )
    face_count: int | None
    yaw: float | None = Field(description="head yaw in degrees, when one face was seen")
    pitch: float | None
    events: list[EventOut] = Field(description="the events this frame produced, maybe none")
    detected: list[str] = Field(description='their types, e.g. ["NO_FACE"]')


class ExamRiskPolicyOut(BaseModel):
    exam_id: int
    custom: bool = Field(description="false: the exam uses the default policy")
    policy: RiskPolicy = Field(description="the policy in force, every field spelt out")
    sessions_rescored: int = Field(description="sessions whose score this change recomputed")


class StatusOut(BaseModel):
    status: Literal["ok"] = "ok"
    message: str
    version: str


class ErrorOut(BaseModel):
    detail: str


_DESCRIPTIONS = {
    400: "The request names something wrongly",
    401: "Not authenticated, or the token is invalid or expired",
    403: "Authenticated, but not allowed",
    404: "Not found",
    409: "Conflicts with what is stored",
    413: "Over the size limit",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, object]]:
    return {code: {"model": ErrorOut, "description": _DESCRIPTIONS[code]} for code in codes}

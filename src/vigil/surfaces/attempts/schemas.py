"""The exam-attempts contract's JSON shapes (docs/exam-attempts.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vigil.core.exams.content import QuestionType


class LoginIn(BaseModel):
    login: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    userId: str
    role: str
    csrfToken: str
    expiresIn: int


class ExamSummary(BaseModel):
    examId: str
    title: str
    version: int
    questionCount: int
    durationSeconds: int | None = None


class OptionOut(BaseModel):
    id: str
    text: str


class QuestionOut(BaseModel):
    """A question without its answer key."""

    id: str
    type: QuestionType
    prompt: str
    options: list[OptionOut] = []
    points: float


class ExamOut(BaseModel):
    examId: str
    title: str
    description: str | None = None
    version: int
    published: bool
    durationSeconds: int | None = None
    questions: list[QuestionOut]


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    questionId: str = Field(min_length=1, max_length=100)
    response: Any = None
    timeSec: float | None = Field(default=None, ge=0, le=10**7)


class AutosaveIn(BaseModel):
    """Partial answers; other keys of the attempt (a client may PUT the whole attempt
    back) are ignored. `updatedAt` is the server's value the client last saw."""

    model_config = ConfigDict(extra="ignore")
    answers: list[AnswerIn] = Field(default_factory=list, max_length=1000)
    updatedAt: datetime | None = None


class AnswerOut(BaseModel):
    questionId: str
    response: Any
    timeSec: float | None = None


class AttemptOut(BaseModel):
    attemptId: str
    userId: str
    examId: str
    examVersion: int
    status: str
    startedAt: datetime
    updatedAt: datetime
    submittedAt: datetime | None = None
    deadlineAt: datetime | None = None
    # Extension: the candidate's proctoring session for this exam (ProctorBE's session_id).
    proctoringSessionId: int | None = None
    answers: list[AnswerOut]


class SubmitOut(BaseModel):
    outputPath: str
    attempt: AttemptOut


class ProgressEntry(BaseModel):
    examId: str
    attemptId: str | None
    status: str
    answered: int
    total: int
    percent: float
    updatedAt: datetime | None


class ProgressOut(BaseModel):
    userId: str
    exams: list[ProgressEntry]


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "INVALID_PAYLOAD: names the field",
        401: "UNAUTHENTICATED: no bearer token or session cookie",
        403: "FORBIDDEN: the CSRF header is missing or wrong",
        404: "EXAM_NOT_FOUND or ATTEMPT_NOT_FOUND (also somebody else's attempt)",
        409: "ATTEMPT_EXISTS, ATTEMPT_FINISHED, or STALE_UPDATE with the current attempt",
        413: "PAYLOAD_TOO_LARGE",
        423: "EXAM_NOT_PUBLISHED, EXAM_NOT_OPEN or EXAM_CLOSED",
    }
    return {code: {"description": text[code]} for code in codes}

"""The exam-attempts contract (docs/exam-attempts.md), in the order the spec lists it;
the browser sign-in it asks for (cookie session + CSRF) first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import ValidationError

from vigil.core.attempts import service as attempts
from vigil.core.attempts.models import ExamAttempt
from vigil.core.errors import InvalidInput, NotAvailable, NotFound
from vigil.core.exams import service as exams
from vigil.core.exams.content import public_view
from vigil.core.exams.models import Exam
from vigil.core.identity import service as identity
from vigil.core.policy import Action, allows
from vigil.surfaces.attempts.errors import AttemptsRoute
from vigil.surfaces.attempts.schemas import (
    AttemptOut,
    AutosaveIn,
    ExamOut,
    ExamSummary,
    LoginIn,
    LoginOut,
    ProgressOut,
    SubmitOut,
    errors,
)
from vigil.web.bodies import invalid_from, json_request_body, read_json
from vigil.web.cookies import BrowserUser, clear_session_cookies, set_session_cookies
from vigil.web.deps import DbSession, SettingsDep

router = APIRouter(prefix="/api", route_class=AttemptsRoute, tags=["Exam attempts"])
ExamRef = Annotated[str, Path(min_length=1, max_length=100)]
AttemptRef = Annotated[str, Path(min_length=1, max_length=64)]
PREFIXES = ("/api/auth", "/api/exams", "/api/attempts", "/api/progress")


def attempt_out(attempt: ExamAttempt, exam: Exam) -> AttemptOut:
    return AttemptOut.model_validate(attempts.attempt_document(attempt, exam.public_id))


# --- sign-in ----------------------------------------------------------------------------


@router.post(
    "/auth/login",
    response_model=LoginOut,
    responses=errors(400, 401, 413),
    openapi_extra=json_request_body(LoginIn),
)
async def login(
    request: Request, response: Response, db: DbSession, settings: SettingsDep
) -> LoginOut:
    """JSON `{login, password}` or a form (`login` or `username`, `password`)."""
    body = await _login_body(request, settings.max_json_bytes)
    user = await identity.authenticate(db, body.login, body.password)
    csrf, max_age = set_session_cookies(request, response, settings, user)
    return LoginOut(userId=str(user.id), role=user.role.value, csrfToken=csrf, expiresIn=max_age)


@router.post("/auth/logout", status_code=204, responses=errors(401, 403))
async def logout(response: Response, user: BrowserUser) -> None:
    clear_session_cookies(response)


async def _login_body(request: Request, limit: int) -> LoginIn:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        fields = {
            "login": form.get("login") or form.get("username"),
            "password": form.get("password"),
        }
        try:
            return LoginIn.model_validate(fields)
        except ValidationError as exc:
            raise invalid_from(exc) from exc
    return await read_json(request, LoginIn, limit)


# --- exams ------------------------------------------------------------------------------


@router.get("/exams", response_model=list[ExamSummary], responses=errors(401))
async def list_exams(db: DbSession, user: BrowserUser) -> list[ExamSummary]:
    return [
        ExamSummary(
            examId=exam.public_id,
            title=exam.title,
            version=exam.version,
            questionCount=len((exam.content or {}).get("questions", [])),
            durationSeconds=exam.duration_seconds,
        )
        for exam in await exams.list_published(db)
    ]


@router.get("/exams/{examId}", response_model=ExamOut, responses=errors(400, 401, 404, 423))
async def get_exam(
    examId: ExamRef,
    db: DbSession,
    user: BrowserUser,
    attemptId: Annotated[str | None, Query(max_length=64)] = None,
) -> ExamOut:
    """The exam without its answer keys; an unpublished one only to those who manage exams.
    With `attemptId` (the caller's own attempt at this exam): the version it started on."""
    exam = await exams.find_exam(db, examId)
    if attemptId is not None:
        attempt, of_exam = await attempts.own_attempt(db, user, attemptId)
        if of_exam.id != exam.id:
            raise NotFound(f"attempt {attemptId} does not exist", field="attemptId")
        content, version = attempt.exam_content, attempt.exam_version
    elif not exam.published and not allows(user, Action.MANAGE_EXAMS):
        raise NotAvailable(f"exam {examId} is not published", field="examId")
    else:
        content, version = exam.content or {"questions": []}, exam.version
    shown: dict[str, Any] = public_view(content)
    return ExamOut(
        examId=exam.public_id,
        title=shown.get("title", exam.title),
        description=shown.get("description"),
        version=version,
        published=exam.published,
        durationSeconds=shown.get("durationSeconds", exam.duration_seconds),
        questions=shown["questions"],
    )


@router.post(
    "/exams/{examId}/attempt",
    response_model=AttemptOut,
    response_model_exclude_none=True,
    responses={
        201: {"description": "A new attempt", "model": AttemptOut},
        **errors(400, 401, 403, 404, 409, 423),
    },
)
async def start_attempt(
    examId: ExamRef,
    response: Response,
    db: DbSession,
    settings: SettingsDep,
    user: BrowserUser,
) -> AttemptOut:
    """Start an attempt (201) or resume the active one (200)."""
    attempt, exam, resumed = await attempts.start_or_resume(db, user, examId, settings.data_dir)
    response.status_code = 200 if resumed else 201
    return attempt_out(attempt, exam)


# --- attempts ---------------------------------------------------------------------------


@router.put(
    "/attempts/{attemptId}",
    response_model=AttemptOut,
    response_model_exclude_none=True,
    responses=errors(400, 401, 403, 404, 409, 413),
    openapi_extra=json_request_body(AutosaveIn),
)
async def autosave(
    attemptId: AttemptRef,
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    user: BrowserUser,
) -> AttemptOut:
    body = await read_json(request, AutosaveIn, settings.max_json_bytes)
    answers = [
        attempts.AnswerIn(answer.questionId, answer.response, answer.timeSec)
        for answer in body.answers
    ]
    if body.updatedAt is not None and body.updatedAt.tzinfo is None:
        raise InvalidInput(
            "updatedAt: give a time zone (the server's value ends in Z)", field="updatedAt"
        )
    attempt, exam = await attempts.autosave(
        db, user, attemptId, answers, body.updatedAt, settings.data_dir
    )
    return attempt_out(attempt, exam)


@router.post(
    "/attempts/{attemptId}/submit",
    response_model=SubmitOut,
    response_model_exclude_none=True,
    responses=errors(400, 401, 403, 404, 409),
)
async def submit(
    attemptId: AttemptRef,
    db: DbSession,
    settings: SettingsDep,
    user: BrowserUser,
) -> SubmitOut:
    attempt, exam, path = await attempts.submit(db, user, attemptId, settings.data_dir)
    return SubmitOut(outputPath=path, attempt=attempt_out(attempt, exam))


# --- progress ---------------------------------------------------------------------------


@router.get("/progress/me", response_model=ProgressOut, responses=errors(401))
async def my_progress(db: DbSession, user: BrowserUser) -> ProgressOut:
    return ProgressOut.model_validate(await attempts.progress(db, user.id))

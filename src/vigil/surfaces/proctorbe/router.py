"""ProctorBE endpoints, in the order proctorbe.md lists them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request

from vigil import __version__
from vigil.analysis import frames
from vigil.analysis.vision import LookingAwayThresholds
from vigil.core import policy
from vigil.core.errors import PayloadTooLarge, PermissionDenied
from vigil.core.events import service as events
from vigil.core.exams import risk_policy as exam_policies
from vigil.core.exams import service as exams
from vigil.core.identity import service as identity
from vigil.core.identity.models import Role
from vigil.core.risk import RiskPolicy
from vigil.core.sessions import service as sessions
from vigil.storage.db import MAX_ROW_ID
from vigil.surfaces.proctorbe.errors import ProctorBERoute
from vigil.surfaces.proctorbe.schemas import (
    EventOut,
    ExamOut,
    ExamRiskPolicyOut,
    FrameAnalysisOut,
    RegisterRequest,
    RiskRuleOut,
    SessionEndOut,
    SessionOut,
    StatusOut,
    TokenOut,
    UserOut,
    error_responses,
)
from vigil.web.deps import CurrentUser, DbSession, OptionalUser, RuntimeDep, SettingsDep
from vigil.web.multipart import StreamingForm

SOURCE = "proctorbe"
QueryId = Annotated[int, Query(ge=1, le=MAX_ROW_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
router = APIRouter(route_class=ProctorBERoute, tags=["ProctorBE"])


@router.get("/", response_model=StatusOut)
async def health() -> StatusOut:
    return StatusOut(message="Vigil proctoring backend is running", version=__version__)


# --- Authentication -------------------------------------------------------------------


@router.post(
    "/auth/register", response_model=UserOut, responses=error_responses(400, 401, 403, 409)
)
async def register(body: RegisterRequest, db: DbSession, caller: OptionalUser) -> UserOut:
    role = Role(body.role)
    if role is not Role.STUDENT and (caller is None or caller.role is not Role.ADMIN):
        raise PermissionDenied(f"registering an {role.value} account needs an admin's token")
    user = await identity.create_user(
        db,
        identity.NewUser(
            login=body.email.lower(), email=body.email, password=body.password, role=role
        ),
    )
    return UserOut.of(user)


@router.post("/auth/login", response_model=TokenOut, responses=error_responses(400, 401))
async def login(
    username: Annotated[str, Form(description="the account's email")],
    password: Annotated[str, Form()],
    db: DbSession,
    settings: SettingsDep,
) -> TokenOut:
    user = await identity.authenticate(db, username, password)
    issued = identity.issue_user_token(settings.signing_key, user, settings.token_ttl_seconds)
    return TokenOut(
        access_token=issued.token,
        expires_at=issued.expires_at,
        role=user.role.value,
        user_id=user.id,
    )


# --- Exams ----------------------------------------------------------------------------


@router.post("/exams/", response_model=ExamOut, responses=error_responses(400, 401, 403))
async def create_exam(
    title: Annotated[str, Query(min_length=1, max_length=300)],
    db: DbSession,
    user: CurrentUser,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
) -> ExamOut:
    exam = await exams.create_exam(
        db, user, title=title, start_time=_aware(start_time), end_time=_aware(end_time)
    )
    return ExamOut.of(exam)


@router.get("/exams/", response_model=list[ExamOut])
async def list_exams(db: DbSession) -> list[ExamOut]:
    return [ExamOut.of(exam) for exam in await exams.list_exams(db)]


# Extension (docs/risk.md): an exam's risk policy, for an admin or the exam's owner.


@router.get(
    "/exams/{exam_id}/risk-policy",
    response_model=ExamRiskPolicyOut,
    responses=error_responses(401, 403, 404),
)
async def get_risk_policy(exam_id: PathId, db: DbSession, user: CurrentUser) -> ExamRiskPolicyOut:
    return _policy_out(await exam_policies.read_policy(db, user, exam_id))


@router.put(
    "/exams/{exam_id}/risk-policy",
    response_model=ExamRiskPolicyOut,
    responses=error_responses(400, 401, 403, 404),
)
async def put_risk_policy(
    exam_id: PathId, body: RiskPolicy, db: DbSession, user: CurrentUser
) -> ExamRiskPolicyOut:
    return _policy_out(await exam_policies.set_policy(db, user, exam_id, body))


@router.delete(
    "/exams/{exam_id}/risk-policy",
    response_model=ExamRiskPolicyOut,
    responses=error_responses(401, 403, 404),
)
async def reset_risk_policy(exam_id: PathId, db: DbSession, user: CurrentUser) -> ExamRiskPolicyOut:
    return _policy_out(await exam_policies.set_policy(db, user, exam_id, None))


def _policy_out(found: exam_policies.ExamPolicy) -> ExamRiskPolicyOut:
    return ExamRiskPolicyOut(
        exam_id=found.exam.id,
        custom=found.custom,
        policy=found.policy,
        sessions_rescored=found.sessions_rescored,
    )


# --- Sessions -------------------------------------------------------------------------


@router.post("/sessions/start", response_model=SessionOut, responses=error_responses(401, 404))
async def start_session(exam_id: QueryId, db: DbSession, user: CurrentUser) -> SessionOut:
    session = await sessions.start_exam_session(db, user, exam_id, source=SOURCE)
    return SessionOut.of(session)


@router.post(
    "/sessions/end", response_model=SessionEndOut, responses=error_responses(401, 403, 404, 409)
)
async def end_session(session_id: QueryId, db: DbSession, user: CurrentUser) -> SessionEndOut:
    session, result = await sessions.end_session(db, user, session_id)
    return SessionEndOut(
        **SessionOut.of(session).model_dump(),
        breakdown=[RiskRuleOut.model_validate(rule.as_dict()) for rule in result.breakdown],
    )


# --- Proctoring events ----------------------------------------------------------------


@router.post(
    "/events/", response_model=EventOut, responses=error_responses(400, 401, 403, 404, 409)
)
@router.post(
    "/events",
    response_model=EventOut,
    responses=error_responses(400, 401, 403, 404, 409),
    include_in_schema=False,
)
async def log_event(
    session_id: QueryId,
    event_type: Annotated[str, Query(min_length=1, max_length=64)],
    db: DbSession,
    user: CurrentUser,
    severity: Annotated[int, Query(ge=0, le=events.MAX_SEVERITY)] = 1,
) -> EventOut:
    event = await events.record_event(
        db, user, session_id, event_type=event_type, severity=severity, source=SOURCE
    )
    return EventOut.of(event)


# --- Computer vision ------------------------------------------------------------------


@router.post(
    "/cv/analyze-frame",
    response_model=FrameAnalysisOut,
    responses=error_responses(400, 401, 403, 404, 409, 413),
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {}}}},
)
async def analyze_frame(
    request: Request, session_id: QueryId, db: DbSession, user: CurrentUser, runtime: RuntimeDep
) -> FrameAnalysisOut:
    session = await sessions.get_session(db, user, session_id, policy.Action.WRITE_EVIDENCE)
    limit = runtime.settings.max_snapshot_bytes
    data = await _frame_bytes(request, limit)
    found = await frames.analyze_frame(
        db,
        runtime.blobs,
        session,
        data,
        source=SOURCE,
        max_bytes=limit,
        thresholds=LookingAwayThresholds.from_settings(runtime.settings),
    )
    observation = found.observation
    return FrameAnalysisOut(
        session_id=session.id,
        evidence_id=found.evidence.id if found.evidence else None,
        analysis="done" if found.done else "pending",
        face_count=observation.face_count if observation else None,
        yaw=observation.yaw if observation else None,
        pitch=observation.pitch if observation else None,
        events=[EventOut.of(e) for e in found.events],
        detected=[e.type for e in found.events],
    )


async def _frame_bytes(request: Request, limit: int) -> bytes | None:
    """The form's `file` part; None when the request carries no body or no file."""
    if not request.headers.get("content-type") and not await request.body():
        return None
    form = StreamingForm(request)
    data: bytes | None = None
    while (part := await form.next_part()) is not None:
        if part.name != "file" or data is not None:
            continue
        received = bytearray()
        async for chunk in form.chunks():
            received += chunk
            if len(received) > limit:
                raise PayloadTooLarge(f"file is over the {limit}-byte limit", field="file")
        data = bytes(received)
    return data


# --- Admin ----------------------------------------------------------------------------


@router.get("/admin/sessions", response_model=list[SessionOut], responses=error_responses(401, 403))
async def admin_sessions(db: DbSession, user: CurrentUser) -> list[SessionOut]:
    found, _total = await sessions.list_sessions(db, user)
    return [SessionOut.of(session) for session in found]


@router.get(
    "/admin/sessions/{session_id}/events",
    response_model=list[EventOut],
    responses=error_responses(401, 403, 404),
)
async def admin_session_events(
    session_id: PathId, db: DbSession, user: CurrentUser
) -> list[EventOut]:
    policy.require(user, policy.Action.LIST_SESSIONS)
    return [EventOut.of(e) for e in await events.list_session_events(db, user, session_id)]


def _aware(moment: datetime | None) -> datetime | None:
    """ProctorBE clients send naive ISO times: Vigil reads them as UTC, and keeps UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

"""SparkProctoring's agent-side paths: create a session, agent auth, upload, end."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from vigil.core import policy
from vigil.core.errors import PayloadTooLarge, Unauthenticated
from vigil.core.sessions import agents
from vigil.core.sessions import service as sessions
from vigil.core.sessions.statuses import SessionStatus
from vigil.storage.db import MAX_ROW_ID
from vigil.surfaces.spark.errors import SparkRoute
from vigil.surfaces.spark.schemas import (
    AgentAuthRequest,
    AgentAuthResponse,
    CreateSessionRequest,
    CreateSessionResponse,
    EndSessionResponse,
    UploadResponse,
    errors,
)
from vigil.surfaces.spark.uploads import receive_upload
from vigil.web.deps import BearerToken, CurrentUser, DbSession, RuntimeDep, SettingsDep
from vigil.web.multipart import StreamingForm

router = APIRouter(prefix="/api/v1", route_class=SparkRoute, tags=["SparkProctoring"])
FORM_OVERHEAD = 64 * 1024


async def agent_token_session(token: BearerToken, settings: SettingsDep) -> int:
    if not token:
        raise Unauthenticated("send the agent token as `Authorization: Bearer <token>`")
    return agents.agent_session_id(settings.signing_key, token)


AgentSessionId = Annotated[int, Depends(agent_token_session)]


@router.post(
    "/sessions",
    status_code=201,
    response_model=CreateSessionResponse,
    responses=errors(400, 401, 403),
)
async def create_session(
    body: CreateSessionRequest, db: DbSession, user: CurrentUser
) -> CreateSessionResponse:
    session = await agents.create_session(db, user, body.title)
    return CreateSessionResponse(
        id=session.id,
        session_key=session.session_key,
        status=session.status,
        title=session.title,
        created_at=session.created_at,
    )


@router.post("/agent/auth", response_model=AgentAuthResponse, responses=errors(400, 401, 409))
async def agent_auth(
    body: AgentAuthRequest, db: DbSession, settings: SettingsDep
) -> AgentAuthResponse:
    info = {k: v for k, v in body.model_dump(exclude={"session_key"}).items() if v is not None}
    grant = await agents.authenticate_agent(
        db, settings.signing_key, body.session_key, info, settings.agent_token_ttl_seconds
    )
    return AgentAuthResponse(
        session_id=grant.session.id,
        token=grant.token.token,
        expires_at=grant.token.expires_at,
        encryption_key=base64.b64encode(grant.encryption_key).decode(),
    )


@router.post(
    "/upload",
    response_model=UploadResponse,
    responses=errors(400, 401, 403, 404, 409, 413),
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {}}}},
)
async def upload(
    request: Request, token_session_id: AgentSessionId, db: DbSession, runtime: RuntimeDep
) -> UploadResponse:
    limit = runtime.settings.max_video_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        raise PayloadTooLarge(f"uploads are limited to {limit} bytes", field="file")
    form, intake = await receive_upload(db, runtime, token_session_id, StreamingForm(request))
    row = intake.evidence
    return UploadResponse(
        session_id=row.session_id,
        chunk_idx=row.chunk_index,
        stream_type=form.stream_type,
        kind=row.kind,
        size=row.size,
        sha256=row.sha256,
        duplicate=intake.duplicate,
    )


@router.post("/agent/end", response_model=EndSessionResponse, responses=errors(401, 404))
async def agent_end(token_session_id: AgentSessionId, db: DbSession) -> EndSessionResponse:
    """Extension (DESIGN §6): the agent's EndSession, which the Swagger gives no REST path."""
    session = await agents.agent_session(db, token_session_id, token_session_id)
    await agents.end_by_agent(db, session)
    return EndSessionResponse(id=session.id, status=session.status, ended_at=session.ended_at)


@router.post(
    "/sessions/{id}/end", response_model=EndSessionResponse, responses=errors(400, 401, 403, 404)
)
async def end_session(
    id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], db: DbSession, user: CurrentUser
) -> EndSessionResponse:
    """Extension (DESIGN §6): a teacher or admin ends a session."""
    session = await sessions.get_session(db, user, id, policy.Action.END_SESSION)
    await sessions.finish_session(db, user, session, SessionStatus.FINISHED)
    return EndSessionResponse(id=session.id, status=session.status, ended_at=session.ended_at)

"""SparkProctoring's agent-side paths: create a session, agent auth, upload, end."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import StreamingResponse

from vigil.core import policy
from vigil.core.errors import PayloadTooLarge, Unauthenticated
from vigil.core.evidence import service as evidence
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
    EvidenceItem,
    EvidenceListResponse,
    UploadResponse,
    errors,
)
from vigil.surfaces.spark.uploads import receive_upload
from vigil.web.deps import BearerToken, CurrentUser, DbSession, RuntimeDep, SettingsDep
from vigil.web.multipart import StreamingForm

router = APIRouter(prefix="/api/v1", route_class=SparkRoute, tags=["SparkProctoring"])
SessionId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
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
async def end_session(id: SessionId, db: DbSession, user: CurrentUser) -> EndSessionResponse:
    """Extension (DESIGN §6): a teacher or admin ends a session."""
    session = await sessions.get_session(db, user, id, policy.Action.END_SESSION)
    await sessions.finish_session(db, user, session, SessionStatus.FINISHED)
    return EndSessionResponse(id=session.id, status=session.status, ended_at=session.ended_at)


@router.get(
    "/sessions/{id}/evidence",
    response_model=EvidenceListResponse,
    responses=errors(400, 401, 403, 404),
)
async def list_evidence(id: SessionId, db: DbSession, user: CurrentUser) -> EvidenceListResponse:
    """Extension: every stored chunk of a session, from every client, with its SHA-256."""
    await sessions.get_session(db, user, id, policy.Action.READ_SESSION)
    rows = await evidence.list_evidence(db, id)
    items = [
        EvidenceItem(
            id=row.id,
            kind=row.kind,
            stream=row.stream,
            chunk_index=row.chunk_index,
            size=row.size,
            sha256=row.sha256,
            content_type=row.content_type,
            source=row.source,
            received_at=row.received_at,
            captured_at=row.captured_at,
            analysis_state=row.analysis_state,
            content_url=f"/api/v1/sessions/{id}/evidence/{row.id}",
        )
        for row in rows
    ]
    return EvidenceListResponse(session_id=id, count=len(items), evidence=items)


@router.get(
    "/sessions/{id}/evidence/{evidence_id}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, **errors(400, 401, 403, 404)},
)
async def evidence_content(
    id: SessionId,
    evidence_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    db: DbSession,
    user: CurrentUser,
    runtime: RuntimeDep,
) -> StreamingResponse:
    """Extension: the stored bytes of one chunk, exactly as they arrived."""
    await sessions.get_session(db, user, id, policy.Action.READ_SESSION)
    row = await evidence.get_evidence(db, id, evidence_id)
    await runtime.blobs.size(row.blob_key)  # a missing blob is a 404 before streaming starts
    return StreamingResponse(
        runtime.blobs.read(row.blob_key),
        media_type=row.content_type,
        headers={"Content-Length": str(row.size), "ETag": f'"{row.sha256}"'},
    )

"""SUSIE endpoints under /susie/api/v1/monitoreo, in the contract's order."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, cast

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.core import policy
from vigil.core.errors import InvalidInput, PermissionDenied
from vigil.core.events import service as events
from vigil.core.evidence import service as evidence
from vigil.core.evidence.models import EvidenceKind
from vigil.core.evidence.sniff import jpeg_check, webm_check
from vigil.core.identity.models import User
from vigil.core.sessions import service as sessions
from vigil.core.sessions.models import ProctoringSession
from vigil.core.sessions.refs import SessionRef
from vigil.core.sessions.statuses import SessionStatus
from vigil.runtime import Runtime
from vigil.surfaces.susie.errors import SusieRoute
from vigil.surfaces.susie.schemas import (
    AudioInfo,
    BrowserEvent,
    EventAck,
    EvidenceAck,
    Meta,
    SessionAck,
    SessionEnd,
    SessionStart,
    SnapshotInfo,
)
from vigil.web.bodies import json_request_body, parse_json, read_json
from vigil.web.deps import bearer_scheme, caller, runtime_of
from vigil.web.direct import BareEndpoint
from vigil.web.multipart import StreamingForm

SOURCE = "susie"
router = APIRouter(prefix="/susie/api/v1/monitoreo", route_class=SusieRoute, tags=["SUSIE"])
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"description": text}
    for code, text in {
        400: "Bad request: names the field (wrong multipart order, bad JSON, wrong format)",
        401: "No valid bearer token",
        403: "The token's student is not the one the body names",
        404: "Unknown session",
        409: "Chunk index already holds different bytes",
        413: "Over the size limit",
    }.items()
}


def check_identity(user: User, claimed: str | None) -> None:
    """The body may name the student only as the token's own user: never somebody else."""
    if claimed is None:
        return
    own = {user.external_id, user.login, user.email, str(user.id)}
    if claimed not in own:
        raise PermissionDenied(f"student {claimed} is not the signed-in user", field="student_id")


async def candidate_session(db: AsyncSession, user: User, meta: Meta) -> ProctoringSession:
    check_identity(user, meta.student_id)
    session = await sessions.start_external_session(
        db, user, meta.correlation_id, exam_ref=meta.exam_id, source=SOURCE
    )
    require_evidence_writer(user, session)
    return session


MULTIPART_BODY: dict[str, Any] = {"requestBody": {"content": {"multipart/form-data": {}}}}


class BareRoute(SusieRoute):
    """SUSIE's endpoints are the busiest of all (every student, every few seconds): each
    takes the bare Request and returns its Response, without FastAPI's per-request
    dependency solving and response validation (about 5% of an upload's CPU on the event
    loop, measured when it was introduced), and the app hands them their requests before
    routing (web/direct.py). The route's `dependencies` and `response_model` document it
    in OpenAPI; the endpoint enforces them itself (`caller`, `json_answer` of the model)."""

    def get_route_handler(self) -> BareEndpoint:
        return cast(BareEndpoint, self.endpoint)


def direct_routes() -> list[BareRoute]:
    return [route for route in router.routes if isinstance(route, BareRoute)]


def bare_endpoint(
    path: str, answer: type[BaseModel], request_body: dict[str, Any]
) -> Callable[[BareEndpoint], BareEndpoint]:
    def register(endpoint: BareEndpoint) -> BareEndpoint:
        router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            response_model=answer,
            responses=ERRORS,
            dependencies=[Depends(bearer_scheme)],
            openapi_extra=request_body,
            route_class_override=BareRoute,
        )
        return endpoint

    return register


def json_answer(answer: BaseModel) -> Response:
    return Response(answer.model_dump_json(by_alias=True), media_type="application/json")


# --- 4. sessions ------------------------------------------------------------------------


@bare_endpoint("/sesiones/start", SessionAck, json_request_body(SessionStart))
async def start(request: Request) -> Response:
    user, runtime = await caller(request), runtime_of(request)
    body = await read_json(request, SessionStart, runtime.settings.max_json_bytes)
    check_identity(user, body.user_id)

    async def open_session(db: AsyncSession) -> ProctoringSession:
        return await sessions.start_external_session(
            db,
            user,
            body.exam_session_id,
            exam_ref=body.exam_id,
            source=SOURCE,
            started_at=body.timestamp,
            expect_new=True,
        )

    session = await runtime.writes.run(open_session)
    runtime.session_refs.remember(session)  # committed: uploads may find it without a read
    return json_answer(
        SessionAck(
            session_id=session.id,
            examSessionId=body.exam_session_id,
            session_status=session.status,
        )
    )


@bare_endpoint("/sesiones/end", SessionAck, json_request_body(SessionEnd))
async def end(request: Request) -> Response:
    user, runtime = await caller(request), runtime_of(request)
    body = await read_json(request, SessionEnd, runtime.settings.max_json_bytes)
    target = SessionStatus.FINISHED if body.status == "submitted" else SessionStatus.CANCELLED

    async def finish(db: AsyncSession) -> SessionAck:
        session = await sessions.get_external_session(db, body.exam_session_id)
        await sessions.finish_session(db, user, session, target)
        return SessionAck(
            session_id=session.id,
            examSessionId=body.exam_session_id,
            session_status=session.status,
        )

    return json_answer(await runtime.writes.run(finish))


# --- 1-2. audio and snapshots -----------------------------------------------------------


async def open_evidence_form(request: Request) -> tuple[Meta, str, StreamingForm]:
    """Read `meta` and `payload_info`, and stop at `file`: the order is the contract's rule."""
    form = StreamingForm(request)
    fields: dict[str, str] = {}
    while (part := await form.next_part()) is not None:
        if part.name == "file":
            missing = [name for name in ("meta", "payload_info") if name not in fields]
            if missing:
                raise InvalidInput(
                    f"wrong field order: `file` arrived before {' and '.join(missing)}; "
                    "send meta, then payload_info, then file last",
                    field="file",
                )
            return parse_json(Meta, fields["meta"], "meta"), fields["payload_info"], form
        if part.name in ("meta", "payload_info"):
            fields[part.name] = await form.read_field(part.name)
    raise InvalidInput("the form has no `file` part", field="file")


async def store(
    runtime: Runtime, user: User, meta: Meta, form: StreamingForm, **upload: Any
) -> Response:
    """Store the form's `file` part as one chunk of the candidate's session, and ack it.

    No request transaction: the session is read (or started in a transaction of its own),
    and the row is committed through the evidence ledger with the other uploads of the
    moment."""
    session = await evidence_session(runtime, user, meta)
    chunk = evidence.Upload(
        session_id=session.id, source=SOURCE, captured_at=meta.timestamp, **upload
    )
    intake = await evidence.ingest_through(runtime.ledger, runtime.blobs, chunk, form.chunks())
    while await form.next_part() is not None:  # read to the closing boundary
        pass
    return json_answer(evidence_ack(meta, intake))


async def evidence_session(runtime: Runtime, user: User, meta: Meta) -> SessionRef:
    """`candidate_session` for uploads: a session seen before is only read, and once."""
    check_identity(user, meta.student_id)
    ref = await runtime.session_refs.find(runtime.reader, meta.correlation_id)
    if ref is None:
        session = await runtime.writes.run(lambda db: candidate_session(db, user, meta))
        return runtime.session_refs.remember(session)
    require_evidence_writer(user, sessions.require_candidate(ref, user))
    return ref


def require_evidence_writer(user: User, session: ProctoringSession | SessionRef) -> None:
    # Writing evidence turns on the candidate alone, so the exam's owner need not be read.
    owners = policy.SessionOwnership(session.candidate_id, session.created_by_id, None)
    policy.require(user, policy.Action.WRITE_EVIDENCE, owners)


def evidence_ack(meta: Meta, intake: evidence.Intake) -> EvidenceAck:
    row = intake.evidence
    return EvidenceAck(
        session_id=row.session_id,
        examSessionId=meta.correlation_id,
        evidence_id=row.id,
        chunk_index=row.chunk_index,
        size=row.size,
        sha256=row.sha256,
        duplicate=intake.duplicate,
    )


@bare_endpoint("/evidencias/audios", EvidenceAck, MULTIPART_BODY)
async def audio(request: Request) -> Response:
    user = await caller(request)
    meta, payload_text, form = await open_evidence_form(request)
    info = parse_json(AudioInfo, payload_text, "payload_info")
    index = info.chunk_index if info.chunk_index is not None else meta.fragmento_indice
    if index is None:
        raise InvalidInput("payload_info.chunk_index is required", field="payload_info.chunk_index")
    runtime = runtime_of(request)
    return await store(
        runtime, user, meta, form,
        kind=EvidenceKind.AUDIO, stream="microphone", chunk_index=index,
        content_type="audio/webm", max_bytes=runtime.settings.max_audio_bytes,
        check=webm_check(), details={"type": info.type, "client_source": meta.source},
    )  # fmt: skip


@bare_endpoint("/evidencias/snapshots", EvidenceAck, MULTIPART_BODY)
async def snapshot(request: Request) -> Response:
    user = await caller(request)
    meta, payload_text, form = await open_evidence_form(request)
    info = parse_json(SnapshotInfo, payload_text, "payload_info")
    runtime = runtime_of(request)
    return await store(
        runtime, user, meta, form,
        kind=EvidenceKind.SNAPSHOT, stream="webcam", chunk_index=snapshot_index(meta, info),
        content_type="image/jpeg", max_bytes=runtime.settings.max_snapshot_bytes,
        check=jpeg_check(),
        details={"trigger": info.trigger, "browser_focus": info.browser_focus},
    )  # fmt: skip


def snapshot_index(meta: Meta, info: SnapshotInfo) -> int:
    """Snapshots carry no index in the contract: the capture time in ms stands in for one,
    so a retried snapshot (same meta.timestamp) is recognised as the same."""
    if info.chunk_index is not None:
        return info.chunk_index
    if meta.fragmento_indice is not None:
        return meta.fragmento_indice
    if meta.timestamp is not None:
        return int(meta.timestamp.timestamp() * 1000)
    raise InvalidInput(
        "a snapshot needs meta.timestamp (or payload_info.chunk_index)", field="meta.timestamp"
    )


# --- 3. browser events ------------------------------------------------------------------


@bare_endpoint("/evidencias/eventos", EventAck, json_request_body(BrowserEvent))
async def browser_event(request: Request) -> Response:
    user, runtime = await caller(request), runtime_of(request)
    body = await read_json(request, BrowserEvent, runtime.settings.max_json_bytes)
    info = body.payload_info
    session = await evidence_session(runtime, user, body.meta)

    async def record(db: AsyncSession) -> EventAck:
        event = await events.record_in(
            db,
            session,
            event_type=info.trigger,
            severity=1,
            source=SOURCE,
            occurred_at=body.meta.timestamp,
            duration_seconds=info.duration_seconds,
            data={"type": info.type},
            client_key=_event_key(body) if body.meta.timestamp else None,
            after_end=True,
        )
        return EventAck(
            session_id=session.id,
            examSessionId=body.meta.correlation_id,
            event_id=event.id,
            event_type=event.type,
        )

    return json_answer(await runtime.writes.run(record))


def _event_key(body: BrowserEvent) -> str:
    canonical = json.dumps(
        [body.meta.correlation_id, body.meta.timestamp, body.payload_info.model_dump()],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()

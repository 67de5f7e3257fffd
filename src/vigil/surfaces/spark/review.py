"""SparkProctoring's reviewer paths: me, sessions, HLS playback, telemetry, fingerprint,
and (extensions) the risk breakdown and dismissing an event as a false positive."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from vigil.core import fingerprint, policy, review
from vigil.core.errors import InvalidInput, NotFound
from vigil.core.events import agent as agent_events
from vigil.core.events import service as events
from vigil.core.events.models import ProctoringEvent
from vigil.core.identity.models import User
from vigil.core.risk import RiskAssessment
from vigil.core.sessions import service as sessions
from vigil.core.sessions.models import ProctoringSession
from vigil.storage.db import MAX_ROW_ID
from vigil.surfaces.spark.errors import SparkRoute
from vigil.surfaces.spark.schemas import (
    Dismissal,
    DismissalResponse,
    DismissRequest,
    MeResponse,
    ParsedEvent,
    ParsedEventsResponse,
    RiskRule,
    SessionDetailResponse,
    SessionListResponse,
    SessionSummary,
    StreamInfo,
    TelemetryEvent,
    errors,
)
from vigil.web.deps import CurrentUser, DbSession, RuntimeDep
from vigil.web.ranges import serve_blob

router = APIRouter(prefix="/api/v1", route_class=SparkRoute, tags=["SparkProctoring review"])
SessionId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
# Unix ms up to the end of year 9999: a datetime cannot hold more.
Millis = Annotated[int | None, Query(ge=0, le=253_402_300_799_999)]
DEFAULT_LIMIT, MAX_LIMIT = 50, 100


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _summary(session: ProctoringSession, counts: review.Counts) -> SessionSummary:
    return SessionSummary(
        id=str(session.id),
        user_id=str(session.candidate_id) if session.candidate_id is not None else None,
        status=session.status,
        started_at=_iso(session.started_at),
        ended_at=_iso(session.ended_at),
        chunks_total=counts.chunks,
        events_total=counts.events,
        title=session.title,
        source=session.source,
        risk_score=session.risk_score,
        risk_level=session.risk_level,
    )


async def _readable(db: DbSession, user: User, session_id: int) -> ProctoringSession:
    return await sessions.get_session(db, user, session_id, policy.Action.READ_SESSION)


def _stream(stream_type: str) -> str:
    if stream_type not in review.VIDEO_STREAMS:
        raise InvalidInput("stream_type must be screen or webcam", field="stream_type")
    return stream_type


def _moment(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _json_bytes(data: dict[str, Any] | None) -> list[int]:
    text = json.dumps(data or {}, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return list(text.encode())


@router.get("/me", response_model=MeResponse, responses=errors(401))
async def me(user: CurrentUser) -> MeResponse:
    return MeResponse(id=user.id, email=user.email or user.login, role=user.role.value)


@router.get(
    "/sessions",
    response_model=SessionListResponse,
    response_model_exclude_none=True,
    responses=errors(400, 401, 403),
)
async def list_sessions(
    db: DbSession, user: CurrentUser, limit: int | None = None, offset: int = 0
) -> SessionListResponse:
    limit = DEFAULT_LIMIT if limit is None or limit <= 0 else min(limit, MAX_LIMIT)
    offset = min(max(offset, 0), MAX_ROW_ID)
    found, total = await sessions.visible_sessions(db, user, limit=limit, offset=offset)
    counted = await review.counts(db, [s.id for s in found])
    return SessionListResponse(
        sessions=[_summary(s, counted[s.id]) for s in found],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/sessions/{id}",
    response_model=SessionDetailResponse,
    response_model_exclude_none=True,
    responses=errors(400, 401, 403, 404),
)
async def session_detail(id: SessionId, db: DbSession, user: CurrentUser) -> SessionDetailResponse:
    session = await _readable(db, user, id)
    counted = await review.counts(db, [id])
    streams = []
    for stream in review.VIDEO_STREAMS:
        rows = await review.segments(db, id, stream)
        if rows:
            streams.append(
                StreamInfo(
                    stream_type=stream,
                    chunk_count=len(rows),
                    duration_ms=sum(review.duration_ms(row) for row in rows),
                    playlist_url=f"/api/v1/sessions/{id}/playlist/{stream}.m3u8",
                )
            )
    breakdown = await sessions.risk_breakdown(db, session)
    return SessionDetailResponse(
        session=_summary(session, counted[id]),
        streams=streams,
        risk_breakdown=[RiskRule.model_validate(rule) for rule in breakdown],
    )


@router.get(
    "/sessions/{id}/events",
    response_model=ParsedEventsResponse,
    responses=errors(400, 401, 403, 404),
)
async def parsed_events(
    id: SessionId,
    db: DbSession,
    user: CurrentUser,
    start: Annotated[Millis, Query(alias="from")] = None,
    end: Annotated[Millis, Query(alias="to")] = None,
) -> ParsedEventsResponse:
    await _readable(db, user, id)
    if start is not None and end is not None and end < start:
        raise InvalidInput("`to` must not be before `from`", field="to")
    rows = await agent_events.agent_events(
        db, id, start=_moment(start), end=_moment(end), exclude=[agent_events.HOST_INFO]
    )
    events = [
        ParsedEvent(
            event_type=row.type.lower(),
            timestamp=fingerprint.millis(row),
            data=_json_bytes(row.data),
            decoded=row.data,
        )
        for row in rows
    ]
    return ParsedEventsResponse(session_id=id, count=len(events), events=events)


@router.get(
    "/sessions/{id}/telemetry",
    response_model=list[TelemetryEvent],
    responses=errors(400, 401, 403, 404),
    response_model_exclude_none=True,
)
async def telemetry_events(id: SessionId, db: DbSession, user: CurrentUser) -> list[TelemetryEvent]:
    session = await _readable(db, user, id)
    rows = await events.session_events(db, id)
    return [_telemetry_event(session, row) for row in rows]


def _telemetry_event(session: ProctoringSession, row: ProctoringEvent) -> TelemetryEvent:
    payload = {"severity": row.severity, **(row.data or {})}
    if row.duration_seconds is not None:
        payload["duration_seconds"] = row.duration_seconds
    return TelemetryEvent(
        id=row.id,
        session_id=row.session_id,
        user_id=session.candidate_id,
        event_type=row.type.lower(),
        payload=_json_bytes(payload),
        created_at=row.occurred_at,
        source=row.source,
        dismissed=row.dismissed_at is not None,
        dismissal=_dismissal(row),
    )


def _dismissal(row: ProctoringEvent) -> Dismissal | None:
    if row.dismissed_at is None:
        return None
    return Dismissal(by=row.dismissed_by_id, reason=row.dismissal_reason or "", at=row.dismissed_at)


DismissEventId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


@router.post(
    "/sessions/{id}/events/{event_id}/dismiss",
    response_model=DismissalResponse,
    responses=errors(400, 401, 403, 404, 409),
)
async def dismiss_event(
    id: SessionId, event_id: DismissEventId, body: DismissRequest, db: DbSession, user: CurrentUser
) -> DismissalResponse:
    """Extension: mark an event a false positive. It is kept, and scores nothing."""
    event, session, result = await events.dismiss_event(db, user, id, event_id, body.reason)
    return _dismissal_response(event, session, result)


@router.delete(
    "/sessions/{id}/events/{event_id}/dismiss",
    response_model=DismissalResponse,
    responses=errors(400, 401, 403, 404, 409),
)
async def undismiss_event(
    id: SessionId, event_id: DismissEventId, db: DbSession, user: CurrentUser
) -> DismissalResponse:
    """Extension: undo a dismissal; the event scores again."""
    event, session, result = await events.undismiss_event(db, user, id, event_id)
    return _dismissal_response(event, session, result)


def _dismissal_response(
    event: ProctoringEvent, session: ProctoringSession, result: RiskAssessment
) -> DismissalResponse:
    return DismissalResponse(
        session_id=session.id,
        event_id=event.id,
        dismissed=event.dismissed_at is not None,
        dismissal=_dismissal(event),
        risk_score=result.score,
        risk_level=result.level,
        risk_breakdown=[RiskRule.model_validate(r) for r in result.breakdown_document()],
    )


@router.get(
    "/sessions/{id}/playlist/{stream_type}.m3u8",
    response_class=Response,
    responses={
        200: {"content": {"application/vnd.apple.mpegurl": {}}},
        **errors(400, 401, 403, 404),
    },
)
async def hls_playlist(
    id: SessionId, stream_type: str, db: DbSession, user: CurrentUser
) -> Response:
    session = await _readable(db, user, id)
    stream = _stream(stream_type)
    rows = await review.segments(db, id, stream)
    return Response(
        review.playlist(session, rows, stream),
        media_type="application/vnd.apple.mpegurl",
        headers={"Cache-Control": "no-cache"},
    )


@router.get(
    "/sessions/{id}/segment/{stream_type}/{chunk_idx}.ts",
    response_class=Response,
    responses={
        200: {"content": {"video/mp2t": {}}},
        206: {"description": "Partial content (Range)", "content": {"video/mp2t": {}}},
        304: {"description": "Not modified (ETag)"},
        416: {"description": "Range not satisfiable"},
        **errors(400, 401, 403, 404),
    },
)
async def hls_segment(
    request: Request,
    id: SessionId,
    stream_type: str,
    chunk_idx: Annotated[int, Path(ge=0, le=2**62)],
    db: DbSession,
    user: CurrentUser,
    runtime: RuntimeDep,
) -> Response:
    await _readable(db, user, id)
    stream = _stream(stream_type)
    row = await review.segment(db, id, stream, chunk_idx)
    if row is None:
        raise NotFound(f"segment {chunk_idx} of the {stream} stream does not exist")
    return await serve_blob(
        request, runtime.blobs, row.blob_key, row.size, row.sha256, "video/mp2t"
    )


@router.get("/sessions/{id}/fingerprint/full", responses=errors(400, 401, 403, 404))
async def fingerprint_full(id: SessionId, db: DbSession, user: CurrentUser) -> JSONResponse:
    await _readable(db, user, id)
    rows = await agent_events.agent_events(
        db, id, types=[agent_events.HOST_INFO], newest_first=True
    )
    full = [row for row in rows if (row.data or {}).get("kind") == "full"]
    if not full:
        raise NotFound(f"session {id} has no full fingerprint yet")
    return JSONResponse(fingerprint.as_snapshot(full[0]))


@router.get("/sessions/{id}/fingerprint/heartbeats", responses=errors(400, 401, 403, 404))
async def fingerprint_heartbeats(
    id: SessionId,
    db: DbSession,
    user: CurrentUser,
    start: Annotated[Millis, Query(alias="from")] = None,
    end: Annotated[Millis, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> JSONResponse:
    await _readable(db, user, id)
    rows = await agent_events.agent_events(
        db, id, start=_moment(start), end=_moment(end), types=[agent_events.HOST_INFO]
    )
    beats = [fingerprint.as_snapshot(r) for r in rows if (r.data or {}).get("kind") == "heartbeat"]
    return JSONResponse(beats[:limit])


@router.get("/sessions/{id}/fingerprint/summary", responses=errors(400, 401, 403, 404))
async def fingerprint_summary(id: SessionId, db: DbSession, user: CurrentUser) -> JSONResponse:
    await _readable(db, user, id)
    rows = await agent_events.agent_events(db, id, types=[agent_events.HOST_INFO])
    return JSONResponse({"session_id": id, **fingerprint.summarise(rows)})

"""What an analysis job does, in three steps:

1. `load` (on the event loop): claim the evidence row and read its bytes;
2. `analyze` (on a worker thread, CPU only, no database): the pure analyzers over the bytes;
3. `store` (on the event loop, one transaction): the findings become events, the row `done`.

Per-session state is never kept in memory: each analysed frame's observation is stored in its
evidence row (`details["vision"]`), and the session's NO_FACE / MULTIPLE_FACES /
LOOKING_AWAY spans are recomputed from all of them inside the transaction that adds one, with
the session row locked so that two workers cannot interleave. Any worker can take any job.

Idempotent: every event has a client key derived from the evidence (and rule, span or block),
and the events table is unique per (session, client key); a row already `done` is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.analysis import detectors, telemetry_events
from vigil.core.events import service as events
from vigil.core.events.agent import SOURCE as AGENT_SOURCE
from vigil.core.events.models import ProctoringEvent
from vigil.core.evidence.models import AnalysisState, Evidence, EvidenceKind
from vigil.core.sessions import service as sessions
from vigil.core.sessions.models import ProctoringSession
from vigil.storage.blobs import BlobStore
from vigil.storage.db import utcnow

VISION_SOURCE = "vision"
AUDIO_SOURCE = "audio"
TELEMETRY_SOURCE = "telemetry"
# Evidence whose observations make up a session's vision spans. Analysed frames
# (ProctorBE's /cv/analyze-frame) are judged one by one, as ProctorBE does.
SPAN_KINDS = (EvidenceKind.SNAPSHOT, EvidenceKind.VIDEO)
WEBCAM = "webcam"


class PermanentFailure(Exception):
    """The evidence itself cannot be analysed (undecodable bytes): retrying cannot help."""


@dataclass(frozen=True)
class Work:
    evidence_id: int
    session_id: int
    kind: EvidenceKind
    stream: str
    chunk_index: int
    at: datetime  # when it was captured, else when it arrived
    data: bytes


@dataclass(frozen=True)
class VisionResult:
    observation: detectors.Observation | None  # None: the image did not decode
    error: str | None = None


@dataclass(frozen=True)
class SpeechResult:
    speech: detectors.Speech


Result = VisionResult | SpeechResult | None


# --- 1. load ------------------------------------------------------------------------------


async def load(db: AsyncSession, blobs: BlobStore, evidence_id: int) -> Work | None:
    row = await db.get(Evidence, evidence_id)
    if row is None or row.analysis_state is not AnalysisState.PENDING:
        return None
    data = bytearray()
    if _needs_bytes(row):
        async for chunk in blobs.read(row.blob_key):
            data += chunk
    return Work(
        evidence_id=row.id,
        session_id=row.session_id,
        kind=row.kind,
        stream=row.stream,
        chunk_index=row.chunk_index,
        at=row.captured_at or row.received_at,
        data=bytes(data),
    )


def _needs_bytes(row: Evidence) -> bool:
    if row.kind is EvidenceKind.TELEMETRY:
        return False  # its blocks were decrypted at intake and are in the event log
    return not (row.kind is EvidenceKind.VIDEO and row.stream != WEBCAM)


# --- 2. analyze ---------------------------------------------------------------------------


def analyze(work: Work) -> Result:
    """The CPU part: runs on a worker thread; no database, no event loop."""
    if work.kind in (EvidenceKind.SNAPSHOT, EvidenceKind.FRAME):
        try:
            return VisionResult(detectors.observe_image(work.data))
        except detectors.Undecodable as exc:
            if work.kind is EvidenceKind.FRAME:
                return VisionResult(None, str(exc))
            raise PermanentFailure(str(exc)) from exc
    if work.kind is EvidenceKind.VIDEO and work.stream == WEBCAM:
        try:
            return VisionResult(detectors.observe_segment(work.data))
        except detectors.Undecodable as exc:
            raise PermanentFailure(str(exc)) from exc
    if work.kind is EvidenceKind.AUDIO:
        try:
            return SpeechResult(detectors.find_speech(work.data))
        except detectors.Undecodable as exc:
            raise PermanentFailure(str(exc)) from exc
    return None


# --- 3. store -----------------------------------------------------------------------------


@dataclass
class Stored:
    events: list[ProctoringEvent] = field(default_factory=list)


async def store(
    db: AsyncSession, work: Work, result: Result, thresholds: detectors.Thresholds
) -> Stored | None:
    """Record the findings and mark the row done, in the caller's transaction; None when
    another worker finished this row first."""
    session = await db.scalar(
        select(ProctoringSession).where(ProctoringSession.id == work.session_id).with_for_update()
    )
    row = await db.get(Evidence, work.evidence_id, with_for_update=True, populate_existing=True)
    if session is None or row is None or row.analysis_state is not AnalysisState.PENDING:
        return None
    stored = Stored()
    if isinstance(result, VisionResult) and work.kind is EvidenceKind.FRAME:
        stored.events = await _frame_events(db, session, row, result, thresholds)
    elif isinstance(result, VisionResult) and result.observation is not None:
        vision = detectors.observation_details(result.observation, work.at)
        row.details = {**(row.details or {}), "vision": vision}
        await db.flush()
        await _reconcile_vision_spans(db, session, thresholds)
    elif isinstance(result, SpeechResult):
        row.details = {**(row.details or {}), "speech": result.speech.as_details()}
        stored.events = await _speech_events(db, session, work, result.speech)
    elif work.kind is EvidenceKind.TELEMETRY:
        stored.events = await _telemetry_events(db, session, work)
    mark_done(row)
    await sessions.recompute_risk(db, session)
    await db.flush()
    return stored


def mark_done(row: Evidence) -> None:
    row.analysis_state = AnalysisState.DONE
    row.analysis_error = None
    row.analyzed_at = utcnow()


async def _frame_events(
    db: AsyncSession,
    session: ProctoringSession,
    row: Evidence,
    result: VisionResult,
    thresholds: detectors.Thresholds,
) -> list[ProctoringEvent]:
    """ProctorBE's per-frame verdict: each rule the frame breaks is one event."""
    if result.observation is None:
        rules = [detectors.INVALID_IMAGE]
        row.details = {**(row.details or {}), "vision": {"error": result.error}}
    else:
        rules = detectors.frame_verdict(result.observation, thresholds)
        vision = detectors.observation_details(result.observation, None)
        row.details = {**(row.details or {}), "vision": vision}
    found = []
    for rule in rules:
        found.append(
            await events.record_in(
                db, session,
                event_type=rule, severity=1, source=VISION_SOURCE,
                occurred_at=row.captured_at or row.received_at,
                data={"evidence_id": row.id},
                client_key=f"frame:{row.id}:{rule}", after_end=True,
            )
        )  # fmt: skip
    return found


async def _reconcile_vision_spans(
    db: AsyncSession, session: ProctoringSession, thresholds: detectors.Thresholds
) -> None:
    """Make the session's vision events equal the spans of all its observations: a new frame
    may open a span, extend one, or (arriving late) split one."""
    observed = await _observations(db, session.id)
    wanted = {span.key: span for span in detectors.vision_spans(observed, thresholds)}
    existing = {
        e.client_key: e
        for e in await db.scalars(
            select(ProctoringEvent).where(
                ProctoringEvent.session_id == session.id,
                ProctoringEvent.source == VISION_SOURCE,
                ProctoringEvent.client_key.like("vision:%"),
            )
        )
    }
    for key, span in wanted.items():
        data: dict[str, object] = {
            "frames": span.frames,
            "first_evidence_id": span.first_evidence_id,
            "last_evidence_id": span.last_evidence_id,
        }
        event = existing.get(key)
        if event is None:
            event = await events.record_in(
                db, session,
                event_type=span.rule, severity=1, source=VISION_SOURCE,
                occurred_at=span.start, duration_seconds=span.duration_seconds,
                data=data, client_key=key, after_end=True,
            )  # fmt: skip
        event.ended_at = span.end
        event.duration_seconds = span.duration_seconds
        event.data = data
    gone = [e.id for key, e in existing.items() if key not in wanted]
    if gone:
        await db.execute(delete(ProctoringEvent).where(ProctoringEvent.id.in_(gone)))


async def _observations(db: AsyncSession, session_id: int) -> list[detectors.TimedObservation]:
    rows = await db.execute(
        select(Evidence.id, Evidence.details).where(
            Evidence.session_id == session_id,
            Evidence.kind.in_(SPAN_KINDS),
            Evidence.stream == WEBCAM,
        )
    )
    found = []
    for evidence_id, details in rows:
        vision: Any = (details or {}).get("vision")
        if isinstance(vision, dict) and "at" in vision:
            found.append(detectors.TimedObservation.from_details(evidence_id, vision))
    return sorted(found, key=lambda o: (o.at, o.evidence_id))


async def _speech_events(
    db: AsyncSession, session: ProctoringSession, work: Work, speech: detectors.Speech
) -> list[ProctoringEvent]:
    found = []
    for index, (start, end) in enumerate(speech.spans):
        found.append(
            await events.record_in(
                db, session,
                event_type=detectors.SPEECH_DETECTED, severity=1, source=AUDIO_SOURCE,
                occurred_at=work.at + timedelta(seconds=start),
                duration_seconds=round(end - start, 3),
                data={
                    "evidence_id": work.evidence_id,
                    "start_seconds": round(start, 3),
                    "end_seconds": round(end, 3),
                    "speech_ratio": round(speech.ratio, 4),
                },
                client_key=f"audio:{work.evidence_id}:{index}", after_end=True,
            )
        )  # fmt: skip
    return found


async def _telemetry_events(
    db: AsyncSession, session: ProctoringSession, work: Work
) -> list[ProctoringEvent]:
    prefix = f"agent:{work.chunk_index}:"
    logged = await db.scalars(
        select(ProctoringEvent)
        .where(
            ProctoringEvent.session_id == session.id,
            ProctoringEvent.source == AGENT_SOURCE,
            ProctoringEvent.client_key.like(f"{prefix}%"),
        )
        .order_by(ProctoringEvent.id)
    )
    blocks = [
        telemetry_events.LoggedBlock(
            position=int((e.client_key or prefix + "0")[len(prefix) :]),
            type=e.type,
            occurred_at=e.occurred_at,
            data=e.data or {},
        )
        for e in logged
    ]
    found = []
    for finding in telemetry_events.findings(blocks):
        found.append(
            await events.record_in(
                db, session,
                event_type=finding.type, severity=1, source=TELEMETRY_SOURCE,
                occurred_at=finding.occurred_at,
                data={**finding.data, "evidence_id": work.evidence_id},
                client_key=finding.key(work.evidence_id), after_end=True,
            )
        )  # fmt: skip
    return found


def event_types(stored: Stored | None) -> Sequence[str]:
    return [e.type for e in stored.events] if stored else []

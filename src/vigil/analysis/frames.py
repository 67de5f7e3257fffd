"""ProctorBE's `/cv/analyze-frame`: one webcam frame judged while the client waits.

The frame is stored as evidence (kind `frame`) and committed first; the analysis then runs
on a thread (never on the event loop) and its verdict is stored as events in the request's
transaction. Should the analyzer itself fail, the committed row stays `pending` and the
job queue analyses it later, like any other evidence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.analysis import detectors, pipeline
from vigil.core.errors import Conflict
from vigil.core.events import service as events
from vigil.core.events.models import ProctoringEvent
from vigil.core.evidence import service as evidence
from vigil.core.evidence.models import Evidence, EvidenceKind
from vigil.core.evidence.sniff import JPEG_MAGIC, jpeg_check
from vigil.core.sessions.models import ProctoringSession
from vigil.core.sessions.statuses import OPEN
from vigil.storage.blobs import BlobStore

log = structlog.get_logger("vigil.analysis")
# Frames are judged on their own small pool: the default executor serves the whole app,
# and each thread keeps its own face models.
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vigil-frame")


@dataclass
class FrameAnalysis:
    evidence: Evidence | None = None
    observation: detectors.Observation | None = None
    events: list[ProctoringEvent] = field(default_factory=list)
    done: bool = True


async def analyze_frame(
    db: AsyncSession,
    blobs: BlobStore,
    session: ProctoringSession,
    data: bytes | None,
    *,
    source: str,
    max_bytes: int,
    thresholds: detectors.Thresholds,
) -> FrameAnalysis:
    """The caller has authorized writing evidence into `session`."""
    if session.status not in OPEN:
        raise Conflict(f"session {session.id} is {session.status}; it takes no more frames")
    if not data:
        return FrameAnalysis(events=[await _verdict(db, session, detectors.NO_FRAME_RECEIVED)])
    if not data.startswith(JPEG_MAGIC):
        invalid = await _verdict(db, session, detectors.INVALID_IMAGE, reason="not a JPEG")
        return FrameAnalysis(events=[invalid])
    upload = evidence.Upload(
        session_id=session.id,
        kind=EvidenceKind.FRAME,
        stream="webcam",
        # Frames carry no index: the arrival time in microseconds stands in for one.
        chunk_index=time.time_ns() // 1000,
        source=source,
        content_type="image/jpeg",
        max_bytes=max_bytes,
        check=jpeg_check(),
    )
    row = (await evidence.ingest(db, blobs, upload, _single(data))).evidence
    await db.commit()  # durable before it is judged
    work = pipeline.Work(
        evidence_id=row.id,
        session_id=session.id,
        kind=row.kind,
        stream=row.stream,
        chunk_index=row.chunk_index,
        at=row.captured_at or row.received_at,
        data=data,
    )
    loop = asyncio.get_running_loop()
    try:
        result = await loop.run_in_executor(_pool, pipeline.analyze, work)
    except Exception:
        log.exception("frame analysis failed; left to the job queue", evidence_id=row.id)
        return FrameAnalysis(evidence=row, done=False)
    stored = await pipeline.store(db, work, result, thresholds)
    observation = result.observation if isinstance(result, pipeline.VisionResult) else None
    return FrameAnalysis(
        evidence=row, observation=observation, events=stored.events if stored else []
    )


async def _verdict(
    db: AsyncSession, session: ProctoringSession, rule: str, reason: str | None = None
) -> ProctoringEvent:
    return await events.record_in(
        db,
        session,
        event_type=rule,
        severity=1,
        source=pipeline.VISION_SOURCE,
        data={"reason": reason} if reason else None,
    )


async def _single(data: bytes) -> AsyncIterator[bytes]:
    yield data

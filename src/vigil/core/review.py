"""What a reviewer reads about a session: counts, video streams, HLS playlists."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.core.events.models import ProctoringEvent
from vigil.core.evidence.models import Evidence, EvidenceKind
from vigil.core.sessions.models import ProctoringSession
from vigil.core.sessions.statuses import OPEN

VIDEO_STREAMS = ("screen", "webcam")
NOMINAL_SEGMENT_MS = 4000


@dataclass(frozen=True)
class Counts:
    chunks: int
    events: int


async def counts(db: AsyncSession, session_ids: Sequence[int]) -> dict[int, Counts]:
    if not session_ids:
        return {}
    chunk_rows = await db.execute(
        select(Evidence.session_id, func.count())
        .where(Evidence.session_id.in_(session_ids))
        .group_by(Evidence.session_id)
    )
    event_rows = await db.execute(
        select(ProctoringEvent.session_id, func.count())
        .where(ProctoringEvent.session_id.in_(session_ids))
        .group_by(ProctoringEvent.session_id)
    )
    chunks: dict[int, int] = {sid: n for sid, n in chunk_rows.all()}
    events: dict[int, int] = {sid: n for sid, n in event_rows.all()}
    return {sid: Counts(chunks.get(sid, 0), events.get(sid, 0)) for sid in session_ids}


@dataclass(frozen=True)
class Segment:
    chunk_index: int
    details: dict[str, object] | None


async def segments(db: AsyncSession, session_id: int, stream: str) -> list[Segment]:
    """A stream's segments in order: only the columns a playlist needs (an hour is 900 rows)."""
    rows = await db.execute(
        select(Evidence.chunk_index, Evidence.details)
        .where(
            Evidence.session_id == session_id,
            Evidence.kind == EvidenceKind.VIDEO,
            Evidence.stream == stream,
        )
        .order_by(Evidence.chunk_index)
    )
    return [Segment(index, details) for index, details in rows.all()]


async def segment(
    db: AsyncSession, session_id: int, stream: str, chunk_index: int
) -> Evidence | None:
    return await db.scalar(
        select(Evidence).where(
            Evidence.session_id == session_id,
            Evidence.kind == EvidenceKind.VIDEO,
            Evidence.stream == stream,
            Evidence.chunk_index == chunk_index,
        )
    )


def duration_ms(row: Segment) -> int:
    value = (row.details or {}).get("duration_ms")
    return value if isinstance(value, int) and value > 0 else NOMINAL_SEGMENT_MS


def playlist(session: ProctoringSession, rows: Sequence[Segment], stream: str) -> str:
    """An HLS media playlist: real durations, a discontinuity wherever chunks are missing,
    and ENDLIST once the session has ended (an EVENT playlist while it is live)."""
    live = session.status in OPEN
    target = max((math.ceil(duration_ms(row) / 1000) for row in rows), default=4)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-MEDIA-SEQUENCE:{rows[0].chunk_index if rows else 0}",
        f"#EXT-X-PLAYLIST-TYPE:{'EVENT' if live else 'VOD'}",
    ]
    previous: int | None = None
    for row in rows:
        if previous is not None and row.chunk_index != previous + 1:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f"#EXTINF:{duration_ms(row) / 1000:.3f},")
        lines.append(f"../segment/{stream}/{row.chunk_index}.ts")
        previous = row.chunk_index
    if not live:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"

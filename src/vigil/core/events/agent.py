"""A desktop agent's telemetry blocks, kept in the one event log.

Each decrypted `event`, `host_info`, `meta` and `network` block becomes a ProctoringEvent
(source `agent`, severity 0: raw observations score nothing until analysis turns them into
findings), so reviewers query them by time through the same index as every other event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.core.events.models import ProctoringEvent

SOURCE = "agent"
HOST_INFO = "HOST_INFO"
LOGGED_BLOCKS = {"event", "host_info", "meta", "network"}


def event_type_of(block: dict[str, Any]) -> str:
    if block["type"] == "event":
        return str(block["event"]).upper()
    return str(block["type"]).upper()


async def record_blocks(
    db: AsyncSession, session_id: int, chunk_index: int, blocks: list[dict[str, Any]]
) -> int:
    """Log one chunk's blocks; a chunk logged before (a retried upload) adds nothing."""
    key_prefix = f"agent:{chunk_index}:"
    already = await db.scalar(
        select(ProctoringEvent.id).where(
            ProctoringEvent.session_id == session_id,
            ProctoringEvent.client_key == f"{key_prefix}0",
        )
    )
    if already is not None:
        return 0
    rows = [
        ProctoringEvent(
            session_id=session_id,
            type=event_type_of(block),
            severity=0,
            source=SOURCE,
            occurred_at=datetime.fromtimestamp(block["timestamp"] / 1000, UTC),
            data={k: v for k, v in block.items() if k not in ("type", "timestamp")},
            client_key=f"{key_prefix}{position}",
        )
        for position, block in enumerate(b for b in blocks if b["type"] in LOGGED_BLOCKS)
    ]
    db.add_all(rows)
    await db.flush()
    return len(rows)


async def agent_events(
    db: AsyncSession,
    session_id: int,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    types: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    limit: int | None = None,
    newest_first: bool = False,
) -> Sequence[ProctoringEvent]:
    query = select(ProctoringEvent).where(
        ProctoringEvent.session_id == session_id, ProctoringEvent.source == SOURCE
    )
    if start is not None:
        query = query.where(ProctoringEvent.occurred_at >= start)
    if end is not None:
        query = query.where(ProctoringEvent.occurred_at <= end)
    if types is not None:
        query = query.where(ProctoringEvent.type.in_(list(types)))
    if exclude:
        query = query.where(ProctoringEvent.type.not_in(list(exclude)))
    order = ProctoringEvent.occurred_at.desc() if newest_first else ProctoringEvent.occurred_at
    query = query.order_by(order, ProctoringEvent.id)
    if limit is not None:
        query = query.limit(limit)
    return (await db.scalars(query)).all()

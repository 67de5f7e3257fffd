"""Evidence's jobs: which actor analyses which kind, and asking for it after commit.

Actor names are part of the wire format (RabbitMQ messages name them): never rename one.
The actors themselves live in vigil.analysis.actors.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from vigil.core.evidence.models import Evidence, EvidenceKind
from vigil.jobs import Job, after_commit

ANALYZE_SNAPSHOT = "evidence.analyze_snapshot"
ANALYZE_AUDIO = "evidence.analyze_audio"
ANALYZE_VIDEO = "evidence.analyze_video"
ANALYZE_TELEMETRY = "evidence.analyze_telemetry"
ACTOR_FOR_KIND = {
    EvidenceKind.SNAPSHOT: ANALYZE_SNAPSHOT,
    EvidenceKind.FRAME: ANALYZE_SNAPSHOT,
    EvidenceKind.AUDIO: ANALYZE_AUDIO,
    EvidenceKind.VIDEO: ANALYZE_VIDEO,
    EvidenceKind.TELEMETRY: ANALYZE_TELEMETRY,
}
ACTORS = sorted(set(ACTOR_FOR_KIND.values()))


def job_for(row: Evidence) -> Job:
    return Job(ACTOR_FOR_KIND[row.kind], row.id)


def analyze_after_commit(db: AsyncSession, row: Evidence) -> None:
    """Ask for the row's analysis once the transaction that stored it commits."""
    after_commit(db, job_for(row))

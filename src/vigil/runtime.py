"""The core's running resources (database, blob store), opened once per process."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import configure_mappers

from vigil.core.evidence.ledger import EvidenceLedger
from vigil.core.identity.callers import CallerCache
from vigil.core.sessions.refs import ExternalSessionRefs
from vigil.jobs import QUEUE, JobQueue
from vigil.jobs.embedded import ThreadQueue
from vigil.settings import Settings
from vigil.storage import all_models  # noqa: F401  (every model, for configure_mappers)
from vigil.storage.blobs import BlobStore, create_blob_store
from vigil.storage.blobs.files import FileBlobStore
from vigil.storage.db import create_engine, create_session_factory
from vigil.storage.group_commit import GroupCommit

log = structlog.get_logger("vigil.runtime")


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    read_engine: AsyncEngine
    reader: async_sessionmaker[AsyncSession]
    jobs: JobQueue
    ledger: EvidenceLedger
    callers: CallerCache
    session_refs: ExternalSessionRefs
    writes: GroupCommit

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        # Before the first request: the hot paths make ORM objects without __init__
        # (callers.py, evidence intake), which does not configure the mappers itself.
        configure_mappers()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        url, synchronous = settings.resolved_database_url, settings.sqlite_synchronous
        engine = create_engine(url, sqlite_synchronous=synchronous)
        read_engine = (
            create_engine(url, sqlite_synchronous=synchronous, read_only=True)
            if engine.dialect.name == "sqlite"
            else engine
        )
        secret = settings.s3_secret_access_key
        blobs = await create_blob_store(
            settings.resolved_blob_url,
            endpoint_url=settings.s3_endpoint_url,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            region=settings.s3_region,
        )
        if isinstance(blobs, FileBlobStore) and blobs.swept:
            log.warning("removed partial uploads left by a crashed process", count=blobs.swept)
        jobs = create_job_queue(settings)
        sessionmaker = create_session_factory(engine)
        sessionmaker.configure(info={QUEUE: jobs})
        reader = create_session_factory(read_engine)
        ledger = EvidenceLedger(engine, reader, jobs)
        return cls(
            settings,
            engine,
            sessionmaker,
            blobs,
            read_engine,
            reader,
            jobs,
            ledger,
            CallerCache(settings.auth_cache_seconds),
            ExternalSessionRefs(),
            GroupCommit(sessionmaker, batched=engine.dialect.name == "sqlite"),
        )

    async def close(self) -> None:
        await self.writes.close()
        await self.ledger.close()
        await self.callers.close()
        await self.jobs.close()
        await self.blobs.close()
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def create_job_queue(settings: Settings) -> JobQueue:
    """RabbitMQ when `VIGIL_QUEUE_URL` is set (scaled), else in-process threads (embedded),
    whose threads vigil.analysis.actors.start_embedded_workers starts in a server."""
    if settings.queue_url:
        from vigil.jobs.rabbitmq import DramatiqQueue  # pika and Dramatiq only when used

        return DramatiqQueue(settings.queue_url)
    return ThreadQueue(settings.analysis_workers)

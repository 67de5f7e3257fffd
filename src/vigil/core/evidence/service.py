"""Intake: validate while streaming, store the blob durably, record it once.

Rules (DESIGN §5):
- the bytes are checked (size limit, content sniff) as they stream; a failure stores nothing;
- a chunk is acknowledged only once its blob is fsynced and its row committed;
- idempotent per (session, kind, stream, chunk index): the same bytes again are a duplicate,
  different bytes are a Conflict, and stored evidence is never overwritten;
- no database transaction is held while bytes arrive from the network (see `ingest`).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.core.errors import Conflict, NotFound, PayloadTooLarge
from vigil.core.evidence.jobs import analyze_after_commit
from vigil.core.evidence.ledger import EvidenceLedger, SlotTaken
from vigil.core.evidence.models import Evidence, EvidenceKind
from vigil.core.evidence.sniff import ContentCheck
from vigil.storage.blobs import BlobExists, BlobStore
from vigil.storage.db import bare_instance, utcnow

EXTENSIONS = {
    EvidenceKind.AUDIO: "webm",
    EvidenceKind.SNAPSHOT: "jpg",
    EvidenceKind.VIDEO: "ts",
    EvidenceKind.TELEMETRY: "bin",
    EvidenceKind.FRAME: "jpg",
}


@dataclass
class Upload:
    session_id: int
    kind: EvidenceKind
    stream: str
    chunk_index: int
    source: str
    content_type: str
    max_bytes: int
    check: ContentCheck
    details: dict[str, object] | None = None
    captured_at: datetime | None = None


@dataclass(frozen=True)
class Intake:
    evidence: Evidence
    duplicate: bool


def blob_key(upload: Upload) -> str:
    return (
        f"sessions/{upload.session_id}/{upload.kind.value}/{upload.stream}/"
        f"chunk_{upload.chunk_index}.{EXTENSIONS[upload.kind]}"
    )


@dataclass
class _CheckedStream:
    """Passes chunks through while enforcing the size limit and sniffing content (the blob
    store hashes what it is given, off the event loop)."""

    source: AsyncIterable[bytes]
    upload: Upload
    size: int = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self.source:
            self.size += len(chunk)
            if self.size > self.upload.max_bytes:
                raise PayloadTooLarge(
                    f"{self.upload.kind.value} is over the {self.upload.max_bytes}-byte limit",
                    field="file",
                )
            self.upload.check.feed(chunk)
            yield chunk
        self.upload.check.finish()

    async def drain(self, chunks: AsyncIterator[bytes]) -> str:
        """Check the whole stream without storing it; its SHA-256."""
        digest = hashlib.sha256()
        async for chunk in chunks:
            digest.update(chunk)
        return digest.hexdigest()


async def find(db: AsyncSession, upload: Upload) -> Evidence | None:
    return await db.scalar(
        select(Evidence).where(
            Evidence.session_id == upload.session_id,
            Evidence.kind == upload.kind,
            Evidence.stream == upload.stream,
            Evidence.chunk_index == upload.chunk_index,
        )
    )


async def ingest(
    db: AsyncSession, blobs: BlobStore, upload: Upload, body: AsyncIterable[bytes]
) -> Intake:
    """Store one chunk. The caller has authorized the upload; its row is flushed, not committed.

    The one transaction rule bent here on purpose: the read that decides the path is committed
    before streaming starts, because on SQLite an open write transaction would block every
    other request for as long as a slow client takes to send its bytes.
    """
    existing = await find(db, upload)
    await db.commit()
    stream = _CheckedStream(body, upload)
    chunks = stream.chunks()
    if existing is not None:
        return _same_or_conflict(existing, await stream.drain(chunks), upload)

    key = blob_key(upload)
    sha256, size, blob_was_there = await _put(blobs, key, chunks)
    if blob_was_there:
        await _adopt(blobs, key, sha256, upload)
    evidence = _new_row(upload, key, size, sha256)
    try:
        async with db.begin_nested():
            db.add(evidence)
    except IntegrityError:
        winner = await find(db, upload)
        if winner is None:
            raise
        return _same_or_conflict(winner, sha256, upload)
    analyze_after_commit(db, evidence)
    return Intake(evidence, duplicate=False)


async def ingest_through(
    ledger: EvidenceLedger, blobs: BlobStore, upload: Upload, body: AsyncIterable[bytes]
) -> Intake:
    """`ingest` for an upload that needs nothing else in its transaction: its row is
    committed with the other uploads of the moment through the ledger (group commit).

    Nothing is read before the bytes: the blob store refusing a taken key is the duplicate
    check, and only a retry pays for the look-up that tells a duplicate from a conflict.
    """
    stream = _CheckedStream(body, upload)
    chunks = stream.chunks()
    key = blob_key(upload)
    sha256, size, blob_was_there = await _put(blobs, key, chunks)
    if blob_was_there:
        existing = await ledger.find(*_slot(upload))
        if existing is not None:
            return _same_or_conflict(existing, sha256, upload)
        await _adopt(blobs, key, sha256, upload)
    evidence = _new_row(upload, key, size, sha256)
    try:
        await ledger.record(evidence)
    except SlotTaken:
        winner = await ledger.find(*_slot(upload))
        if winner is None:
            raise
        return _same_or_conflict(winner, sha256, upload)
    return Intake(evidence, duplicate=False)


async def _put(blobs: BlobStore, key: str, chunks: AsyncIterator[bytes]) -> tuple[str, int, bool]:
    """Store the checked stream under `key`: its SHA-256, its size, and whether a blob was
    there already (then nothing was written, and the stream was only checked and hashed)."""
    try:
        stored = await blobs.put(key, chunks)
    except BlobExists as taken:
        return taken.offered.sha256, taken.offered.size, True
    return stored.sha256, stored.size, False


async def _adopt(blobs: BlobStore, key: str, sha256: str, upload: Upload) -> None:
    """A blob without a row: an upload whose row never committed (a crash), or one in
    flight right now. Same bytes: adopt it. Different bytes: never overwrite."""
    if await _sha256_of(blobs, key) != sha256:
        raise Conflict(_conflict_message(upload))


def _slot(upload: Upload) -> tuple[int, EvidenceKind, str, int]:
    return upload.session_id, upload.kind, upload.stream, upload.chunk_index


def _new_row(upload: Upload, key: str, size: int, sha256: str) -> Evidence:
    return bare_instance(  # on every upload's event loop
        Evidence,
        {
            "session_id": upload.session_id,
            "kind": upload.kind,
            "stream": upload.stream,
            "chunk_index": upload.chunk_index,
            "blob_key": key,
            "size": size,
            "sha256": sha256,
            "content_type": upload.content_type,
            "source": upload.source,
            "details": upload.details,
            "captured_at": upload.captured_at,
            "received_at": utcnow(),
        }.items(),
    )


def _same_or_conflict(existing: Evidence, sha256: str, upload: Upload) -> Intake:
    if existing.sha256 == sha256:
        return Intake(existing, duplicate=True)
    raise Conflict(_conflict_message(upload))


def _conflict_message(upload: Upload) -> str:
    return (
        f"chunk {upload.chunk_index} of {upload.kind.value}/{upload.stream} is already stored "
        "with different bytes; evidence is never overwritten"
    )


async def _sha256_of(blobs: BlobStore, key: str) -> str:
    digest = hashlib.sha256()
    async for chunk in blobs.read(key):
        digest.update(chunk)
    return digest.hexdigest()


async def list_evidence(db: AsyncSession, session_id: int) -> list[Evidence]:
    """A session's evidence in arrival order. The caller has authorized reading the session."""
    rows = await db.scalars(
        select(Evidence).where(Evidence.session_id == session_id).order_by(Evidence.id)
    )
    return list(rows)


async def get_evidence(db: AsyncSession, session_id: int, evidence_id: int) -> Evidence:
    row = await db.get(Evidence, evidence_id)
    if row is None or row.session_id != session_id:
        raise NotFound(f"evidence {evidence_id} does not exist in session {session_id}")
    return row

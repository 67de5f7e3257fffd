"""`POST /upload`: a multipart form with `session_id`, `chunk_idx`, `stream_type` and `file`.

The fields may arrive before or after the file: unless all three came first, the file is
spooled to a temporary file until the whole form has said where it belongs.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO

from sqlalchemy.ext.asyncio import AsyncSession

from vigil import telemetry
from vigil.core.errors import InvalidInput, PayloadTooLarge
from vigil.core.events import agent as agent_events
from vigil.core.evidence import service as evidence
from vigil.core.evidence.models import Evidence, EvidenceKind
from vigil.core.evidence.sniff import TS_PACKET, MpegTsCheck, is_mpegts, is_telemetry
from vigil.core.evidence.video import probe_segment
from vigil.core.sessions import agents
from vigil.runtime import Runtime
from vigil.storage.db import MAX_ROW_ID
from vigil.web.multipart import StreamingForm

STREAM_TYPES = ("screen", "webcam")
SNIFF_BYTES = 2 * TS_PACKET
SPOOL_IN_MEMORY = 1024 * 1024


@dataclass(frozen=True)
class UploadForm:
    session_id: int
    chunk_idx: int
    stream_type: str


class Verified:
    """A content check for bytes already verified whole (telemetry is decrypted first)."""

    def feed(self, chunk: bytes) -> None:
        return None

    def finish(self) -> None:
        return None


def parse_fields(fields: dict[str, str]) -> UploadForm:
    def integer(name: str, upper: int) -> int:
        if name not in fields:
            raise InvalidInput(f"{name} is required", field=name)
        try:
            value = int(fields[name].strip())
        except ValueError:
            raise InvalidInput(f"{name} must be an integer", field=name) from None
        if not 0 <= value <= upper:
            raise InvalidInput(f"{name} must be between 0 and {upper}", field=name)
        return value

    stream_type = fields.get("stream_type", "").strip() or "screen"
    if stream_type not in STREAM_TYPES:
        raise InvalidInput("stream_type must be screen or webcam", field="stream_type")
    return UploadForm(
        session_id=integer("session_id", MAX_ROW_ID),
        chunk_idx=integer("chunk_idx", 2**62),
        stream_type=stream_type,
    )


async def receive_upload(
    db: AsyncSession, runtime: Runtime, token_session_id: int, form: StreamingForm
) -> tuple[UploadForm, evidence.Intake]:
    fields: dict[str, str] = {}
    spooled: IO[bytes] | None = None
    try:
        while (part := await form.next_part()) is not None:
            if part.name == "file":
                if {"session_id", "chunk_idx", "stream_type"} <= fields.keys():
                    parsed = parse_fields(fields)
                    intake = await _ingest(db, runtime, token_session_id, parsed, form.chunks())
                    while await form.next_part() is not None:
                        pass
                    return parsed, intake
                spooled = await _spool(form.chunks(), runtime.settings.max_video_bytes)
            elif part.name in ("session_id", "chunk_idx", "stream_type"):
                fields[part.name] = await form.read_field(part.name, limit=64)
        if spooled is None:
            raise InvalidInput("file is required", field="file")
        parsed = parse_fields(fields)
        return parsed, await _ingest(db, runtime, token_session_id, parsed, _replay(spooled))
    finally:
        if spooled is not None:
            spooled.close()


async def _ingest(
    db: AsyncSession,
    runtime: Runtime,
    token_session_id: int,
    form: UploadForm,
    body: AsyncIterator[bytes],
) -> evidence.Intake:
    settings = runtime.settings
    session = await agents.agent_session(db, token_session_id, form.session_id)
    await db.commit()  # never hold the (SQLite) writer while the body is still arriving
    head, body = await _peek(body, SNIFF_BYTES)
    if is_telemetry(head):
        data = await _read_all(body, settings.max_telemetry_bytes, "telemetry chunk")
        key = agents.telemetry_key(settings.signing_key, session)
        try:
            blocks = await asyncio.to_thread(
                telemetry.decode_chunk, key, session.id, form.chunk_idx, data
            )
        except telemetry.TelemetryError as exc:
            raise InvalidInput(f"telemetry chunk rejected: {exc}", field="file") from exc
        upload = evidence.Upload(
            session_id=session.id,
            kind=EvidenceKind.TELEMETRY,
            stream="telemetry",
            chunk_index=form.chunk_idx,
            source="spark",
            content_type="application/octet-stream",
            max_bytes=settings.max_telemetry_bytes,
            check=Verified(),
        )
        intake = await evidence.ingest(db, runtime.blobs, upload, _single(data))
        if not intake.duplicate:
            await agent_events.record_blocks(db, session.id, form.chunk_idx, blocks)
        return intake
    if not is_mpegts(head):
        raise InvalidInput(
            "file is neither an MPEG-TS segment (.ts) nor a telemetry chunk (.bin)", field="file"
        )
    upload = evidence.Upload(
        session_id=session.id,
        kind=EvidenceKind.VIDEO,
        stream=form.stream_type,
        chunk_index=form.chunk_idx,
        source="spark",
        content_type="video/mp2t",
        max_bytes=settings.max_video_bytes,
        check=MpegTsCheck(),
    )
    intake = await evidence.ingest(db, runtime.blobs, upload, body)
    if not intake.duplicate:
        await db.commit()  # acknowledged state first; the probe below only adds detail
        await _record_timing(runtime, intake.evidence)
    return intake


async def _record_timing(runtime: Runtime, row: Evidence) -> None:
    """Keep the segment's real start and duration (from its PTS) for the HLS playlist."""
    data = bytearray()
    async for chunk in runtime.blobs.read(row.blob_key):
        data += chunk
    timing = await asyncio.to_thread(probe_segment, bytes(data))
    details: dict[str, object] = dict(row.details or {})
    if timing is None:
        details["timing"] = "unknown"
    else:
        details.update(start_ms=timing.start_ms, duration_ms=timing.duration_ms)
    row.details = details


async def _peek(body: AsyncIterator[bytes], size: int) -> tuple[bytes, AsyncIterator[bytes]]:
    """The first `size` bytes (fewer if the body is shorter), and the whole body again."""
    head = bytearray()
    async for chunk in body:
        head += chunk
        if len(head) >= size:
            break
    first = bytes(head)

    async def whole() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in body:
            yield chunk

    return first[:size], whole()


async def _read_all(body: AsyncIterator[bytes], limit: int, what: str) -> bytes:
    data = bytearray()
    async for chunk in body:
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(f"{what} is over the {limit}-byte limit", field="file")
    return bytes(data)


async def _single(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _spool(chunks: AsyncIterator[bytes], limit: int) -> IO[bytes]:
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"file is over the {limit}-byte limit", field="file")
            await asyncio.to_thread(spool.write, chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


async def _replay(spool: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(spool.read, 256 * 1024):
        yield chunk

"""Serving stored evidence over HTTP: byte ranges (206), ETag (304), immutable caching."""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from vigil.storage.blobs import BlobStore

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Evidence never changes once stored, but it is personal data: no shared caches.
CACHE_CONTROL = "private, max-age=31536000, immutable"


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive for one satisfiable range; None when unsatisfiable.

    Only single ranges are served; anything else is answered with the whole body."""
    match = _RANGE.match(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        raise ValueError("not a single byte range")
    first, last = match.groups()
    if not first:  # suffix range: the last N bytes
        length = int(last)
        return (max(0, size - length), size - 1) if length > 0 and size > 0 else None
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return None
    return start, end


async def serve_blob(
    request: Request, blobs: BlobStore, key: str, size: int, sha256: str, media_type: str
) -> Response:
    etag = f'"{sha256}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Accept-Ranges": "bytes"}
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    await blobs.size(key)  # a missing blob is a 404 before any byte is sent
    header = request.headers.get("range")
    if header:
        try:
            wanted = parse_range(header, size)
        except ValueError:
            wanted = (0, size - 1) if size else None
            header = None
        if header and wanted is None:
            return Response(
                status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"}
            )
        if header and wanted is not None:
            start, end = wanted
            return StreamingResponse(
                blobs.read(key, start, end),
                status_code=206,
                media_type=media_type,
                headers={
                    **headers,
                    "Content-Range": f"bytes {start}-{end}/{size}",
                    "Content-Length": str(end - start + 1),
                },
            )
    return StreamingResponse(
        blobs.read(key), media_type=media_type, headers={**headers, "Content-Length": str(size)}
    )

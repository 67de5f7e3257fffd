"""Blob stores: where evidence bytes live. One protocol, chosen by `VIGIL_BLOB_URL`."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from vigil.core.errors import Conflict, NotFound


class BlobNotFound(NotFound):
    """No blob under that key, whichever backend was asked."""


class BlobExists(Conflict):
    """A blob is already stored under that key; evidence is never overwritten."""


@dataclass(frozen=True)
class StoredBlob:
    key: str
    size: int
    sha256: str


class BlobStore(Protocol):
    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredBlob:
        """Store a new blob from a stream; durable when it returns. BlobExists if taken."""
        ...

    async def size(self, key: str) -> int: ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes `start`..`end` inclusive (the whole blob by default)."""
        ...

    async def delete(self, key: str) -> None: ...

    async def close(self) -> None: ...


def check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid blob key {key!r}")
    return key


async def create_blob_store(
    url: str,
    *,
    endpoint_url: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    region: str = "us-east-1",
) -> BlobStore:
    if url.startswith("file://"):
        from vigil.storage.blobs.files import FileBlobStore

        return FileBlobStore(url.removeprefix("file://"))
    if url.startswith("s3://"):
        from vigil.storage.blobs.s3 import S3BlobStore

        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        return await S3BlobStore.connect(
            bucket,
            prefix=prefix,
            endpoint_url=endpoint_url,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            region=region,
        )
    raise ValueError(f"VIGIL_BLOB_URL must start with file:// or s3://, not {url.split(':')[0]}")

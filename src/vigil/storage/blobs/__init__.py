"""Blob stores: where evidence bytes live. One protocol, chosen by `VIGIL_BLOB_URL`."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from vigil.core.errors import Conflict, NotFound


class BlobNotFound(NotFound):
    """No blob under that key, whichever backend was asked."""


@dataclass(frozen=True)
class StoredBlob:
    key: str
    size: int
    sha256: str


class BlobExists(Conflict):
    """A blob is already stored under that key; evidence is never overwritten. `offered`
    is the size and SHA-256 of the bytes that were offered for it (and not stored)."""

    def __init__(self, offered: StoredBlob) -> None:
        super().__init__(f"blob {offered.key} already exists")
        self.offered = offered


async def refuse(
    key: str, chunks: AsyncIterable[bytes], digest: hashlib._Hash | None = None, size: int = 0
) -> BlobExists:
    """The BlobExists for an offer whose key is taken: the rest of `chunks` is read and
    hashed (after `size` bytes already hashed into `digest`), so that the caller can tell a
    repeat of the stored bytes from different ones."""
    digest = digest or hashlib.sha256()
    async for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return BlobExists(StoredBlob(key, size, digest.hexdigest()))


class BlobStore(Protocol):
    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredBlob:
        """Store a new blob from a stream; durable when it returns. The stream is read to
        its end in every case: if the key is taken, BlobExists carries what was offered."""
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

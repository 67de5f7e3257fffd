"""Blobs in any S3-compatible store (MinIO, Ceph, AWS), through aioboto3."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError

from vigil.storage.blobs import BlobExists, BlobNotFound, StoredBlob, check_key, refuse

PART_SIZE = 8 * 1024 * 1024
_MISSING = {"404", "NoSuchKey", "NotFound"}
_TAKEN = {"412", "PreconditionFailed", "ConditionalRequestConflict"}


class S3BlobStore:
    def __init__(self, client: Any, stack: AsyncExitStack, bucket: str, prefix: str) -> None:
        self._client = client
        self._stack = stack
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    @classmethod
    async def connect(
        cls,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None,
        access_key_id: str | None,
        secret_access_key: str | None,
        region: str,
    ) -> S3BlobStore:
        session = aioboto3.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
        )
        stack = AsyncExitStack()
        config = Config(retries={"max_attempts": 5, "mode": "standard"})
        client = await stack.enter_async_context(
            session.client("s3", endpoint_url=endpoint_url, config=config)
        )
        return cls(client, stack, bucket, prefix)

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredBlob:
        object_key = self._key(key)
        if await self._exists(object_key):
            raise await refuse(key, chunks)
        digest = hashlib.sha256()
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        size = 0
        try:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                buffer += chunk
                if len(buffer) >= PART_SIZE:
                    if upload_id is None:
                        upload_id = await self._start_multipart(object_key)
                    parts.append(await self._upload_part(object_key, upload_id, parts, buffer))
                    buffer = bytearray()
            stored = StoredBlob(key=key, size=size, sha256=digest.hexdigest())
            if upload_id is None:
                await self._put_new(object_key, bytes(buffer), stored)
            else:
                if buffer:
                    parts.append(await self._upload_part(object_key, upload_id, parts, buffer))
                await self._complete_new(object_key, upload_id, parts, stored)
                upload_id = None
        finally:
            if upload_id is not None:
                await self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=object_key, UploadId=upload_id
                )
        return stored

    async def _put_new(self, object_key: str, body: bytes, offered: StoredBlob) -> None:
        try:
            await self._client.put_object(
                Bucket=self.bucket, Key=object_key, Body=body, IfNoneMatch="*"
            )
        except ClientError as exc:
            if _code(exc) in _TAKEN:
                raise BlobExists(offered) from exc
            raise

    async def _complete_new(
        self, object_key: str, upload_id: str, parts: list[dict[str, Any]], offered: StoredBlob
    ) -> None:
        try:
            await self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=object_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",  # the key may have been taken since the check: never overwrite
            )
        except ClientError as exc:
            if _code(exc) in _TAKEN:
                raise BlobExists(offered) from exc
            raise

    async def _start_multipart(self, object_key: str) -> str:
        created = await self._client.create_multipart_upload(Bucket=self.bucket, Key=object_key)
        return str(created["UploadId"])

    async def _upload_part(
        self, object_key: str, upload_id: str, parts: list[dict[str, Any]], body: bytearray
    ) -> dict[str, Any]:
        number = len(parts) + 1
        answer = await self._client.upload_part(
            Bucket=self.bucket,
            Key=object_key,
            UploadId=upload_id,
            PartNumber=number,
            Body=bytes(body),
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    async def _exists(self, object_key: str) -> bool:
        try:
            await self._client.head_object(Bucket=self.bucket, Key=object_key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise
        return True

    async def size(self, key: str) -> int:
        try:
            head = await self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise BlobNotFound(f"blob {key} does not exist") from exc
            raise
        return int(head["ContentLength"])

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if start or end is not None:
            arguments["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            answer = await self._client.get_object(**arguments)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise BlobNotFound(f"blob {key} does not exist") from exc
            raise
        body = answer["Body"]
        # aiobotocore's StreamingBody.__aenter__ returns the bare aiohttp response, which
        # has no iter_chunks: use the body only as the context manager that releases it.
        async with body:
            async for chunk in body.iter_chunks(256 * 1024):
                yield chunk

    async def delete(self, key: str) -> None:
        await self.size(key)
        await self._client.delete_object(Bucket=self.bucket, Key=self._key(key))

    async def close(self) -> None:
        await self._stack.aclose()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))

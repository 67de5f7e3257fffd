"""The blob-store protocol as its users see it, run against every backend.

Each test runs against `FileBlobStore` under `tmp_path` and against `S3BlobStore` talking
to a real `moto_server` (a fresh bucket per test). Both are built through
`create_blob_store`, exactly as the app builds them from `VIGIL_BLOB_URL`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

from tests.support.s3 import MotoServer
from vigil.core.errors import Conflict, NotFound
from vigil.storage.blobs import (
    BlobExists,
    BlobNotFound,
    BlobStore,
    StoredBlob,
    create_blob_store,
)
from vigil.storage.blobs.files import FileBlobStore
from vigil.storage.blobs.s3 import S3BlobStore

T = TypeVar("T")

KiB = 1024
MiB = 1024 * KiB
PREFIX = "some-prefix"
KEY = "sessions/1/audio/0/chunk_0.webm"
OTHER_KEY = "sessions/1/audio/0/chunk_1.webm"


# --- backends ---------------------------------------------------------------------------


@dataclass
class Backend:
    """One configured blob store, plus a look behind its back at what it really holds."""

    name: str
    url: str
    options: dict[str, str] = field(default_factory=dict)
    root: Path | None = None
    s3: Any = None
    bucket: str = ""

    @asynccontextmanager
    async def open(self) -> AsyncIterator[BlobStore]:
        store = await create_blob_store(self.url, **self.options)
        try:
            yield store
        finally:
            await store.close()

    def stored_keys(self) -> set[str]:
        """Every finished blob, named as the store's user names it."""
        if self.root is not None:
            return {
                path.relative_to(self.root).as_posix()
                for path in self.root.rglob("*")
                if path.is_file() and path.relative_to(self.root).parts[0] != ".tmp"
            }
        keys: set[str] = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                keys.add(str(item["Key"]).removeprefix(f"{PREFIX}/"))
        return keys

    def staged(self) -> list[str]:
        """Work in progress: temporary files, or multipart uploads not yet completed."""
        if self.root is not None:
            tmp = self.root / ".tmp"
            return sorted(p.name for p in tmp.rglob("*") if p.is_file()) if tmp.exists() else []
        answer = self.s3.list_multipart_uploads(Bucket=self.bucket)
        return sorted(str(upload["Key"]) for upload in answer.get("Uploads", []))


def file_backend_in(tmp_path: Path) -> Backend:
    root = tmp_path / "blobs"
    return Backend("file", f"file://{root}", root=root)


def s3_backend_on(server: MotoServer) -> Iterator[Backend]:
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    bucket = f"vigil-blobs-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=bucket)
    options = {
        "endpoint_url": server.endpoint_url,
        "access_key_id": "test",
        "secret_access_key": "test",
    }
    try:
        yield Backend("s3", f"s3://{bucket}/{PREFIX}", options, s3=client, bucket=bucket)
    finally:
        client.close()


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "file":
        yield file_backend_in(tmp_path)
    else:
        yield from s3_backend_on(request.getfixturevalue("moto_server"))


@pytest.fixture
def file_backend(tmp_path: Path) -> Backend:
    return file_backend_in(tmp_path)


@pytest.fixture
def s3_backend(moto_server: MotoServer) -> Iterator[Backend]:
    yield from s3_backend_on(moto_server)


# --- helpers ----------------------------------------------------------------------------


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part


def split(data: bytes, *sizes: int) -> list[bytes]:
    """`data` cut into pieces of the given sizes, the rest as the last piece."""
    pieces, offset = [], 0
    for size in sizes:
        pieces.append(data[offset : offset + size])
        offset += size
    pieces.append(data[offset:])
    assert b"".join(pieces) == data
    return pieces


def mib_chunk(index: int) -> bytes:
    return payload(MiB, seed=1000 + index)


async def generated(count: int) -> AsyncIterator[bytes]:
    """`count` MiB, made one chunk at a time so the whole never sits in memory."""
    for index in range(count):
        yield mib_chunk(index)


def generated_sha256(count: int) -> str:
    digest = hashlib.sha256()
    for index in range(count):
        digest.update(mib_chunk(index))
    return digest.hexdigest()


async def read_all(store: BlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    chunks = [chunk async for chunk in store.read(key, start, end)]
    assert all(isinstance(chunk, bytes) for chunk in chunks)
    return b"".join(chunks)


async def read_digest(store: BlobStore, key: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    async for chunk in store.read(key):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


class Boom(Exception):
    """The client hung up mid-upload."""


# --- the factory ------------------------------------------------------------------------


def test_the_url_chooses_the_backend(backend: Backend) -> None:
    async def scenario() -> type:
        async with backend.open() as store:
            return type(store)

    expected = FileBlobStore if backend.name == "file" else S3BlobStore
    assert run(scenario()) is expected


def test_an_unknown_url_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="file:// or s3://"):
        run(create_blob_store("gs://bucket/prefix"))


# --- put, read, size --------------------------------------------------------------------


def test_put_returns_the_size_and_sha256_of_the_streamed_bytes(backend: Backend) -> None:
    data = payload(300 * KiB + 7)
    pieces = split(data, 1, 0, 64 * KiB, 100 * KiB + 3)

    async def scenario() -> StoredBlob:
        async with backend.open() as store:
            return await store.put(KEY, stream(*pieces))

    stored = run(scenario())
    assert stored == StoredBlob(key=KEY, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    assert backend.stored_keys() == {KEY}


def test_a_stored_blob_reads_back_whole_and_reports_its_size(backend: Backend) -> None:
    data = payload(3 * 256 * KiB + 123, seed=1)

    async def scenario() -> tuple[bytes, int]:
        async with backend.open() as store:
            await store.put(KEY, stream(*split(data, 200 * KiB, 300 * KiB)))
        async with backend.open() as fresh:  # durable: another store instance sees it
            return await read_all(fresh, KEY), await fresh.size(KEY)

    whole, size = run(scenario())
    assert whole == data
    assert size == len(data)


def test_an_empty_blob_round_trips(backend: Backend) -> None:
    async def scenario() -> tuple[StoredBlob, bytes, int]:
        async with backend.open() as store:
            stored = await store.put(KEY, stream())
            return stored, await read_all(store, KEY), await store.size(KEY)

    stored, whole, size = run(scenario())
    assert stored == StoredBlob(key=KEY, size=0, sha256=sha256(b""))
    assert (whole, size) == (b"", 0)
    assert backend.stored_keys() == {KEY}


RANGE_DATA = payload(3 * 256 * KiB + 123, seed=2)
RANGE_SIZE = len(RANGE_DATA)
RANGES = {
    "start only": (5, None),
    "first byte": (0, 0),
    "start and end inclusive": (10, 20),
    "one byte in the middle": (1000, 1000),
    "last byte by start": (RANGE_SIZE - 1, None),
    "last byte by start and end": (RANGE_SIZE - 1, RANGE_SIZE - 1),
    "tail with end past the blob": (RANGE_SIZE - 3, RANGE_SIZE + 100),
    "across the put's chunk boundary": (100 * KiB - 9, 100 * KiB + 9),
    "across a 256 KiB boundary": (256 * KiB - 10, 256 * KiB + 10),
    "across several 256 KiB boundaries": (1, RANGE_SIZE - 2),
    "exactly the second 256 KiB": (256 * KiB, 512 * KiB - 1),
}


@pytest.mark.parametrize(("start", "end"), list(RANGES.values()), ids=list(RANGES))
def test_byte_ranges_are_inclusive(backend: Backend, start: int, end: int | None) -> None:
    async def scenario() -> bytes:
        async with backend.open() as store:
            await store.put(KEY, stream(*split(RANGE_DATA, 100 * KiB, 400 * KiB)))
            return await read_all(store, KEY, start, end)

    got = run(scenario())
    expected = RANGE_DATA[start:] if end is None else RANGE_DATA[start : end + 1]
    assert expected  # every range above asks for at least one byte
    assert got == expected


def test_blobs_under_different_keys_stay_apart(backend: Backend) -> None:
    first, second = payload(1000, seed=3), payload(2000, seed=4)

    async def scenario() -> tuple[bytes, bytes]:
        async with backend.open() as store:
            await store.put(KEY, stream(first))
            await store.put(OTHER_KEY, stream(second))
            return await read_all(store, KEY), await read_all(store, OTHER_KEY)

    assert run(scenario()) == (first, second)
    assert backend.stored_keys() == {KEY, OTHER_KEY}


def test_a_large_upload_round_trips_with_the_right_hash(backend: Backend) -> None:
    count = 20  # 20 MiB: with 8 MiB parts, S3 needs a multipart upload of three parts

    async def scenario() -> tuple[StoredBlob, tuple[int, str], int]:
        async with backend.open() as store:
            stored = await store.put(KEY, generated(count))
            return stored, await read_digest(store, KEY), await store.size(KEY)

    stored, (read_size, read_sha), size = run(scenario())
    expected = generated_sha256(count)
    assert stored == StoredBlob(key=KEY, size=count * MiB, sha256=expected)
    assert (read_size, read_sha, size) == (count * MiB, expected, count * MiB)
    assert backend.staged() == []
    if backend.name == "s3":  # a multipart ETag ends in "-<number of parts>"
        head = backend.s3.head_object(Bucket=backend.bucket, Key=f"{PREFIX}/{KEY}")
        assert str(head["ETag"]).strip('"').endswith("-3")


# --- never overwrite --------------------------------------------------------------------


def test_putting_a_taken_key_raises_blob_exists_and_keeps_the_original(
    backend: Backend,
) -> None:
    original, intruder = payload(5000, seed=5), payload(7000, seed=6)

    async def scenario() -> tuple[BaseException, bytes, int]:
        async with backend.open() as store:
            await store.put(KEY, stream(original))
            with pytest.raises(BlobExists) as raised:
                await store.put(KEY, stream(intruder))
            return raised.value, await read_all(store, KEY), await store.size(KEY)

    error, stored, size = run(scenario())
    assert isinstance(error, Conflict)
    assert KEY in str(error)
    assert isinstance(error, BlobExists)  # what was offered instead, read to its end
    assert error.offered == StoredBlob(KEY, len(intruder), hashlib.sha256(intruder).hexdigest())
    assert stored == original
    assert size == len(original)
    assert backend.stored_keys() == {KEY}
    assert backend.staged() == []


@pytest.mark.parametrize("late_size", [10 * KiB, 9 * MiB], ids=["small", "multipart"])
def test_a_key_taken_while_uploading_raises_blob_exists_and_keeps_the_winner(
    backend: Backend, late_size: int
) -> None:
    """Another writer finishes the same key after our put checked it and before it lands."""
    winner, late = payload(4000, seed=7), payload(late_size, seed=8)

    async def scenario() -> tuple[bytes, bool]:
        async with backend.open() as store:
            overtaken = False

            async def overtaken_stream() -> AsyncIterator[bytes]:
                nonlocal overtaken
                await store.put(KEY, stream(winner))  # the other writer wins the race
                overtaken = True
                for piece in split(late, 3 * MiB, 3 * MiB):
                    yield piece

            with pytest.raises(BlobExists) as raised:
                await store.put(KEY, overtaken_stream())
            assert raised.value.offered.sha256 == hashlib.sha256(late).hexdigest()
            return await read_all(store, KEY), overtaken

    stored, overtaken = run(scenario())
    assert overtaken  # the race really happened inside the put
    assert stored == winner
    assert backend.stored_keys() == {KEY}
    assert backend.staged() == []


@pytest.mark.parametrize("size", [10 * KiB, 3 * MiB + 5], ids=["small", "several-batches"])
def test_file_store_concurrent_puts_of_one_key_end_with_one_winner(
    file_backend: Backend, size: int
) -> None:
    """Only the file store: moto_server checks S3 conditional writes without a lock, so
    truly concurrent S3 puts can both "win" there (real S3 answers one of them 412/409).
    The S3 side of never-overwrite is covered deterministically by the test above."""
    backend = file_backend
    datas = [payload(size, seed=9), payload(size, seed=10)]

    async def scenario() -> tuple[list[StoredBlob | BaseException], bytes]:
        async with backend.open() as store:
            started = 0
            both_started = asyncio.Event()

            async def contender(data: bytes) -> AsyncIterator[bytes]:
                # A put reads its stream only after checking the key is free, so once both
                # streams are being read, both puts have passed that check.
                nonlocal started
                started += 1
                if started == 2:
                    both_started.set()
                await both_started.wait()
                for piece in split(data, size // 3, size // 3):
                    await asyncio.sleep(0)
                    yield piece

            outcomes = await asyncio.gather(
                *(store.put(KEY, contender(data)) for data in datas), return_exceptions=True
            )
            return outcomes, await read_all(store, KEY)

    outcomes, stored = run(scenario())
    wins = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, StoredBlob)]
    losses = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, BlobExists)]
    assert len(wins) == 1, outcomes
    assert len(losses) == 1, outcomes
    winner = datas[wins[0]]
    assert outcomes[wins[0]] == StoredBlob(key=KEY, size=size, sha256=sha256(winner))
    assert stored == winner
    assert backend.stored_keys() == {KEY}
    assert backend.staged() == []


# --- missing keys -----------------------------------------------------------------------


async def read_op(store: BlobStore, key: str) -> object:
    return await read_all(store, key)


async def size_op(store: BlobStore, key: str) -> object:
    return await store.size(key)


async def delete_op(store: BlobStore, key: str) -> object:
    await store.delete(key)
    return None


OPS = {"read": read_op, "size": size_op, "delete": delete_op}


@pytest.mark.parametrize("op", list(OPS.values()), ids=list(OPS))
def test_a_missing_key_raises_blob_not_found(backend: Backend, op: Any) -> None:
    async def scenario() -> list[BaseException]:
        errors: list[BaseException] = []
        async with backend.open() as store:
            with pytest.raises(BlobNotFound) as raised:  # in an empty store
                await op(store, "never/stored.bin")
            errors.append(raised.value)
            await store.put(OTHER_KEY, stream(b"sibling"))
            with pytest.raises(BlobNotFound) as raised:  # next to a stored sibling
                await op(store, KEY)
            errors.append(raised.value)
        return errors

    errors = run(scenario())
    assert len(errors) == 2
    for error in errors:
        assert type(error) is BlobNotFound  # one type, whichever backend: no vendor error
        assert isinstance(error, NotFound)
    assert backend.stored_keys() == {OTHER_KEY}


@pytest.mark.parametrize("op", list(OPS.values()), ids=list(OPS))
@pytest.mark.parametrize(
    "key", ["sessions/1", "sessions/1/audio", f"{KEY}/deeper"], ids=["parent", "dir", "child"]
)
def test_a_key_that_only_shares_a_path_with_a_blob_is_not_found(
    backend: Backend, op: Any, key: str
) -> None:
    async def scenario() -> tuple[BaseException, bytes]:
        async with backend.open() as store:
            await store.put(KEY, stream(b"evidence"))
            with pytest.raises(BlobNotFound) as raised:
                await op(store, key)
            return raised.value, await read_all(store, KEY)

    error, kept = run(scenario())
    assert type(error) is BlobNotFound
    assert kept == b"evidence"
    assert backend.stored_keys() == {KEY}


def test_delete_removes_the_blob_and_only_that_blob(backend: Backend) -> None:
    async def scenario() -> bytes:
        async with backend.open() as store:
            await store.put(KEY, stream(b"doomed"))
            await store.put(OTHER_KEY, stream(b"kept"))
            assert await store.size(KEY) == len(b"doomed")
            await store.delete(KEY)
            for op in OPS.values():
                with pytest.raises(BlobNotFound):
                    await op(store, KEY)
            return await read_all(store, OTHER_KEY)

    assert run(scenario()) == b"kept"
    assert backend.stored_keys() == {OTHER_KEY}


# --- invalid keys -----------------------------------------------------------------------


INVALID_KEYS = ["../x", "/abs", "a//b", "", "a/../b", "./a", "a/.", "a/", "sessions/.."]


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_an_invalid_key_raises_value_error_for_every_operation(backend: Backend, key: str) -> None:
    async def scenario() -> bool:
        consumed = False

        async def watched() -> AsyncIterator[bytes]:
            nonlocal consumed
            consumed = True
            yield b"should never be stored"

        async with backend.open() as store:
            with pytest.raises(ValueError, match="invalid blob key"):
                await store.put(key, watched())
            for op in OPS.values():
                with pytest.raises(ValueError, match="invalid blob key"):
                    await op(store, key)
        return consumed

    assert run(scenario()) is False
    assert backend.stored_keys() == set()
    assert backend.staged() == []
    if backend.root is not None:
        assert not (backend.root.parent / "x").exists()
        assert sorted(p.name for p in backend.root.iterdir()) == [".tmp"]


# --- failed uploads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "good_chunks", [0, 1, 10], ids=["before-any-byte", "after-1-MiB", "after-10-MiB"]
)
def test_an_upload_that_fails_midway_leaves_nothing_behind(
    backend: Backend, good_chunks: int
) -> None:
    async def scenario() -> list[str]:
        staged_when_failing: list[str] = []

        async def failing() -> AsyncIterator[bytes]:
            async for chunk in generated(good_chunks):
                yield chunk
            staged_when_failing.extend(await asyncio.to_thread(backend.staged))
            raise Boom("connection reset")

        async with backend.open() as store:
            with pytest.raises(Boom, match="connection reset"):
                await store.put(KEY, failing())
            with pytest.raises(BlobNotFound):
                await store.size(KEY)
            with pytest.raises(BlobNotFound):
                await read_all(store, KEY)
            # the key is still free: a retry of the upload succeeds
            retried = await store.put(KEY, stream(b"retry"))
            assert retried == StoredBlob(KEY, 5, sha256(b"retry"))
            await store.delete(KEY)
        return staged_when_failing

    staged_when_failing = run(scenario())
    if good_chunks == 10:  # past one 8 MiB part: there was something to clean up
        assert staged_when_failing != []
    assert backend.staged() == []
    assert backend.stored_keys() == set()
    if backend.root is not None:
        assert not (backend.root / KEY).exists()


# --- backend specifics ------------------------------------------------------------------


def test_file_store_links_the_finished_file_into_place(file_backend: Backend) -> None:
    data = payload(2 * MiB + 17, seed=11)

    async def scenario() -> StoredBlob:
        async with file_backend.open() as store:
            return await store.put(KEY, stream(*split(data, MiB, MiB)))

    stored = run(scenario())
    assert file_backend.root is not None
    assert (file_backend.root / KEY).read_bytes() == data
    assert stored.sha256 == sha256(data)
    assert [p for p in (file_backend.root / ".tmp").rglob("*") if p.is_file()] == []


def test_file_store_recreates_a_folder_removed_behind_its_back(file_backend: Backend) -> None:
    """A key's folder that an operator removed between two uploads is made again."""
    assert file_backend.root is not None
    folder = (file_backend.root / KEY).parent

    async def scenario() -> None:
        async with file_backend.open() as store:
            await store.put(KEY, stream(b"first"))
            (file_backend.root / KEY).unlink()
            folder.rmdir()
            await store.put(OTHER_KEY, stream(b"second"))
            assert await read_all(store, OTHER_KEY) == b"second"

    run(scenario())
    assert file_backend.stored_keys() == {OTHER_KEY}
    assert file_backend.staged() == []


def test_s3_store_keeps_blobs_under_its_prefix(s3_backend: Backend) -> None:
    other_prefix = Backend(
        "s3", f"s3://{s3_backend.bucket}/other-prefix", s3_backend.options, s3=s3_backend.s3
    )

    async def scenario() -> None:
        async with s3_backend.open() as store:
            await store.put(KEY, stream(b"evidence"))
        async with other_prefix.open() as elsewhere:
            with pytest.raises(BlobNotFound):
                await elsewhere.size(KEY)

    run(scenario())
    listing = s3_backend.s3.list_objects_v2(Bucket=s3_backend.bucket)
    assert [item["Key"] for item in listing["Contents"]] == [f"{PREFIX}/{KEY}"]
    body = s3_backend.s3.get_object(Bucket=s3_backend.bucket, Key=f"{PREFIX}/{KEY}")["Body"]
    assert body.read() == b"evidence"


def test_partial_uploads_of_dead_processes_are_swept(tmp_path: Path) -> None:
    """A crashed writer's half-written file is removed when a store opens the directory."""
    dead = tmp_path / ".tmp" / "999999999"
    dead.mkdir(parents=True)
    (dead / "abc.part").write_bytes(b"half of a segment")
    alive = tmp_path / ".tmp" / str(os.getpid())
    FileBlobStore(tmp_path)
    assert not dead.exists()
    assert alive.is_dir()

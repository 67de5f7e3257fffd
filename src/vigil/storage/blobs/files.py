"""Blobs as files: written under a temporary name, fsynced, then linked into place."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, TypeVar

from vigil.storage.blobs import BlobExists, BlobNotFound, StoredBlob, check_key

WRITE_BATCH = 1024 * 1024
READ_CHUNK = 256 * 1024
# A key that names a directory (a prefix of other keys) or runs through a blob's file is
# as absent as one with no file at all: the same BlobNotFound as every other backend.
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)
# Blob writes wait on fsync. Their own pool lets the fsyncs of concurrent uploads run
# together (the file system folds them into one journal commit) instead of queueing
# behind other work on the event loop's default executor.
_IO = ThreadPoolExecutor(max_workers=16, thread_name_prefix="vigil-blobs")
T = TypeVar("T")


async def _off_loop(call: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_IO, call, *args)


class FileBlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        staging = self.root / ".tmp"
        # Each process stages in its own folder, so that what a crashed process left
        # half-written can be told apart from uploads other processes still have in flight.
        self.tmp = staging / str(os.getpid())
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.swept = _sweep_dead_writers(staging)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredBlob:
        final = self._path(key)
        if final.exists():
            raise BlobExists(f"blob {key} already exists")
        tmp = self.tmp / f"{uuid.uuid4().hex}.part"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        fd_open = True
        digest = hashlib.sha256()
        size = 0
        try:
            batch: list[bytes] = []
            pending = 0
            async for chunk in chunks:
                batch.append(chunk)
                pending += len(chunk)
                if pending >= WRITE_BATCH:
                    size += await _off_loop(_write, fd, batch, digest)
                    batch, pending = [], 0
            fd_open = False
            # One hand-off for the rest: a snapshot or an audio chunk is written whole here.
            size += await _off_loop(_finish, fd, batch, digest, tmp, final, key)
        finally:
            if fd_open:
                os.close(fd)
            tmp.unlink(missing_ok=True)
        return StoredBlob(key=key, size=size, sha256=digest.hexdigest())

    async def size(self, key: str) -> int:
        path = self._path(key)
        try:
            status = path.stat()
        except _MISSING as exc:
            raise BlobNotFound(f"blob {key} does not exist") from exc
        if not stat.S_ISREG(status.st_mode):  # a directory is a key prefix, not a blob
            raise BlobNotFound(f"blob {key} does not exist")
        return status.st_size

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        try:
            handle = await _off_loop(_open_binary, self._path(key))
        except _MISSING as exc:
            raise BlobNotFound(f"blob {key} does not exist") from exc
        try:
            handle.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                want = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                data = await _off_loop(handle.read, want)
                if not data:
                    break
                if remaining is not None:
                    remaining -= len(data)
                yield data
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except _MISSING as exc:
            raise BlobNotFound(f"blob {key} does not exist") from exc

    async def close(self) -> None:
        return None


def _sweep_dead_writers(staging: Path) -> int:
    removed = 0
    for folder in staging.iterdir():
        if not folder.name.isdigit() or _process_alive(int(folder.name)):
            continue
        for leftover in folder.iterdir():
            leftover.unlink(missing_ok=True)
            removed += 1
        folder.rmdir()
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except OverflowError:
        return False
    return True


def _open_binary(path: Path) -> BinaryIO:
    return path.open("rb")


def _write(fd: int, batch: list[bytes], digest: hashlib._Hash) -> int:
    written = 0
    for chunk in batch:
        digest.update(chunk)
        view = memoryview(chunk)
        while view:
            n = os.write(fd, view)
            view = view[n:]
            written += n
    return written


def _finish(
    fd: int, batch: list[bytes], digest: hashlib._Hash, tmp: Path, final: Path, key: str
) -> int:
    """Write the last bytes, fsync, close, and link the file into place; the bytes written."""
    try:
        written = _write(fd, batch, digest)
        os.fsync(fd)
    finally:
        os.close(fd)
    _link_into_place(tmp, final, key)
    return written


def _link_into_place(tmp: Path, final: Path, key: str) -> None:
    _make_dirs_durably(final.parent)
    try:
        os.link(tmp, final)  # fails if the key was taken meanwhile: never overwrite
    except FileExistsError as exc:
        raise BlobExists(f"blob {key} already exists") from exc
    _fsync_dir(final.parent)


def _make_dirs_durably(path: Path) -> None:
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    for directory in reversed(missing):
        _fsync_dir(directory.parent)


def _fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

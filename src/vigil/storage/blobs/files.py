"""Blobs as files: written under a temporary name, fsynced, then linked into place."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import stat
import threading
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
        self._root, self._staging = str(self.root), str(self.tmp)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredBlob:
        blob = _NewFile(self._staging, f"{self._root}/{check_key(key)}", key)
        batch: list[bytes] = []
        pending = 0
        try:
            async for chunk in chunks:
                batch.append(chunk)
                pending += len(chunk)
                if pending >= WRITE_BATCH:
                    await _off_loop(blob.write, batch)
                    batch, pending = [], 0
        except BaseException:
            _IO.submit(blob.discard)  # after a write still running on a blob thread
            raise
        # One hand-off for the rest: a snapshot or an audio chunk is written whole here.
        return await _off_loop(blob.finish, batch)

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


class _NewFile:
    """A blob being written under a temporary name, hashed as it goes. Runs on the blob
    threads (file creation and removal wait on the file system's journal, which is no place
    for the event loop), one call at a time.

    Each step between two system calls holds the GIL, which the event loop then waits for,
    so the steps are few and plain: string paths, staging names counted (the staging folder
    is this process's own; the prefix tells this process from an earlier one with the same
    id), and folders made only when linking finds one missing."""

    def __init__(self, staging: str, final: str, key: str) -> None:
        self.staging = staging
        self.final = final
        self.key = key
        self.digest = hashlib.sha256()
        self.size = 0
        self.taken: bool | None = None  # looked up with the first bytes
        self.fd: int | None = None
        self.tmp: str | None = None
        self.lock = threading.Lock()

    def write(self, batch: list[bytes]) -> None:
        with self.lock:
            self._write(batch)

    def finish(self, batch: list[bytes]) -> StoredBlob:
        """Write the last bytes, fsync, close, and link the file into place."""
        with self.lock:
            try:
                self._write(batch)
                offered = StoredBlob(key=self.key, size=self.size, sha256=self.digest.hexdigest())
                if self.taken:
                    raise BlobExists(offered)
                assert self.fd is not None
                assert self.tmp is not None
                os.fsync(self.fd)
                os.close(self.fd)
                self.fd = None
                _link_into_place(self.tmp, self.final, offered)
                return offered
            finally:
                self._discard()

    def discard(self) -> None:
        with self.lock:
            self._discard()

    def _write(self, batch: list[bytes]) -> None:
        if self.taken is None:
            self.taken = os.path.exists(self.final)
            if not self.taken:
                self.tmp = f"{self.staging}/{_STAGING_PREFIX}-{next(_STAGING_NUMBERS)}.part"
                self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        for chunk in batch:
            self.digest.update(chunk)
            self.size += len(chunk)
            if self.fd is None:
                continue
            view = memoryview(chunk)
            while view:
                view = view[os.write(self.fd, view) :]

    def _discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tmp)  # once linked, the blob keeps its final name
            self.tmp = None


_STAGING_PREFIX = uuid.uuid4().hex[:12]
_STAGING_NUMBERS = itertools.count()


def _link_into_place(tmp: str, final: str, offered: StoredBlob) -> None:
    folder = os.path.dirname(final)
    try:
        _link_new(tmp, final, offered)
    except FileNotFoundError:  # the blob's folder is new (a session's first chunk)
        _make_dirs_durably(Path(folder))
        _link_new(tmp, final, offered)
    _fsync_dir(folder)


def _link_new(tmp: str, final: str, offered: StoredBlob) -> None:
    try:
        os.link(tmp, final)  # fails if the key was taken meanwhile: never overwrite
    except FileExistsError as exc:
        raise BlobExists(offered) from exc


def _make_dirs_durably(path: Path) -> None:
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    for directory in reversed(missing):
        _fsync_dir(directory.parent)


def _fsync_dir(path: str | Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

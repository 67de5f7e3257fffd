"""Run a lab program without a shell and without ever waiting past its deadline."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OUTPUT_LIMIT = 1024 * 1024  # a runaway program cannot fill the server's memory
# After the program exits, how long a background child it left may keep its pipes open
# before Vigil stops reading and takes what the program printed.
PIPE_GRACE_SECONDS = 1.0


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


class TimedOut(Exception):
    pass


async def run_program(
    argv: Sequence[str], timeout_seconds: float, env: Mapping[str, str] | None = None
) -> Finished:
    """Run argv in its own process group; on time-out kill the whole group, then raise TimedOut.

    The deadline is on the program's exit, not on its pipes: a control program that starts
    a VM in the background (`qemu … &`) and exits has answered, even though the VM still
    holds its stdout. A program that does not exit in time is killed with its whole
    process group, so no `virsh` or `ssh` it started outlives it.
    """
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env) if env is not None else None,
        start_new_session=True,
    )
    stdout, stderr = bytearray(), bytearray()
    readers = asyncio.gather(_drain(process.stdout, stdout), _drain(process.stderr, stderr))
    readers.add_done_callback(_consume)
    try:
        returncode = await asyncio.wait_for(_exit(process), timeout_seconds)
    except TimeoutError:
        _kill_group(process.pid)
        await _exit(process)
        readers.cancel()
        raise TimedOut from None
    except asyncio.CancelledError:
        _kill_group(process.pid)
        readers.cancel()
        raise
    try:
        await asyncio.wait_for(asyncio.shield(readers), PIPE_GRACE_SECONDS)
    except TimeoutError:
        readers.cancel()  # a background child holds the pipes: keep what arrived
        _close_pipes(process)
    return Finished(returncode, _text(stdout), _text(stderr))


async def _exit(process: asyncio.subprocess.Process) -> int:
    """The exit status, as soon as the process is gone.

    Not `process.wait()`: before Python 3.12 it also waits for every pipe to close, which
    a background child the program left running may never do.
    """
    while process.returncode is None:
        await asyncio.sleep(0.05)
    return process.returncode


def _close_pipes(process: asyncio.subprocess.Process) -> None:
    """Close our ends of the pipes a background child still holds (its ends stay open).

    asyncio has no public call for this; without it the transport lingers until the
    child exits and warns about being left unclosed.
    """
    transport = getattr(process, "_transport", None)
    if transport is not None:
        transport.close()


def _consume(readers: asyncio.Future[Any]) -> None:
    if not readers.cancelled():
        readers.exception()  # retrieved: a failed read is not an unhandled-error warning


async def _drain(stream: asyncio.StreamReader | None, sink: bytearray) -> None:
    """Read the stream to its end, keeping the first OUTPUT_LIMIT bytes in sink.

    Reading on past the limit matters: a program blocked writing to a full pipe would
    never exit.
    """
    if stream is None:
        return
    while chunk := await stream.read(64 * 1024):
        if len(sink) < OUTPUT_LIMIT:
            sink += chunk[: OUTPUT_LIMIT - len(sink)]


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def scrubbed_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The server's environment minus every VIGIL_* variable (the secret key, database URL...).

    Lab programs are the operator's own, but they need the PATH and LIBVIRT_* settings,
    not Vigil's secrets.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIGIL_")}
    env.update(extra or {})
    return env

"""Run a lab program without a shell and without ever waiting past its deadline."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

OUTPUT_LIMIT = 1024 * 1024  # a runaway program cannot fill the server's memory


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

    The process group matters: a control script that starts `virsh` or `ssh` and hangs
    would otherwise leave its children holding the pipes open after it is killed.
    """
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env) if env is not None else None,
        start_new_session=True,
    )
    try:
        stdout, stderr = await asyncio.wait_for(
            asyncio.gather(_read_limited(process.stdout), _read_limited(process.stderr)),
            timeout_seconds,
        )
        await asyncio.wait_for(process.wait(), timeout_seconds)
    except TimeoutError:
        _kill_group(process.pid)
        await process.wait()
        raise TimedOut from None
    except asyncio.CancelledError:
        _kill_group(process.pid)
        raise
    returncode = process.returncode if process.returncode is not None else -1
    return Finished(returncode, _text(stdout), _text(stderr))


async def _read_limited(stream: asyncio.StreamReader | None) -> bytes:
    """All of the stream's text up to OUTPUT_LIMIT; the rest is read and dropped.

    Draining matters: a program blocked writing to a full pipe would never exit.
    """
    if stream is None:
        return b""
    kept = bytearray()
    while chunk := await stream.read(64 * 1024):
        if len(kept) < OUTPUT_LIMIT:
            kept += chunk[: OUTPUT_LIMIT - len(kept)]
    return bytes(kept)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


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

"""kill -9 the server while the simulator uploads, restart it: every acknowledged chunk is
intact, and nothing half-written is left behind."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.s3 import free_port
from vigil.simulate.runner import RunResult, simulate

VIGIL = str(Path(sys.executable).with_name("vigil"))
ADMIN_PASSWORD = "crash-test-admin-1"


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "VIGIL_DATA_DIR": str(data_dir)}
        self.env.pop("VIGIL_DATABASE_URL", None)
        self.process: subprocess.Popen[bytes] | None = None

    def run(self, *args: str) -> None:
        subprocess.run([VIGIL, *args], env=self.env, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        log = (self.data_dir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [VIGIL, "serve", "--port", str(self.port)], env=self.env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path)
    server.run("migrate")
    server.run(
        "users", "create", "--login", "admin", "--password", ADMIN_PASSWORD, "--role", "admin"
    )
    server.start()
    yield server
    server.stop()


@pytest.mark.slow
def test_acknowledged_evidence_survives_kill_9(server: Server) -> None:
    outcome: dict[str, RunResult] = {}

    def exam_day() -> None:
        outcome["result"] = asyncio.run(
            simulate(server.url, students=8, duration=14, admin_login="admin",
                     admin_password=ADMIN_PASSWORD, accounts=4)
        )  # fmt: skip

    simulator = threading.Thread(target=exam_day)
    simulator.start()
    time.sleep(6)
    server.kill()
    time.sleep(1)
    server.start()
    simulator.join(timeout=300)
    assert not simulator.is_alive()
    result = outcome["result"]

    traffic = result.traffic
    assert sum(traffic.retried.values()) > 0, "the kill should have interrupted some requests"
    assert sum(traffic.failed.values()) == 0
    assert result.verification.checked == len(traffic.chunks) > 20
    assert result.verification.lost == 0

    blobs = server.data_dir / "blobs"
    assert server.process is not None
    staging = [p for p in (blobs / ".tmp").iterdir()]
    assert [p.name for p in staging] == [str(server.process.pid)]  # the dead one was swept
    assert list(staging[0].iterdir()) == []

    with sqlite3.connect(server.data_dir / "vigil.db") as db:
        rows = db.execute("SELECT blob_key, size, sha256 FROM evidence").fetchall()
    referenced = set()
    for key, size, digest in rows:
        data = (blobs / key).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, digest), key
        referenced.add(key)
    log = (server.data_dir / "server.log").read_text()
    assert '"route": "/api/v1/upload"' in log  # requests are logged, by route template only
    for secret in ("Bearer", "eyJ", "@simulated.vigil.dev", ADMIN_PASSWORD):
        assert secret not in log
    for path in (blobs / "sessions").rglob("*"):
        key = path.relative_to(blobs).as_posix()
        if path.is_file() and key not in referenced:  # stored, but its row never committed
            assert hashlib.sha256(path.read_bytes()).hexdigest() in traffic.offered, key


def analysis_children(pid: int) -> list[int]:
    """The server's analysis processes (each job thread lists the children it started)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
    return found


def gone(pid: int) -> bool:
    """Ended: no process, or a zombie (an orphan's new parent may not reap it at once)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_the_analysis_processes_end_with_the_server(server: Server, stop: signal.Signals) -> None:
    # One SUSIE student sends a snapshot within its first 10 s: a job, so a child starts.
    asyncio.run(
        simulate(server.url, students=1, duration=12, admin_login="admin",
                 admin_password=ADMIN_PASSWORD, accounts=1, verify=False)
    )  # fmt: skip
    assert server.process is not None
    deadline = time.monotonic() + 60
    while not (children := analysis_children(server.process.pid)):
        assert time.monotonic() < deadline, "no analysis process started"
        time.sleep(0.2)

    server.process.send_signal(stop)
    server.process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while not all(gone(child) for child in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [child for child in children if not gone(child)] == []

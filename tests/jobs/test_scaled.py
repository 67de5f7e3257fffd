"""Scaled mode for real: PostgreSQL, RabbitMQ and `vigil worker` processes.

A worker is killed with SIGKILL while it holds unacknowledged jobs; RabbitMQ hands them to
the next worker, and every evidence row still ends `done` with its events stored once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.jobs.support import (
    evidence_rows,
    no_face_jpeg,
    pending_count,
    post_snapshot,
    run_db,
    session_events,
    wait_until_analysed,
)
from tests.support.api import create_user, login
from tests.support.required import skip_or_fail
from vigil.app import create_app
from vigil.core.evidence.models import AnalysisState, Evidence
from vigil.core.identity.models import Role
from vigil.settings import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
RABBIT = ("127.0.0.1", 5672)
SRC = Path(__file__).resolve().parents[2] / "src"


def rabbitmq_up() -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(RABBIT) == 0


@pytest.fixture
def scaled(tmp_path: Path) -> Iterator[Settings]:
    plain = os.environ.get("VIGIL_TEST_DATABASE_URL")
    if not plain:
        skip_or_fail("VIGIL_TEST_DATABASE_URL is not set")
        return
    if not rabbitmq_up():
        skip_or_fail("RabbitMQ is not listening on 127.0.0.1:5672")
        return
    # A database of its own: worker processes cannot share the suite's per-test truncation.
    from tests.conftest import _run_sql
    from vigil.settings import async_database_url
    from vigil.storage import migrate

    url = async_database_url(plain)
    name = f"vigil_scaled_{uuid.uuid4().hex[:10]}"
    _run_sql(url, f'CREATE DATABASE "{name}"')
    database_url = url.rsplit("/", 1)[0] + f"/{name}"
    migrate.upgrade(database_url)
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key-0123456789abcdef",
        queue_url="amqp://guest:guest@127.0.0.1:5672/",
        analysis_retry_seconds=0.2,
        analysis_max_retries=5,
    )
    _purge_queue(settings)
    yield settings
    _purge_queue(settings)
    _run_sql(url, f'DROP DATABASE "{name}" WITH (FORCE)')


def _purge_queue(settings: Settings) -> None:
    from vigil.jobs.rabbitmq import QUEUE_NAME, create_broker

    assert settings.queue_url
    broker = create_broker(settings.queue_url)
    try:
        broker.declare_queue(QUEUE_NAME)
        broker.flush(QUEUE_NAME)
    finally:
        broker.close()


def worker_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "VIGIL_DATA_DIR": str(settings.data_dir),
        "VIGIL_DATABASE_URL": str(settings.database_url),
        "VIGIL_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "VIGIL_QUEUE_URL": str(settings.queue_url),
        "VIGIL_ANALYSIS_RETRY_SECONDS": "0.2",
        "VIGIL_ANALYSIS_MAX_RETRIES": "5",
    }


@pytest.fixture
def start_worker(scaled: Settings) -> Iterator[object]:
    started: list[subprocess.Popen[bytes]] = []

    def start(threads: int = 1) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from vigil.cli import app; app()",
                "worker",
                "--threads",
                str(threads),
            ],
            env=worker_env(scaled),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def test_killed_worker_loses_nothing_and_duplicates_nothing(
    scaled: Settings, start_worker: object
) -> None:
    start = start_worker  # type: ignore[assignment]
    with TestClient(create_app(scaled)) as client:
        create_user(client, "ana@uni.edu", Role.STUDENT)
        headers = login(client, "ana@uni.edu")
        session_id = 0
        for n in range(12):
            at = f"2026-02-19T10:{n // 6:02d}:{(n % 6) * 10:02d}Z"
            session_id = post_snapshot(client, headers, no_face_jpeg(n), at)["session_id"]
        assert run_db(client, pending_count) == 12  # the server itself runs nothing
        # Every job is now queued twice (as after an operator's requeue): harmless.
        requeue = subprocess.run(
            [sys.executable, "-c", "from vigil.cli import app; app()", "jobs", "requeue"],
            env=worker_env(scaled),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert requeue.returncode == 0, requeue.stderr
        assert "sent 12 pending jobs" in requeue.stdout

        first = start(threads=2)  # type: ignore[operator]
        # Kill it as soon as it has finished something, so that it holds jobs mid-flight.
        deadline = time.monotonic() + 120
        while run_db(client, _done_count) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert run_db(client, pending_count) > 0, "the worker finished before it was killed"

        start(threads=1)  # type: ignore[operator]
        wait_until_analysed(lambda: run_db(client, pending_count), patience=240)

        rows = run_db(client, lambda db: evidence_rows(db, session_id))
        assert [r.analysis_state for r in rows] == [AnalysisState.DONE] * 12
        found = run_db(client, lambda db: session_events(db, session_id))
        # Twelve face-less frames ten seconds apart (one 20 s gap-free run): one NO_FACE span.
        assert [(e.type, e.duration_seconds) for e in found] == [("NO_FACE", 110.0)]
        assert found[0].data is not None
        assert found[0].data["frames"] == 12


async def _done_count(db: object) -> int:
    return int(
        await db.scalar(  # type: ignore[attr-defined]
            select(func.count())
            .select_from(Evidence)
            .where(Evidence.analysis_state == AnalysisState.DONE)
        )
        or 0
    )


def test_retries_go_through_rabbitmq_then_the_row_fails_with_its_reason(
    scaled: Settings, start_worker: object
) -> None:
    start = start_worker  # type: ignore[assignment]
    with TestClient(create_app(scaled)) as client:
        create_user(client, "ana@uni.edu", Role.STUDENT)
        headers = login(client, "ana@uni.edu")
        posted = post_snapshot(client, headers, no_face_jpeg(), "2026-02-19T10:00:00Z")
        # The blob store loses the picture: every run fails, and is retried after a delay
        # (a RabbitMQ delayed message) until the attempts are used up.
        for blob in Path(scaled.data_dir, "blobs").rglob("*.jpg"):
            blob.unlink()
        start(threads=1)  # type: ignore[operator]
        wait_until_analysed(lambda: run_db(client, pending_count), patience=240)
        rows = run_db(client, lambda db: evidence_rows(db, posted["session_id"]))
    assert [r.analysis_state for r in rows] == [AnalysisState.FAILED]
    assert rows[0].analysis_attempts == 6  # the first run and VIGIL_ANALYSIS_MAX_RETRIES=5
    assert rows[0].analysis_error

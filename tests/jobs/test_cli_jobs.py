"""`vigil worker` and `vigil jobs` as an operator runs them."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import vigil


def test_worker_and_requeue_need_a_queue_url(tmp_path: Path) -> None:
    worker = vigil(tmp_path, "worker")
    assert worker.returncode == 2
    assert "VIGIL_QUEUE_URL" in worker.stdout
    requeue = vigil(tmp_path, "jobs", "requeue")
    assert requeue.returncode == 2
    assert "restarting it sends every pending job again" in requeue.stdout


def test_jobs_status_counts_rows_by_state(tmp_path: Path) -> None:
    assert vigil(tmp_path, "migrate").returncode == 0
    status = vigil(tmp_path, "jobs", "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.split() == ["pending:", "0", "done:", "0", "failed:", "0"]

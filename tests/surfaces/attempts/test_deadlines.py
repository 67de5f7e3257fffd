"""Time: the exam's window, the attempt's deadline, and the server-side submit when it passes."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.support.api import create_user, login, run_async
from tests.surfaces.attempts.helpers import exam_file, run_import, write_exam_dir
from vigil.app import create_app
from vigil.core.attempts.jobs import finish_due_once
from vigil.core.attempts.models import ExamAttempt
from vigil.core.exams.models import Exam
from vigil.core.identity.models import Role
from vigil.settings import Settings


@pytest.fixture
def student(client: TestClient, tmp_path: Path) -> dict[str, str]:
    run_import(client, write_exam_dir(tmp_path / "exams", [exam_file()], {"algebra-1": True}))
    create_user(client, "ana@uni.edu", Role.STUDENT)
    return login(client, "ana@uni.edu")


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def execute(client: TestClient, statement: Any) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def run() -> None:
        async with runtime.sessionmaker.begin() as db:
            await db.execute(statement)

    run_async(client, run)


def expire(client: TestClient, attempt_id: str, ago: float = 5) -> datetime:
    deadline = datetime.now(UTC) - timedelta(seconds=ago)
    execute(
        client,
        update(ExamAttempt)
        .where(ExamAttempt.uuid == uuid.UUID(attempt_id))
        .values(deadline_at=deadline),
    )
    return deadline


def sweep(client: TestClient, settings: Settings) -> int:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return int(run_async(client, lambda: finish_due_once(runtime.sessionmaker, settings.data_dir)))


def test_the_deadline_is_the_duration_from_the_start(
    client: TestClient, student: dict[str, str]
) -> None:
    attempt = client.post("/api/exams/algebra-1/attempt", headers=student).json()
    assert parse(attempt["deadlineAt"]) - parse(attempt["startedAt"]) == timedelta(hours=1)


def test_the_end_time_caps_the_deadline(client: TestClient, student: dict[str, str]) -> None:
    end = datetime.now(UTC) + timedelta(minutes=10)
    execute(client, update(Exam).values(end_time=end))
    attempt = client.post("/api/exams/algebra-1/attempt", headers=student).json()
    assert parse(attempt["deadlineAt"]) == end


def test_before_the_window_and_after_it(client: TestClient, student: dict[str, str]) -> None:
    now = datetime.now(UTC)
    execute(client, update(Exam).values(start_time=now + timedelta(hours=1)))
    early = client.post("/api/exams/algebra-1/attempt", headers=student)
    assert (early.status_code, early.json()["code"]) == (423, "EXAM_NOT_OPEN")
    execute(client, update(Exam).values(start_time=None, end_time=now - timedelta(seconds=1)))
    late = client.post("/api/exams/algebra-1/attempt", headers=student)
    assert (late.status_code, late.json()["code"]) == (423, "EXAM_CLOSED")


def test_time_up_refuses_autosave_and_the_sweeper_submits(
    client: TestClient, student: dict[str, str], settings: Settings
) -> None:
    attempt = client.post("/api/exams/algebra-1/attempt", headers=student).json()
    ref = attempt["attemptId"]
    client.put(
        f"/api/attempts/{ref}",
        json={"answers": [{"questionId": "q1", "response": "b"}]},
        headers=student,
    )
    deadline = expire(client, ref)
    late = client.put(
        f"/api/attempts/{ref}",
        json={"answers": [{"questionId": "q2", "response": ["a"]}]},
        headers=student,
    )
    assert (late.status_code, late.json()["code"]) == (409, "ATTEMPT_FINISHED")
    assert sweep(client, settings) == 1
    assert sweep(client, settings) == 0
    stored = json.loads(
        (
            settings.data_dir / "attempts" / attempt["userId"] / "algebra-1" / f"{ref}.json"
        ).read_text()
    )
    assert stored["status"] == "finished"
    assert parse(stored["submittedAt"]) == deadline
    assert stored["answers"] == [{"questionId": "q1", "response": "b"}]
    bundle = settings.data_dir / "output" / f"algebra-1_{ref}.json"
    assert json.loads(bundle.read_text())["attempt"] == stored
    progress = client.get("/api/progress/me", headers=student).json()["exams"][0]
    assert progress["status"] == "finished"


def test_resuming_after_time_up_returns_it_submitted(
    client: TestClient, student: dict[str, str]
) -> None:
    attempt = client.post("/api/exams/algebra-1/attempt", headers=student).json()
    deadline = expire(client, attempt["attemptId"])
    resumed = client.post("/api/exams/algebra-1/attempt", headers=student)
    assert resumed.status_code == 200
    assert resumed.json()["status"] == "finished"
    assert parse(resumed.json()["submittedAt"]) == deadline
    again = client.post("/api/exams/algebra-1/attempt", headers=student)
    assert again.json()["code"] == "ATTEMPT_EXISTS"


def test_a_late_submit_counts_as_of_the_deadline(
    client: TestClient, student: dict[str, str]
) -> None:
    attempt = client.post("/api/exams/algebra-1/attempt", headers=student).json()
    deadline = expire(client, attempt["attemptId"])
    answer = client.post(f"/api/attempts/{attempt['attemptId']}/submit", headers=student)
    assert answer.status_code == 200
    assert parse(answer.json()["attempt"]["submittedAt"]) == deadline


def test_the_server_runs_the_sweeper(settings: Settings, tmp_path: Path) -> None:
    fast = settings.model_copy(update={"attempt_sweep_seconds": 0.05})
    with TestClient(create_app(fast)) as client:
        run_import(client, write_exam_dir(tmp_path / "exams", [exam_file()], {"algebra-1": True}))
        create_user(client, "ana@uni.edu", Role.STUDENT)
        student = login(client, "ana@uni.edu")
        attempt = client.post("/api/exams/algebra-1/attempt", headers=student).json()
        expire(client, attempt["attemptId"])
        for _ in range(100):
            entry = client.get("/api/progress/me", headers=student).json()["exams"][0]
            if entry["status"] == "finished":
                break
            time.sleep(0.05)
        assert entry["status"] == "finished"

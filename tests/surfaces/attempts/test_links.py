"""An attempt links to the candidate's open proctoring session for the same exam, whichever
of the two starts first, so a reviewer finds the answers beside the evidence."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support.api import create_user, login, run_async
from tests.surfaces.attempts.helpers import exam_file, run_import, write_exam_dir
from vigil.core.attempts.models import ExamAttempt
from vigil.core.exams.models import Exam
from vigil.core.identity.models import Role

SUSIE = "/susie/api/v1/monitoreo"


@pytest.fixture
def exam_id(client: TestClient, tmp_path: Path) -> int:
    run_import(client, write_exam_dir(tmp_path / "exams", [exam_file()], {"algebra-1": True}))
    runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def find() -> int:
        async with runtime.sessionmaker() as db:
            found = await db.scalar(select(Exam.id).where(Exam.external_ref == "algebra-1"))
            assert found is not None
            return int(found)

    found: int = run_async(client, find)
    return found


def stored_link(client: TestClient, attempt_id: str) -> int | None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def read() -> int | None:
        async with runtime.sessionmaker() as db:
            attempt = await db.scalar(
                select(ExamAttempt).where(ExamAttempt.uuid == uuid.UUID(attempt_id))
            )
            assert attempt is not None
            return attempt.proctoring_session_id

    link: int | None = run_async(client, read)
    return link


def student(client: TestClient, login_name: str) -> dict[str, str]:
    create_user(client, login_name, Role.STUDENT)
    return login(client, login_name)


def test_an_attempt_started_during_a_session_links_to_it(client: TestClient, exam_id: int) -> None:
    ana = student(client, "ana@uni.edu")
    session = client.post("/sessions/start", params={"exam_id": exam_id}, headers=ana).json()
    attempt = client.post("/api/exams/algebra-1/attempt", headers=ana).json()
    assert attempt["proctoringSessionId"] == session["session_id"]
    answer = {"answers": [{"questionId": "q1", "response": "b"}]}
    saved = client.put(f"/api/attempts/{attempt['attemptId']}", json=answer, headers=ana)
    assert saved.json()["proctoringSessionId"] == session["session_id"]


def test_a_session_started_during_an_attempt_links_it(client: TestClient, exam_id: int) -> None:
    ana = student(client, "ana@uni.edu")
    attempt = client.post("/api/exams/algebra-1/attempt", headers=ana).json()
    assert "proctoringSessionId" not in attempt
    started = client.post(
        f"{SUSIE}/sesiones/start",
        json={"examSessionId": "sess-ana", "examId": "algebra-1"},
        headers=ana,
    )
    assert started.status_code == 200, started.text
    assert stored_link(client, attempt["attemptId"]) == started.json()["session_id"]
    resumed = client.post("/api/exams/algebra-1/attempt", headers=ana).json()
    assert resumed["proctoringSessionId"] == started.json()["session_id"]


def test_no_link_to_another_candidate_or_another_exam(
    client: TestClient, exam_id: int, tmp_path: Path
) -> None:
    ana = student(client, "ana@uni.edu")
    bo = student(client, "bo@uni.edu")
    client.post("/sessions/start", params={"exam_id": exam_id}, headers=bo)
    client.post(
        f"{SUSIE}/sesiones/start", json={"examSessionId": "s-ana", "examId": "x"}, headers=ana
    )
    attempt = client.post("/api/exams/algebra-1/attempt", headers=ana).json()
    assert "proctoringSessionId" not in attempt
    assert stored_link(client, attempt["attemptId"]) is None


def test_an_ended_session_is_not_linked(client: TestClient, exam_id: int) -> None:
    ana = student(client, "ana@uni.edu")
    session = client.post("/sessions/start", params={"exam_id": exam_id}, headers=ana).json()
    ended = client.post("/sessions/end", params={"session_id": session["session_id"]}, headers=ana)
    assert ended.status_code == 200, ended.text
    attempt = client.post("/api/exams/algebra-1/attempt", headers=ana).json()
    assert "proctoringSessionId" not in attempt

"""The exam-attempts contract as its client uses it: exams, attempts, autosave, submit,
progress, the error codes, and the files written under the data directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import create_user, login, run_async
from tests.surfaces.attempts.helpers import exam_file, run_import, write_exam_dir
from vigil.core.exams.models import Exam
from vigil.core.identity.models import Role
from vigil.settings import Settings
from vigil.storage import views


@pytest.fixture
def exams_dir(client: TestClient, tmp_path: Path) -> Path:
    directory = write_exam_dir(
        tmp_path / "exams",
        [exam_file(), exam_file("draft-1", title="Draft")],
        {"algebra-1": True, "draft-1": False},
    )
    run_import(client, directory)
    return directory


@pytest.fixture
def student(client: TestClient, exams_dir: Path) -> dict[str, str]:
    create_user(client, "ana@uni.edu", Role.STUDENT)
    return login(client, "ana@uni.edu")


@pytest.fixture
def other_student(client: TestClient, exams_dir: Path) -> dict[str, str]:
    create_user(client, "bo@uni.edu", Role.STUDENT)
    return login(client, "bo@uni.edu")


def start(client: TestClient, headers: dict[str, str], exam: str = "algebra-1") -> Any:
    return client.post(f"/api/exams/{exam}/attempt", headers=headers)


def save(client: TestClient, headers: dict[str, str], attempt_id: str, **body: Any) -> Any:
    return client.put(f"/api/attempts/{attempt_id}", json=body, headers=headers)


def assert_error(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    assert body["message"]
    return body


# --- exams ------------------------------------------------------------------------------


def test_lists_only_published_exams(client: TestClient, student: dict[str, str]) -> None:
    answer = client.get("/api/exams", headers=student)
    assert answer.status_code == 200
    assert answer.json() == [
        {
            "examId": "algebra-1",
            "title": "Algebra I",
            "version": 1,
            "questionCount": 5,
            "durationSeconds": 3600,
        }
    ]


def test_exam_never_carries_answer_keys(client: TestClient, student: dict[str, str]) -> None:
    answer = client.get("/api/exams/algebra-1", headers=student)
    assert answer.status_code == 200
    exam = answer.json()
    assert exam["examId"] == "algebra-1"
    assert [q["id"] for q in exam["questions"]] == ["q1", "q2", "q3", "q4", "q5"]
    assert exam["questions"][0]["options"] == [{"id": "a", "text": "3"}, {"id": "b", "text": "4"}]
    assert "answer" not in answer.text


def test_unknown_exam_is_exam_not_found(client: TestClient, student: dict[str, str]) -> None:
    assert_error(client.get("/api/exams/nope", headers=student), 404, "EXAM_NOT_FOUND")
    assert_error(start(client, student, "nope"), 404, "EXAM_NOT_FOUND")


def test_unpublished_exam_is_locked(client: TestClient, student: dict[str, str]) -> None:
    assert_error(client.get("/api/exams/draft-1", headers=student), 423, "EXAM_NOT_PUBLISHED")
    assert_error(start(client, student, "draft-1"), 423, "EXAM_NOT_PUBLISHED")


def test_teacher_previews_an_unpublished_exam(client: TestClient, exams_dir: Path) -> None:
    create_user(client, "tess@uni.edu", Role.TEACHER)
    teacher = login(client, "tess@uni.edu")
    answer = client.get("/api/exams/draft-1", headers=teacher)
    assert answer.status_code == 200
    assert answer.json()["published"] is False
    assert "answer" not in answer.text


def test_proctorbe_exam_lists_only_when_published(
    client: TestClient, student: dict[str, str], tmp_path: Path
) -> None:
    create_user(client, "tess@uni.edu", Role.TEACHER)
    teacher = login(client, "tess@uni.edu")
    created = client.post("/exams/", params={"title": "Oral"}, headers=teacher)
    assert created.status_code == 200, created.text
    listed = [e["examId"] for e in client.get("/api/exams", headers=student).json()]
    assert listed == ["algebra-1"]
    runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def exam_uuid() -> str:
        async with runtime.sessionmaker() as db:
            exam = await db.get(Exam, created.json()["id"])
            assert exam is not None
            return str(exam.uuid)

    ref = run_async(client, exam_uuid)
    directory = write_exam_dir(tmp_path / "more", [], {ref: True})
    report = run_import(client, directory)
    assert report.republished == [ref]
    listed = [e["examId"] for e in client.get("/api/exams", headers=student).json()]
    assert listed == ["algebra-1", ref]
    exam = client.get(f"/api/exams/{ref}", headers=student).json()
    assert exam["questions"] == []
    assert start(client, student, ref).status_code == 201


def test_unauthenticated_is_refused(client: TestClient, exams_dir: Path) -> None:
    body = assert_error(client.get("/api/exams"), 401, "UNAUTHENTICATED")
    assert "token" in body["message"]
    assert_error(client.get("/api/progress/me"), 401, "UNAUTHENTICATED")
    garbage = {"Authorization": "Bearer not-a-token"}
    assert_error(
        client.post("/api/exams/algebra-1/attempt", headers=garbage), 401, "UNAUTHENTICATED"
    )


def test_unknown_path_under_the_surface_has_its_error_shape(
    client: TestClient, student: dict[str, str]
) -> None:
    assert_error(client.get("/api/attempts/x/nothing", headers=student), 404, "NOT_FOUND")


# --- start or resume --------------------------------------------------------------------


def test_start_then_resume_the_same_attempt(client: TestClient, student: dict[str, str]) -> None:
    first = start(client, student)
    assert first.status_code == 201, first.text
    attempt = first.json()
    assert attempt["examId"] == "algebra-1"
    assert attempt["status"] == "active"
    assert attempt["answers"] == []
    assert attempt["examVersion"] == 1
    assert "submittedAt" not in attempt
    assert set(attempt) == {
        "attemptId", "userId", "examId", "examVersion", "status", "startedAt", "updatedAt",
        "deadlineAt", "answers",
    }  # fmt: skip
    again = start(client, student)
    assert again.status_code == 200
    assert again.json()["attemptId"] == attempt["attemptId"]


def test_each_student_has_their_own_attempt(
    client: TestClient, student: dict[str, str], other_student: dict[str, str]
) -> None:
    mine = start(client, student).json()
    theirs = start(client, other_student).json()
    assert mine["attemptId"] != theirs["attemptId"]
    assert mine["userId"] != theirs["userId"]


# --- autosave ---------------------------------------------------------------------------


def test_autosave_merges_answers_by_question(client: TestClient, student: dict[str, str]) -> None:
    attempt = start(client, student).json()
    first = save(
        client, student, attempt["attemptId"],
        answers=[{"questionId": "q1", "response": "a", "timeSec": 5}],
    )  # fmt: skip
    assert first.status_code == 200, first.text
    assert first.json()["updatedAt"] > attempt["updatedAt"]
    second = save(
        client, student, attempt["attemptId"],
        answers=[{"questionId": "q1", "response": "b"}, {"questionId": "q5", "response": 4}],
        updatedAt=first.json()["updatedAt"],
    )  # fmt: skip
    assert second.status_code == 200, second.text
    assert second.json()["answers"] == [
        {"questionId": "q1", "response": "b"},
        {"questionId": "q5", "response": 4},
    ]
    cleared = save(client, student, attempt["attemptId"], answers=[{"questionId": "q5"}])
    assert cleared.json()["answers"] == [{"questionId": "q1", "response": "b"}]


def test_put_of_the_whole_attempt_is_accepted(client: TestClient, student: dict[str, str]) -> None:
    attempt = start(client, student).json()
    attempt["answers"] = [{"questionId": "q3", "response": "7"}]
    answer = client.put(f"/api/attempts/{attempt['attemptId']}", json=attempt, headers=student)
    assert answer.status_code == 200, answer.text
    assert answer.json()["answers"] == [{"questionId": "q3", "response": "7"}]


def test_stale_autosave_is_refused_with_the_current_attempt(
    client: TestClient, student: dict[str, str]
) -> None:
    attempt = start(client, student).json()
    seen = attempt["updatedAt"]
    newer = save(
        client, student, attempt["attemptId"], answers=[{"questionId": "q1", "response": "b"}],
        updatedAt=seen,
    )  # fmt: skip
    assert newer.status_code == 200
    stale = save(
        client, student, attempt["attemptId"], answers=[{"questionId": "q1", "response": "a"}],
        updatedAt=seen,
    )  # fmt: skip
    body = assert_error(stale, 409, "STALE_UPDATE")
    assert body["attempt"] == newer.json()


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ([{"questionId": "q9", "response": "a"}], "answers.0.questionId"),
        ([{"questionId": "q1", "response": "z"}], "answers.0.response"),
        ([{"questionId": "q1", "response": "a"}, {"questionId": "q2", "response": "a"}],
         "answers.1.response"),
        ([{"questionId": "q5", "response": "four"}], "answers.0.response"),
        ([{"questionId": "q3", "response": 3}], "answers.0.response"),
        ("not a list", "answers"),
        ([{"questionId": "q1", "response": "a", "timeSec": -1}], "answers.0.timeSec"),
        ([{"response": "a"}], "answers.0.questionId"),
    ],
)  # fmt: skip
def test_invalid_autosave_names_the_field(
    client: TestClient, student: dict[str, str], answers: Any, field: str
) -> None:
    attempt = start(client, student).json()
    body = assert_error(save(client, student, attempt["attemptId"], answers=answers), 400,
                        "INVALID_PAYLOAD")  # fmt: skip
    assert body["field"] == field


def test_malformed_json_is_invalid_payload(client: TestClient, student: dict[str, str]) -> None:
    attempt = start(client, student).json()
    answer = client.put(
        f"/api/attempts/{attempt['attemptId']}",
        content=b"{not json",
        headers={**student, "Content-Type": "application/json"},
    )
    assert_error(answer, 400, "INVALID_PAYLOAD")
    naive = save(client, student, attempt["attemptId"], updatedAt="2026-01-01T00:00:00")
    assert assert_error(naive, 400, "INVALID_PAYLOAD")["field"] == "updatedAt"


def test_unknown_attempt_is_attempt_not_found(client: TestClient, student: dict[str, str]) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    assert_error(save(client, student, missing, answers=[]), 404, "ATTEMPT_NOT_FOUND")
    assert_error(save(client, student, "not-a-uuid", answers=[]), 404, "ATTEMPT_NOT_FOUND")
    submitted = client.post(f"/api/attempts/{missing}/submit", headers=student)
    assert_error(submitted, 404, "ATTEMPT_NOT_FOUND")


def test_another_students_attempt_does_not_exist_for_you(
    client: TestClient, student: dict[str, str], other_student: dict[str, str]
) -> None:
    attempt = start(client, student).json()
    answers = [{"questionId": "q1", "response": "a"}]
    put = save(client, other_student, attempt["attemptId"], answers=answers)
    assert_error(put, 404, "ATTEMPT_NOT_FOUND")
    submitted = client.post(f"/api/attempts/{attempt['attemptId']}/submit", headers=other_student)
    assert_error(submitted, 404, "ATTEMPT_NOT_FOUND")
    mine = save(client, student, attempt["attemptId"], answers=[])
    assert mine.json()["answers"] == []


# --- submit -----------------------------------------------------------------------------


def test_submit_finishes_and_bundles(
    client: TestClient, student: dict[str, str], settings: Settings
) -> None:
    attempt = start(client, student).json()
    save(client, student, attempt["attemptId"], answers=[{"questionId": "q1", "response": "b"}])
    answer = client.post(f"/api/attempts/{attempt['attemptId']}/submit", headers=student)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["outputPath"] == f"output/algebra-1_{attempt['attemptId']}.json"
    assert result["attempt"]["status"] == "finished"
    assert result["attempt"]["submittedAt"] == result["attempt"]["updatedAt"]
    bundle = json.loads((settings.data_dir / result["outputPath"]).read_text())
    assert bundle["attempt"] == result["attempt"]
    assert bundle["exam"]["examId"] == "algebra-1"
    assert bundle["exam"]["questions"][0]["answer"] == "b"  # the server's copy, for grading

    again = client.post(f"/api/attempts/{attempt['attemptId']}/submit", headers=student)
    assert_error(again, 409, "ATTEMPT_FINISHED")
    late = save(client, student, attempt["attemptId"], answers=[{"questionId": "q1"}])
    assert_error(late, 409, "ATTEMPT_FINISHED")
    assert_error(start(client, student), 409, "ATTEMPT_EXISTS")


# --- progress ---------------------------------------------------------------------------


def test_progress_is_answered_over_total(client: TestClient, student: dict[str, str]) -> None:
    before = client.get("/api/progress/me", headers=student).json()
    assert before["exams"] == [
        {"examId": "algebra-1", "attemptId": None, "status": "not_started", "answered": 0,
         "total": 5, "percent": 0.0, "updatedAt": None},
    ]  # fmt: skip
    attempt = start(client, student).json()
    save(
        client, student, attempt["attemptId"],
        answers=[{"questionId": "q1", "response": "b"}, {"questionId": "q2", "response": ["a"]}],
    )  # fmt: skip
    entry = client.get("/api/progress/me", headers=student).json()["exams"][0]
    assert entry["answered"] == 2
    assert entry["total"] == 5
    assert entry["percent"] == 40.0
    assert entry["status"] == "active"
    client.post(f"/api/attempts/{attempt['attemptId']}/submit", headers=student)
    entry = client.get("/api/progress/me", headers=student).json()["exams"][0]
    assert (entry["status"], entry["percent"]) == ("finished", 40.0)


# --- files ------------------------------------------------------------------------------


def read(path: Path) -> Any:
    return json.loads(path.read_text())


def settle_files(client: TestClient) -> None:
    run_async(client, views.drain)


def test_autosave_files_follow_in_commit_order(
    client: TestClient, student: dict[str, str], settings: Settings
) -> None:
    attempt = start(client, student).json()
    path = settings.data_dir / "attempts" / attempt["userId"] / "algebra-1"
    saves = [
        save(
            client,
            student,
            attempt["attemptId"],
            answers=[{"questionId": "q3", "response": f"{n}"}],
        )
        for n in range(5)
    ]
    settle_files(client)
    # The last commit's version is the one in place, whatever order the writes finished in.
    assert read(path / f"{attempt['attemptId']}.json") == saves[-1].json()
    assert [p for p in settings.data_dir.rglob("*.tmp") if p.is_file()] == []


def test_files_mirror_the_database(
    client: TestClient, student: dict[str, str], settings: Settings
) -> None:
    data = settings.data_dir
    assert read(data / "manifest.json")["exams"] == {
        "algebra-1": {"published": True, "version": 1, "title": "Algebra I"},
        "draft-1": {"published": False, "version": 1, "title": "Draft"},
    }
    attempt = start(client, student).json()
    user, ref = attempt["userId"], attempt["attemptId"]
    attempt_file = data / "attempts" / user / "algebra-1" / f"{ref}.json"
    assert read(attempt_file) == attempt
    assert read(data / "manifest.json")["users"] == {
        user: {"active": ["algebra-1"], "finished": []}
    }

    saved = save(client, student, ref, answers=[{"questionId": "q4", "response": "because"}])
    settle_files(client)  # an autosave answers before its files are in place
    assert read(attempt_file) == saved.json()
    progress = read(data / "progress" / f"{user}.json")
    assert progress == client.get("/api/progress/me", headers=student).json()
    assert progress["exams"][0]["percent"] == 20.0

    refused = save(client, student, ref, answers=[{"questionId": "q9", "response": "x"}])
    assert refused.status_code == 400
    assert read(attempt_file) == saved.json()  # a rolled-back request writes nothing

    submitted = client.post(f"/api/attempts/{ref}/submit", headers=student).json()
    assert read(attempt_file) == submitted["attempt"]
    assert read(data / "manifest.json")["users"] == {
        user: {"active": [], "finished": ["algebra-1"]}
    }
    leftovers = [p for p in data.rglob("*.tmp") if p.is_file()]
    assert leftovers == []


def test_the_database_holds_one_active_attempt_per_exam_and_user(
    client: TestClient, student: dict[str, str]
) -> None:
    """Two concurrent starts cannot both insert: the unique `active_key` refuses the second."""
    import uuid as uuid_module

    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from vigil.core.attempts.models import ExamAttempt

    first = start(client, student).json()
    runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def insert_twin() -> None:
        async with runtime.sessionmaker.begin() as db:
            existing = await db.scalar(select(ExamAttempt))
            assert existing is not None
            db.add(
                ExamAttempt(
                    uuid=uuid_module.uuid4(),
                    user_id=existing.user_id,
                    exam_id=existing.exam_id,
                    status=existing.status,
                    active_key=existing.active_key,
                    exam_version=1,
                    exam_content={},
                    answers={},
                )
            )

    with pytest.raises(IntegrityError):
        run_async(client, insert_twin)
    assert start(client, student).json()["attemptId"] == first["attemptId"]

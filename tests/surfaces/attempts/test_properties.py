"""Property: whatever sequence of starts, autosaves (fresh or stale) and submits a
student sends, there is never more than one active attempt per exam, progress is
answered/total, and a finished attempt never changes again."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.support.api import create_user, login, run_async
from tests.surfaces.attempts.helpers import exam_file, run_import, write_exam_dir
from vigil.core.attempts.models import ExamAttempt
from vigil.core.attempts.statuses import AttemptStatus
from vigil.core.identity.models import Role
from vigil.settings import Settings

RESPONSES = {
    "q1": st.sampled_from(["a", "b", None, "zz"]),
    "q2": st.sampled_from([["a"], ["a", "c"], [], None, ["x"]]),
    "q3": st.sampled_from(["2", "", None, 5]),
    "q4": st.text(max_size=5),
    "q5": st.one_of(st.integers(-5, 5), st.none(), st.just("x")),
}
save_op = st.tuples(
    st.just("save"),
    st.sampled_from(sorted(RESPONSES)).flatmap(lambda q: st.tuples(st.just(q), RESPONSES[q])),
    st.booleans(),  # send a stale updatedAt
)
operation = st.one_of(save_op, st.tuples(st.just("start")), st.tuples(st.just("submit")))
counter = itertools.count()


@hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=12))
def test_random_sequences_keep_the_rules(
    client: TestClient, tmp_path: Path, settings: Settings, operations: list[tuple[Any, ...]]
) -> None:
    directory = tmp_path / "exams"
    if not directory.exists():
        run_import(client, write_exam_dir(directory, [exam_file()], {"algebra-1": True}))
    login_name = f"s{next(counter)}@uni.edu"
    create_user(client, login_name, Role.STUDENT)
    student = login(client, login_name)

    current: dict[str, Any] | None = None  # the attempt as the server last returned it
    first_seen: str | None = None
    finished: dict[str, Any] | None = None
    for op in operations:
        if op[0] == "start":
            answer = client.post("/api/exams/algebra-1/attempt", headers=student)
            if finished is not None:
                assert answer.status_code == 409
                assert answer.json()["code"] == "ATTEMPT_EXISTS"
                continue
            assert answer.status_code in (200, 201), answer.text
            if current is not None:
                assert answer.status_code == 200
                assert answer.json() == current  # resuming changes nothing
            current = answer.json()
            first_seen = first_seen or current["updatedAt"]
        elif current is None:
            continue
        elif op[0] == "save":
            (question, response), stale = op[1], op[2]
            body: dict[str, Any] = {"answers": [{"questionId": question, "response": response}]}
            if stale and first_seen != current["updatedAt"]:
                body["updatedAt"] = first_seen
            else:
                body["updatedAt"] = current["updatedAt"]
            answer = client.put(f"/api/attempts/{current['attemptId']}", json=body, headers=student)
            if finished is not None:
                assert answer.json()["code"] == "ATTEMPT_FINISHED"
            elif body["updatedAt"] != current["updatedAt"]:
                assert answer.status_code == 409
                assert answer.json()["attempt"] == current
            elif answer.status_code == 200:
                assert answer.json()["updatedAt"] > current["updatedAt"]
                current = answer.json()
            else:
                assert answer.json()["code"] == "INVALID_PAYLOAD"
        else:
            answer = client.post(f"/api/attempts/{current['attemptId']}/submit", headers=student)
            if finished is not None:
                assert answer.json()["code"] == "ATTEMPT_FINISHED"
            else:
                assert answer.status_code == 200, answer.text
                finished = current = answer.json()["attempt"]
        check_invariants(client, student, current, finished)
        if finished is not None:  # the file of record agrees: it never changes again
            path = Path("attempts", finished["userId"], "algebra-1", finished["attemptId"])
            stored = json.loads((settings.data_dir / path.with_suffix(".json")).read_text())
            assert stored == finished


def check_invariants(
    client: TestClient,
    student: dict[str, str],
    current: dict[str, Any] | None,
    finished: dict[str, Any] | None,
) -> None:
    progress = client.get("/api/progress/me", headers=student).json()["exams"]
    assert len(progress) == 1
    entry = progress[0]
    answered = len(current["answers"]) if current else 0
    assert (entry["answered"], entry["total"]) == (answered, 5)
    assert entry["percent"] == round(100 * answered / 5, 2)
    if current is None:
        assert entry["status"] == "not_started"
        return
    assert entry["status"] == current["status"]
    if finished is not None:
        assert current == finished
    user_id = int(current["userId"])
    runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def active_count() -> int:
        async with runtime.sessionmaker() as db:
            count = await db.scalar(
                select(func.count())
                .select_from(ExamAttempt)
                .where(
                    ExamAttempt.user_id == user_id,
                    ExamAttempt.status == AttemptStatus.ACTIVE,
                )
            )
            return int(count or 0)

    assert run_async(client, active_count) == (0 if finished else 1)

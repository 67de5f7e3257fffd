"""The attempt files are derived from the database and written without fsync; `vigil serve`
renders them again before it starts, so whatever a crash left behind (a missing, stale or
truncated file, a temporary copy) is put right."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from tests.support.api import create_user, login, run_async
from tests.surfaces.attempts.helpers import exam_file, run_import, write_exam_dir
from vigil.core.attempts.jobs import rebuild_views
from vigil.core.identity.models import Role
from vigil.runtime import Runtime
from vigil.storage import views


def rebuild(client: TestClient) -> int:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    written: int = run_async(
        client, lambda: rebuild_views(runtime.sessionmaker, runtime.settings.data_dir)
    )
    return written


def test_rebuild_restores_what_a_crash_left_behind(client: TestClient, tmp_path: Path) -> None:
    run_import(client, write_exam_dir(tmp_path / "exams", [exam_file()], {"algebra-1": True}))
    create_user(client, "ana@uni.edu", Role.STUDENT)
    ana = login(client, "ana@uni.edu")
    create_user(client, "bo@uni.edu", Role.STUDENT)
    bo = login(client, "bo@uni.edu")
    active = client.post("/api/exams/algebra-1/attempt", headers=ana).json()
    answer = {"answers": [{"questionId": "q1", "response": "b"}]}
    saved = client.put(f"/api/attempts/{active['attemptId']}", json=answer, headers=ana).json()
    done = client.post("/api/exams/algebra-1/attempt", headers=bo).json()
    submitted = client.post(f"/api/attempts/{done['attemptId']}/submit", headers=bo).json()
    run_async(client, views.drain)  # the autosave's files follow its answer
    data_dir: Path = client.app.state.runtime.settings.data_dir  # type: ignore[attr-defined]
    attempt_file = (
        data_dir / "attempts" / saved["userId"] / "algebra-1" / f"{saved['attemptId']}.json"
    )
    progress_file = data_dir / "progress" / f"{saved['userId']}.json"
    bundle_file = data_dir / submitted["outputPath"]
    manifest_file = data_dir / "manifest.json"
    expected = {
        p: p.read_bytes() for p in (attempt_file, progress_file, bundle_file, manifest_file)
    }
    assert rebuild(client) == 0  # everything already matches the database

    # What a crash can leave: a file that never got written, one half written, one from
    # before the last commit, and the temporary copy of a write that never got renamed.
    bundle_file.unlink()
    progress_file.write_bytes(expected[progress_file][:40])
    stale = json.loads(expected[attempt_file])
    stale["answers"] = []
    attempt_file.write_text(json.dumps(stale))
    leftover = attempt_file.with_name(f".{attempt_file.name}.abc123.tmp")
    leftover.write_text("{")
    manifest_leftover = data_dir / ".manifest.json.xyz.tmp"
    manifest_leftover.write_text("{")

    assert rebuild(client) == 3
    assert {p: p.read_bytes() for p in expected} == expected
    assert not leftover.exists()
    assert not manifest_leftover.exists()
    assert json.loads(attempt_file.read_text())["answers"] == saved["answers"]
    assert client.get("/api/progress/me", headers=ana).json() == json.loads(
        progress_file.read_text()
    )

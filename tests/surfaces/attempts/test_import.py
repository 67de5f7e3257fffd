"""`vigil exams import`: validated, idempotent, versioned; attempts keep their version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.api import create_user, login
from tests.surfaces.attempts.helpers import exam_file, run_import, write_exam_dir
from vigil.core.errors import InvalidInput
from vigil.core.identity.models import Role
from vigil.settings import Settings

VIGIL = str(Path(sys.executable).with_name("vigil"))


def test_import_is_idempotent_and_versions_changes(
    client: TestClient, tmp_path: Path, settings: Settings
) -> None:
    directory = write_exam_dir(tmp_path / "exams", [exam_file()], {"algebra-1": True})
    first = run_import(client, directory)
    assert first.created == ["algebra-1"]
    again = run_import(client, directory)
    assert (again.created, again.updated, again.unchanged) == ([], [], ["algebra-1"])

    create_user(client, "ana@uni.edu", Role.STUDENT)
    student = login(client, "ana@uni.edu")
    started = client.post("/api/exams/algebra-1/attempt", headers=student).json()
    assert started["examVersion"] == 1

    changed = exam_file(title="Algebra I (fixed)")
    changed["questions"] = changed["questions"][:2]
    write_exam_dir(directory, [changed], {"algebra-1": True})
    report = run_import(client, directory)
    assert report.updated == ["algebra-1"]
    exam = client.get("/api/exams/algebra-1", headers=student).json()
    assert (exam["version"], exam["title"], len(exam["questions"])) == (2, "Algebra I (fixed)", 2)
    assert (
        json.loads((settings.data_dir / "manifest.json").read_text())["exams"]["algebra-1"][
            "version"
        ]
        == 2
    )

    # The attempt started on version 1 keeps it: all five questions still answerable.
    own = client.get(
        "/api/exams/algebra-1", params={"attemptId": started["attemptId"]}, headers=student
    ).json()
    assert (own["version"], own["title"], len(own["questions"])) == (1, "Algebra I", 5)
    assert "answer" not in json.dumps(own)
    create_user(client, "bo@uni.edu", Role.STUDENT)
    other = client.get(
        "/api/exams/algebra-1",
        params={"attemptId": started["attemptId"]},
        headers=login(client, "bo@uni.edu"),
    )
    assert (other.status_code, other.json()["code"]) == (404, "ATTEMPT_NOT_FOUND")
    resumed = client.post("/api/exams/algebra-1/attempt", headers=student).json()
    assert (resumed["attemptId"], resumed["examVersion"]) == (started["attemptId"], 1)
    saved = client.put(
        f"/api/attempts/{started['attemptId']}",
        json={"answers": [{"questionId": "q5", "response": 4}]},
        headers=student,
    )
    assert saved.status_code == 200, saved.text
    progress = client.get("/api/progress/me", headers=student).json()["exams"][0]
    assert (progress["answered"], progress["total"]) == (1, 5)
    submitted = client.post(f"/api/attempts/{started['attemptId']}/submit", headers=student)
    bundle = json.loads((settings.data_dir / submitted.json()["outputPath"]).read_text())
    assert len(bundle["exam"]["questions"]) == 5


def test_reformatting_a_file_is_no_change(client: TestClient, tmp_path: Path) -> None:
    directory = write_exam_dir(tmp_path / "exams", [exam_file()], {"algebra-1": False})
    run_import(client, directory)
    path = directory / "input" / "algebra-1.json"
    path.write_text(json.dumps(json.loads(path.read_text()), indent=4, sort_keys=True))
    assert run_import(client, directory).unchanged == ["algebra-1"]


def test_publishing_is_no_new_version(client: TestClient, tmp_path: Path) -> None:
    directory = write_exam_dir(tmp_path / "exams", [exam_file()], {"algebra-1": False})
    run_import(client, directory)
    create_user(client, "ana@uni.edu", Role.STUDENT)
    student = login(client, "ana@uni.edu")
    assert client.get("/api/exams", headers=student).json() == []
    write_exam_dir(directory, [], {"algebra-1": True})
    assert run_import(client, directory).republished == ["algebra-1"]
    exams = client.get("/api/exams", headers=student).json()
    assert [(e["examId"], e["version"]) for e in exams] == [("algebra-1", 1)]


def test_a_file_not_in_the_manifest_is_unpublished(client: TestClient, tmp_path: Path) -> None:
    directory = write_exam_dir(tmp_path / "exams", [exam_file()], {"ghost": True})
    report = run_import(client, directory)
    assert report.created == ["algebra-1"]
    assert report.missing == ["ghost"]
    create_user(client, "ana@uni.edu", Role.STUDENT)
    assert client.get("/api/exams", headers=login(client, "ana@uni.edu")).json() == []


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e["questions"][0].update(type="essay"), "input/algebra-1.json:questions.0.type"),
        (lambda e: e["questions"][0].update(answer="z"), "input/algebra-1.json:questions.0"),
        (lambda e: e["questions"][0].update(options=[]), "input/algebra-1.json:questions.0"),
        (lambda e: e["questions"][3].update(options=[{"id": "a", "text": "x"}]),
         "input/algebra-1.json:questions.3"),
        (lambda e: e["questions"][1].update(id="q1"), "input/algebra-1.json"),
        (lambda e: e["questions"][0].update(anwser="b"), "input/algebra-1.json:questions.0.anwser"),
        (lambda e: e.pop("title"), "input/algebra-1.json:title"),
        (lambda e: e.update(examId="other"), "input/algebra-1.json:examId"),
        (lambda e: e.update(examId="../etc"), "input/algebra-1.json:examId"),
    ],
)  # fmt: skip
def test_invalid_exam_files_are_refused_naming_the_field(
    client: TestClient, tmp_path: Path, mutate: object, field: str
) -> None:
    exam = exam_file()
    mutate(exam)  # type: ignore[operator]
    directory = tmp_path / "exams"
    (directory / "input").mkdir(parents=True)
    (directory / "input" / "algebra-1.json").write_text(json.dumps(exam))
    with pytest.raises(InvalidInput) as caught:
        run_import(client, directory)
    assert caught.value.field == field


def test_an_invalid_file_imports_nothing(client: TestClient, tmp_path: Path) -> None:
    broken = exam_file("zz-broken")
    broken["questions"] = "none"
    directory = write_exam_dir(tmp_path / "exams", [exam_file(), broken], {"algebra-1": True})
    with pytest.raises(InvalidInput):
        run_import(client, directory)
    create_user(client, "ana@uni.edu", Role.STUDENT)
    assert client.get("/api/exams", headers=login(client, "ana@uni.edu")).json() == []


def vigil(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIL_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    env.pop("VIGIL_DATABASE_URL", None)
    return subprocess.run(
        [VIGIL, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert vigil(data, "migrate").returncode == 0
    directory = write_exam_dir(tmp_path / "exams", [exam_file()], {"algebra-1": True})
    first = vigil(data, "exams", "import", str(directory))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "created: algebra-1" in first.stdout
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest == {
        "exams": {"algebra-1": {"published": True, "version": 1, "title": "Algebra I"}},
        "users": {},
    }
    second = vigil(data, "exams", "import", str(directory))
    assert "unchanged: algebra-1" in second.stdout
    (directory / "input" / "algebra-1.json").write_text("{}")
    broken = vigil(data, "exams", "import", str(directory))
    assert broken.returncode == 1
    assert "input/algebra-1.json:examId" in broken.stdout

"""Exam files and calls as the attempts client makes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from vigil.core.exams.importer import ImportReport, import_exams
from vigil.runtime import Runtime
from vigil.storage import views


def exam_file(
    exam_id: str = "algebra-1", *, title: str = "Algebra I", **extra: Any
) -> dict[str, Any]:
    return {
        "examId": exam_id,
        "title": title,
        "durationSeconds": 3600,
        "questions": [
            {
                "id": "q1",
                "type": "single_choice",
                "prompt": "2 + 2?",
                "options": [{"id": "a", "text": "3"}, {"id": "b", "text": "4"}],
                "points": 1,
                "answer": "b",
            },
            {
                "id": "q2",
                "type": "multiple_choice",
                "prompt": "Even numbers?",
                "options": [
                    {"id": "a", "text": "2"},
                    {"id": "b", "text": "3"},
                    {"id": "c", "text": "4"},
                ],
                "points": 2,
                "answer": ["a", "c"],
            },
            {"id": "q3", "type": "short_text", "prompt": "Name a prime", "answer": ["2", "3"]},
            {"id": "q4", "type": "long_text", "prompt": "Explain"},
            {"id": "q5", "type": "number", "prompt": "sqrt(16)?", "answer": 4},
        ],
        **extra,
    }


def write_exam_dir(
    directory: Path, exams: list[dict[str, Any]], published: dict[str, bool]
) -> Path:
    (directory / "input").mkdir(parents=True, exist_ok=True)
    for exam in exams:
        (directory / "input" / f"{exam['examId']}.json").write_text(json.dumps(exam))
    manifest = {"exams": {ref: {"published": flag} for ref, flag in published.items()}}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def run_import(client: TestClient, directory: Path) -> ImportReport:
    """What `vigil exams import` does, on the test app's database."""
    from vigil.core.attempts import service as attempts

    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def run() -> ImportReport:
        async with runtime.sessionmaker() as db:
            report = await import_exams(db, directory)
            await attempts.queue_manifest(db, runtime.settings.data_dir)
            await db.commit()
            await views.write_pending(db)
            return report

    assert client.portal is not None
    return client.portal.call(run)

"""Derived files: put in place only after their transaction commits, never half-written,
and the latest commit's version wins."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from vigil.storage import views
from vigil.storage.db import create_engine, create_session_factory


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file())


def run_unit_of_work(url: str, target: Path, *, fail: bool) -> None:
    async def main() -> None:
        engine = create_engine(url)
        try:
            async with views.unit_of_work(create_session_factory(engine)) as db:
                await db.execute(text("SELECT 1"))
                views.after_commit(db, target, {"saved": True})
                if fail:
                    raise RuntimeError("refused")
        finally:
            await engine.dispose()

    asyncio.run(main())


def test_a_committed_transaction_puts_its_file_in_place(tmp_path: Path) -> None:
    target = tmp_path / "views" / "attempt.json"
    run_unit_of_work(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", target, fail=False)
    assert json.loads(target.read_text()) == {"saved": True}
    assert files_in(tmp_path / "views") == ["attempt.json"]  # no temporary copy left


def test_a_rolled_back_transaction_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "views" / "attempt.json"
    with pytest.raises(RuntimeError, match="refused"):
        run_unit_of_work(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", target, fail=True)
    assert not target.parent.exists() or files_in(target.parent) == []


def test_the_later_commit_wins_whichever_renames_first(tmp_path: Path) -> None:
    target = tmp_path / "progress.json"
    committed = views._Verdict()
    committed.give(True)
    views._stage_then_publish({target: {"version": 2}}, 11, committed)
    # The earlier commit finishes its rename after the later commit did.
    views._stage_then_publish({target: {"version": 1}}, 10, committed)
    assert json.loads(target.read_text()) == {"version": 2}
    assert files_in(tmp_path) == ["progress.json"]


def test_rewrite_if_changed_leaves_an_identical_file_alone(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    assert views.rewrite_if_changed(target, {"exams": {}}) is True
    before = target.stat().st_mtime_ns
    assert views.rewrite_if_changed(target, {"exams": {}}) is False
    assert target.stat().st_mtime_ns == before
    assert views.rewrite_if_changed(target, {"exams": {"a": 1}}) is True
    assert json.loads(target.read_text()) == {"exams": {"a": 1}}


def test_files_of_a_transaction_whose_commit_failed_are_dropped(tmp_path: Path) -> None:
    target = tmp_path / "attempt.json"
    failed = views._Verdict()
    failed.give(False)
    views._stage_then_publish({target: {"version": 1}}, 12, failed)
    assert files_in(tmp_path) == []

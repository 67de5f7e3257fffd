"""The operator's commands, run as an operator would: as processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

VIGIL = str(Path(sys.executable).with_name("vigil"))


def vigil(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIL_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    env.pop("VIGIL_DATABASE_URL", None)
    return subprocess.run(
        [VIGIL, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_migrate_then_first_admin_is_printed_once(tmp_path: Path) -> None:
    assert vigil(tmp_path, "migrate").returncode == 0
    assert (tmp_path / "vigil.db").exists()
    first = vigil(tmp_path, "users", "ensure-admin")
    assert first.returncode == 0
    assert "login: admin" in first.stdout
    password = first.stdout.split("password:")[1].split()[0]
    assert len(password) >= 16
    second = vigil(tmp_path, "users", "ensure-admin")
    assert second.returncode == 0
    assert password not in second.stdout
    assert "an admin account exists" in second.stdout


def test_users_create_and_duplicate(tmp_path: Path) -> None:
    vigil(tmp_path, "migrate")
    args = ["users", "create", "--login", "t1", "--password", "teacher-pw-1", "--role", "teacher"]
    created = vigil(tmp_path, *args, "--email", "t1@uni.edu", "--first-name", "Tea")
    assert created.returncode == 0, created.stderr
    assert "created teacher 't1'" in created.stdout
    again = vigil(tmp_path, *args)
    assert again.returncode == 1
    assert "already exists" in again.stdout
    bad_role = vigil(tmp_path, "users", "create", "--login", "x", "--password", "pw-long-1",
                     "--role", "wizard")  # fmt: skip
    assert bad_role.returncode == 2
    short = vigil(tmp_path, "users", "create", "--login", "y", "--password", "short",
                  "--role", "student")  # fmt: skip
    assert short.returncode == 1
    assert "at least 8" in short.stdout

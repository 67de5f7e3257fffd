"""`vigil users import FILE`: the real CLI on real CSV and XLSX files, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from typer.testing import CliRunner, Result

from vigil.cli import app
from vigil.core.identity.importer import GENERATED_PASSWORD_LENGTH, PASSWORD_ALPHABET
from vigil.core.identity.models import Group, Role, User
from vigil.core.identity.passwords import verify_password
from vigil.storage.db import create_engine, create_session_factory

Invoke = Callable[..., Result]


@pytest.fixture
def invoke(tmp_path: Path, database_url: str) -> Invoke:
    def run(*args: str) -> Result:
        env = {"VIGIL_DATABASE_URL": database_url, "VIGIL_DATA_DIR": str(tmp_path / "data")}
        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)

    return run


def users_in(database_url: str) -> dict[str, User]:
    async def load() -> dict[str, User]:
        engine = create_engine(database_url)
        try:
            async with create_session_factory(engine)() as db:
                users = await db.scalars(select(User).options(selectinload(User.groups)))
                return {user.login: user for user in users}
        finally:
            await engine.dispose()

    return asyncio.run(load())


def group_names(database_url: str) -> list[str]:
    async def load() -> list[str]:
        engine = create_engine(database_url)
        try:
            async with create_session_factory(engine)() as db:
                return sorted(await db.scalars(select(Group.name)))
        finally:
            await engine.dispose()

    return asyncio.run(load())


def write_csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8-sig") as out:
        csv.writer(out, delimiter=delimiter).writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def generated(output: str) -> dict[str, str]:
    table = output.split("login,password\n", 1)[1]
    return {row[0]: row[1] for row in csv.reader(io.StringIO(table))}


GOOD_CSV = [
    ["login", "password", "first_name", "last_name", "email", "role", "group"],
    ["ivanov", "correct-horse-1", "Иван", "Иванов", "Ivanov@Uni.edu", "student", "ИВТ-21"],
    ["petrova", "", "Мария", "Петрова", "", "1", "ИВТ-21"],
    ["sidorov", "", "Пётр", "Сидоров", "", "", "ИВТ-22"],
    ["", "", "", "", "", "", ""],  # a blank row in the middle is skipped
    ["teach1", "teacher-pw-99", "Anna", "Smirnova", "", "teacher", ""],
    ["boss", "admin-pw-1234", "", "", "", "0", ""],
]


def test_csv_imports_everyone_with_groups_and_generated_passwords(
    invoke: Invoke, tmp_path: Path, database_url: str
) -> None:
    result = invoke("users", "import", str(write_csv(tmp_path / "cohort.csv", GOOD_CSV)))
    assert result.exit_code == 0, result.output
    assert "imported 5 users" in result.output
    assert "new groups: ИВТ-21, ИВТ-22" in result.output

    users = users_in(database_url)
    assert set(users) == {"ivanov", "petrova", "sidorov", "teach1", "boss"}
    assert [users[u].role for u in ("ivanov", "petrova", "sidorov", "teach1", "boss")] == [
        Role.STUDENT, Role.STUDENT, Role.STUDENT, Role.TEACHER, Role.ADMIN,
    ]  # fmt: skip
    ivanov = users["ivanov"]
    assert (ivanov.first_name, ivanov.last_name, ivanov.email) == (
        "Иван",
        "Иванов",
        "ivanov@uni.edu",
    )
    assert [g.name for g in ivanov.groups] == ["ИВТ-21"]
    assert [g.name for g in users["sidorov"].groups] == ["ИВТ-22"]
    assert users["teach1"].groups == []
    assert verify_password(ivanov.password_hash, "correct-horse-1")

    passwords = generated(result.output)
    assert set(passwords) == {"petrova", "sidorov"}  # only the ones Vigil made up
    for login, password in passwords.items():
        assert len(password) == GENERATED_PASSWORD_LENGTH
        assert set(password) <= set(PASSWORD_ALPHABET)
        assert verify_password(users[login].password_hash, password)
    assert "correct-horse-1" not in result.output
    assert group_names(database_url) == ["ИВТ-21", "ИВТ-22"]


def test_xlsx_with_numeric_cells_and_an_existing_group(
    invoke: Invoke, tmp_path: Path, database_url: str
) -> None:
    first = write_csv(tmp_path / "one.csv", [["login", "group"], ["early", "Группа 1"]])
    assert invoke("users", "import", str(first)).exit_code == 0
    sheet = write_xlsx(
        tmp_path / "cohort.xlsx",
        [
            ["Login", "Password", "First Name", "Last Name", "Role", "Group"],
            [20231001, 12345678, "Олег", "Ким", 1, "Группа 1"],  # typed as numbers in Excel
            [None, None, None, None, None, None],
            ["kim.a", "s3cret-pass", "Анна", "Ким", "student", "Группа 2"],
        ],
    )
    result = invoke("users", "import", str(sheet))
    assert result.exit_code == 0, result.output
    assert "imported 2 users" in result.output
    assert "new groups: Группа 2" in result.output  # Группа 1 existed: joined, not duplicated
    users = users_in(database_url)
    assert verify_password(users["20231001"].password_hash, "12345678")
    assert users["20231001"].role is Role.STUDENT
    assert [g.name for g in users["20231001"].groups] == ["Группа 1"]
    assert group_names(database_url) == ["Группа 1", "Группа 2"]
    assert "login,password" not in result.output  # nothing generated, nothing printed


def test_every_bad_row_is_reported_and_nothing_is_imported(
    invoke: Invoke, tmp_path: Path, database_url: str
) -> None:
    taken = write_csv(tmp_path / "taken.csv", [["login"], ["already"]])
    assert invoke("users", "import", str(taken)).exit_code == 0
    rows = [
        ["login", "password", "role", "group", "email"],
        ["good1", "long-enough-1", "student", "G1", ""],  # line 2
        ["", "long-enough-2", "student", "G1", ""],  # line 3: no login
        ["good1", "long-enough-3", "student", "G1", ""],  # line 4: repeats line 2
        ["already", "", "student", "G1", ""],  # line 5: in the database
        ["shorty", "short", "student", "G1", ""],  # line 6: password too short
        ["wizard", "", "wizard", "G1", ""],  # line 7: no such role
        ["bad mail", "", "2", "G1", "not-an-email"],  # line 8: three problems
        ["good2", "", "admin", "G2", ""],  # line 9
        ["good3", "", "", "", "", "stray"],  # line 10: a cell with no column
        ["wizard", "", "student", "G1", "good1@uni.edu"],  # line 11: repeats line 7's login
    ]
    result = invoke("users", "import", str(write_csv(tmp_path / "bad.csv", rows)))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "error: 8 lines with problems: nothing was imported" in lines[0]
    assert [line.strip() for line in lines[1:]] == [
        "line 3: login is missing",
        "line 4: login 'good1' is already on line 2",
        "line 5: login 'already' already exists",
        "line 6: password has 5 characters: use 8 to 128, or leave it empty to have one generated",
        "line 7: unknown role 'wizard': use admin, teacher, student, 0 or 1",
        "line 8: login 'bad mail' has spaces or control characters",
        "line 8: unknown role '2': use admin, teacher, student, 0 or 1",
        "line 8: email 'not-an-email' is not valid: An email address must have an @-sign.",
        "line 10: has values in column(s) 6, which have no header",
        "line 11: login 'wizard' is already on line 7",
    ]
    assert "short," not in result.output  # a bad password is never echoed
    assert set(users_in(database_url)) == {"already"}
    assert group_names(database_url) == []


def test_bad_xlsx_rows_are_named_by_spreadsheet_row(
    invoke: Invoke, tmp_path: Path, database_url: str
) -> None:
    sheet = write_xlsx(
        tmp_path / "bad.xlsx",
        [
            ["login", "first_name", "Отчество"],
            ["a1", "Ann", "Ивановна"],
            [None, None, None],
            ["a1", "x" * 101, None],
        ],
    )
    result = invoke("users", "import", str(sheet))
    assert result.exit_code == 1
    assert [line.strip() for line in result.output.splitlines()[1:]] == [
        "line 1: column 'Отчество': middle names are not stored (Vigil keeps first and last "
        "names, like ExamManager): remove the column or put the middle name into first_name",
        "line 4: first_name is longer than 100 characters",
        "line 4: login 'a1' is already on line 2",
    ]
    assert users_in(database_url) == {}


def test_generated_passwords_go_to_a_private_file_when_asked(
    invoke: Invoke, tmp_path: Path, database_url: str
) -> None:
    cohort = write_csv(tmp_path / "c.csv", [["login", "group"], ["s1", "G"], ["s2", "G"]])
    out = tmp_path / "passwords.csv"
    result = invoke("users", "import", str(cohort), "--credentials", str(out))
    assert result.exit_code == 0, result.output
    assert f"generated passwords for 2 users: in {out}" in result.output.replace("\n", "")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    passwords = dict(csv.reader(out.read_text().splitlines()[1:]))
    assert set(passwords) == {"s1", "s2"}
    assert not any(password in result.output for password in passwords.values())
    users = users_in(database_url)
    assert all(verify_password(users[u].password_hash, p) for u, p in passwords.items())

    again = invoke("users", "import", str(cohort), "--credentials", str(out))
    assert again.exit_code == 1
    assert "exists: name a new file" in again.output


def test_a_rejected_file_leaves_no_credentials_file(invoke: Invoke, tmp_path: Path) -> None:
    cohort = write_csv(tmp_path / "c.csv", [["login", "role"], ["s1", ""], ["s2", "pope"]])
    out = tmp_path / "passwords.csv"
    result = invoke("users", "import", str(cohort), "--credentials", str(out))
    assert result.exit_code == 1
    assert "line 3: unknown role 'pope'" in result.output
    assert not out.exists()


def test_semicolon_csv_from_a_european_excel(
    invoke: Invoke, tmp_path: Path, database_url: str
) -> None:
    rows = [["Логин", "Пароль", "Фамилия", "Имя", "Роль"], ["u1", "pass-word-1", "Ли", "Ян", "1"]]
    result = invoke("users", "import", str(write_csv(tmp_path / "ru.csv", rows, ";")))
    assert result.exit_code == 0, result.output
    user = users_in(database_url)["u1"]
    assert (user.first_name, user.last_name, user.role) == ("Ян", "Ли", Role.STUDENT)


def test_quoted_cells_and_lines_after_a_multi_line_cell(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text(
        'login,first_name,role\na1,"Smith, Jr.",student\na2,"two\nlines",student\na3,Ann,pope\n'
    )
    result = invoke("users", "import", str(path))
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == [
        "  line 5: unknown role 'pope': use admin, teacher, student, 0 or 1"
    ]


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        (
            "users.xls",
            b"\xd0\xcf\x11\xe0",
            "users.xls: use a .csv or .xlsx file (.xls is not supported)",
        ),
        ("users.xlsx", b"PK\x03\x04 not really", "users.xlsx is not a readable .xlsx workbook"),
        ("users.csv", b"", "users.csv is empty"),
        ("users.csv", "login\n".encode("utf-16"), "users.csv is not UTF-8 text"),
        ("users.csv", b"login\n\n", "users.csv has a header but no users"),
        ("users.csv", b"name,role\nAnn,1\n", "line 1: the header has no login column"),
        ("users.csv", b"login,shoe size\nann,42\n", "line 1: unknown column 'shoe size'"),
    ],
)
def test_unreadable_files_are_named(
    invoke: Invoke, tmp_path: Path, name: str, content: bytes, error: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = invoke("users", "import", str(path))
    assert result.exit_code == 1
    assert error in result.output.replace("\n", " ")

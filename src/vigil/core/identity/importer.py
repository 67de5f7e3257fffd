"""Enrol a cohort from a spreadsheet: every row checked first, then all created or none.

Columns (docs/users-import.md): login (required), password, first_name, last_name, email,
role, group. An empty password gets a generated one, returned once in the report and
never logged. Any bad row rejects the whole file, every bad row named by its line.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from vigil.core.errors import Conflict, InvalidInput
from vigil.core.identity.models import Group, Role, User, group_members
from vigil.core.identity.service import MIN_PASSWORD_LENGTH, NewUser, create_user
from vigil.core.identity.sheets import SheetError, SheetRow, read_sheet

MAX_PASSWORD_LENGTH = 128
MAX_LOGIN_LENGTH = 254  # the users.login column
MAX_NAME_LENGTH = 100  # users.first_name, users.last_name
MAX_GROUP_LENGTH = 200  # groups.name
GENERATED_PASSWORD_LENGTH = 12
# No 0/O, 1/l/I: students type these from a printed sheet.
PASSWORD_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
QUERY_CHUNK = 500  # stays under every database's bound-parameter limit

# Header spellings accepted for each column, compared without case, spaces, _ or -.
COLUMNS = {
    "login": {"login", "username", "логин"},
    "password": {"password", "пароль"},
    "first_name": {"firstname", "name", "givenname", "имя"},
    "last_name": {"lastname", "surname", "familyname", "фамилия"},
    "email": {"email", "mail", "почта"},
    "role": {"role", "роль"},
    "group": {"group", "groupname", "группа"},
}
NOT_STORED = {
    "middlename": "middle names are not stored (Vigil keeps first and last names, like "
    "ExamManager): remove the column or put the middle name into first_name",
    "отчество": "middle names are not stored (Vigil keeps first and last names, like "
    "ExamManager): remove the column or put the middle name into first_name",
}
ROLES = {
    "admin": Role.ADMIN,
    "teacher": Role.TEACHER,
    "student": Role.STUDENT,
    "0": Role.ADMIN,  # ExamManager's role codes
    "1": Role.STUDENT,
}


@dataclass(frozen=True)
class RowProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ImportRejected(InvalidInput):
    """The file has bad rows; nothing was imported."""

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        lines = len({p.line for p in problems})
        super().__init__(
            f"{lines} line{'s' if lines != 1 else ''} with problems: nothing was imported"
        )
        self.problems = list(problems)


@dataclass(frozen=True)
class Enrolment:
    line: int
    login: str
    password: str
    generated_password: bool
    role: Role
    first_name: str | None
    last_name: str | None
    email: str | None
    group: str | None


@dataclass
class ImportReport:
    created: int = 0
    groups_created: list[str] = field(default_factory=list)
    # (login, password) for every password Vigil made up: shown once, never logged.
    generated: list[tuple[str, str]] = field(default_factory=list)


async def import_users(db: AsyncSession, path: Path) -> ImportReport:
    """Read, check every row against the file and the database, then create all or none."""
    try:
        sheet = await asyncio.to_thread(read_sheet, path)
    except SheetError as error:
        raise InvalidInput(str(error), field="file") from None
    if not sheet.rows:
        raise InvalidInput(f"{path.name} has a header but no users", field="file")
    enrolments, problems = check_rows(sheet.header, sheet.rows)
    problems += await _taken(db, enrolments)
    if problems:
        raise ImportRejected(sorted(problems, key=lambda p: p.line))
    return await _create(db, enrolments)


def check_rows(
    header: SheetRow, rows: Iterable[SheetRow]
) -> tuple[list[Enrolment], list[RowProblem]]:
    """Every row's problems, and the rows that have none, as enrolments to make."""
    columns, problems = _columns(header)
    headed = {index for index, title in enumerate(header.cells) if title}
    enrolments: list[Enrolment] = []
    login_lines: dict[str, int] = {}
    email_lines: dict[str, int] = {}
    for row in rows:
        values = {name: row.cells[i] if i < len(row.cells) else "" for name, i in columns.items()}
        row_problems: list[str] = []
        stray = [str(i + 1) for i, cell in enumerate(row.cells) if cell and i not in headed]
        if stray:
            row_problems.append(f"has values in column(s) {', '.join(stray)}, which have no header")
        enrolment = _check_row(row.line, values, row_problems)
        for value, lines, what in (
            (enrolment.login, login_lines, "login"),
            (enrolment.email, email_lines, "email"),
        ):
            if value and value in lines:
                row_problems.append(f"{what} {value!r} is already on line {lines[value]}")
            elif value:
                lines[value] = row.line
        problems += [RowProblem(row.line, message) for message in row_problems]
        if not row_problems:
            enrolments.append(enrolment)
    return enrolments, problems


def _columns(header: SheetRow) -> tuple[dict[str, int], list[RowProblem]]:
    columns: dict[str, int] = {}
    problems: list[RowProblem] = []
    for index, title in enumerate(header.cells):
        key = "".join(ch for ch in title.lower() if ch not in " _-")
        if not key:
            continue
        name = next((n for n, spellings in COLUMNS.items() if key in spellings), None)
        if key in NOT_STORED:
            problems.append(RowProblem(header.line, f"column {title!r}: {NOT_STORED[key]}"))
        elif name is None:
            problems.append(
                RowProblem(
                    header.line,
                    f"unknown column {title!r}: use {', '.join(COLUMNS)}",
                )
            )
        elif name in columns:
            problems.append(RowProblem(header.line, f"column {title!r} appears twice"))
        else:
            columns[name] = index
    if "login" not in columns:
        problems.append(RowProblem(header.line, "the header has no login column"))
    return columns, problems


def _check_row(line: int, values: dict[str, str], problems: list[str]) -> Enrolment:
    """The row as an enrolment; valid only if it added nothing to problems."""
    login = values.get("login", "")
    if not login:
        problems.append("login is missing")
    elif len(login) > MAX_LOGIN_LENGTH:
        problems.append(f"login is longer than {MAX_LOGIN_LENGTH} characters")
    elif any(ch.isspace() or not ch.isprintable() for ch in login):
        problems.append(f"login {login!r} has spaces or control characters")

    password = values.get("password", "")
    generated = not password
    if generated:
        password = "".join(
            secrets.choice(PASSWORD_ALPHABET) for _ in range(GENERATED_PASSWORD_LENGTH)
        )
    elif not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        # the length only: a password never appears in a message
        problems.append(
            f"password has {len(password)} characters: use {MIN_PASSWORD_LENGTH} to "
            f"{MAX_PASSWORD_LENGTH}, or leave it empty to have one generated"
        )

    role_text = values.get("role", "").lower()
    role = ROLES.get(role_text or "student")
    if role is None:
        problems.append(f"unknown role {values['role']!r}: use admin, teacher, student, 0 or 1")

    first_name = values.get("first_name") or None
    last_name = values.get("last_name") or None
    for column, name in (("first_name", first_name), ("last_name", last_name)):
        if name and len(name) > MAX_NAME_LENGTH:
            problems.append(f"{column} is longer than {MAX_NAME_LENGTH} characters")

    email = values.get("email") or None
    if email:
        try:
            email = validate_email(email, check_deliverability=False).normalized.lower()
        except EmailNotValidError as error:
            problems.append(f"email {values['email']!r} is not valid: {error}")

    group = values.get("group") or None
    if group and len(group) > MAX_GROUP_LENGTH:
        problems.append(f"group name is longer than {MAX_GROUP_LENGTH} characters")

    return Enrolment(
        line=line,
        login=login,
        password=password,
        generated_password=generated,
        role=role or Role.STUDENT,
        first_name=first_name,
        last_name=last_name,
        email=email,
        group=group,
    )


async def _taken(db: AsyncSession, enrolments: list[Enrolment]) -> list[RowProblem]:
    by_login = {e.login: e.line for e in enrolments}
    by_email = {e.email: e.line for e in enrolments if e.email}
    problems = [
        RowProblem(by_login[login], f"login {login!r} already exists")
        for chunk in _chunks(list(by_login))
        for login in await db.scalars(select(User.login).where(User.login.in_(chunk)))
    ]
    problems += [
        RowProblem(by_email[email], f"email {email!r} belongs to another user")
        for chunk in _chunks(list(by_email))
        for email in await db.scalars(select(User.email).where(User.email.in_(chunk)))
        if email is not None
    ]
    return problems


async def _create(db: AsyncSession, enrolments: list[Enrolment]) -> ImportReport:
    report = ImportReport()
    groups = await _groups(db, {e.group for e in enrolments if e.group}, report)
    for enrolment in enrolments:
        new = NewUser(
            login=enrolment.login,
            password=enrolment.password,
            role=enrolment.role,
            email=enrolment.email,
            first_name=enrolment.first_name,
            last_name=enrolment.last_name,
        )
        try:
            user = await create_user(db, new)
        except Conflict as error:  # taken since the check: the caller rolls everything back
            raise ImportRejected([RowProblem(enrolment.line, error.message)]) from None
        if enrolment.group:
            await db.execute(
                insert(group_members).values(group_id=groups[enrolment.group], user_id=user.id)
            )
        if enrolment.generated_password:
            report.generated.append((enrolment.login, enrolment.password))
        report.created += 1
    return report


async def _groups(db: AsyncSession, names: set[str], report: ImportReport) -> dict[str, int]:
    """Each named group's id, creating the ones that do not exist yet."""
    ids: dict[str, int] = {}
    for chunk in _chunks(sorted(names)):
        for group in await db.scalars(select(Group).where(Group.name.in_(chunk))):
            ids[group.name] = group.id
    for name in sorted(names - ids.keys()):
        group = Group(name=name)
        db.add(group)
        await db.flush()
        ids[name] = group.id
        report.groups_created.append(name)
    return ids


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), QUERY_CHUNK):
        yield items[start : start + QUERY_CHUNK]

"""Managing accounts and groups as ExamManager does: finding users by filters, batch
creation, modifying, disabling or erasing; groups of students (one group per student)."""

from __future__ import annotations

import asyncio
import uuid as uuid_module
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import ScalarSelect, Select, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from vigil.core.errors import (
    Conflict,
    ConflictingFields,
    InvalidFields,
    InvalidInput,
    NotFound,
)
from vigil.core.identity.models import Group, Role, User, group_members
from vigil.core.identity.passwords import hash_password
from vigil.core.identity.service import MIN_PASSWORD_LENGTH, NewUser, create_user
from vigil.storage.db import utcnow

MANAGERS = (Role.ADMIN, Role.TEACHER)  # ExamManager's role 0


# --- users ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserFilter:
    """GetUsersRequest. Name parts match case-insensitively, anywhere in the name."""

    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    exclude_user_id: int | None = None
    without_group: bool = False
    group_ids: Sequence[uuid_module.UUID] = ()
    exclude_group_ids: Sequence[uuid_module.UUID] = ()
    task_ids: Sequence[uuid_module.UUID] = ()
    exclude_task_ids: Sequence[uuid_module.UUID] = ()
    task_status: int | None = None
    roles: Sequence[Role] = ()


def _live_users() -> Select[User]:
    return (
        select(User)
        .where(User.erased_at.is_(None))
        .options(selectinload(User.groups))
        .execution_options(populate_existing=True)
    )


async def find_user(db: AsyncSession, user_id: uuid_module.UUID, field: str = "id") -> User:
    user = await db.scalar(_live_users().where(User.uuid == user_id))
    if user is None:
        raise NotFound(f"user {user_id} does not exist", field=field)
    return user


async def find_users(
    db: AsyncSession, user_ids: Sequence[uuid_module.UUID], field: str, item: str = ".id"
) -> list[User]:
    """Every user named, in the order named; NotFound names the first unknown one."""
    found = {u.uuid: u for u in await db.scalars(_live_users().where(User.uuid.in_(user_ids)))}
    for index, user_id in enumerate(user_ids):
        if user_id not in found:
            raise NotFound(f"user {user_id} does not exist", field=f"{field}[{index}]{item}")
    return [found[user_id] for user_id in user_ids]


async def list_users(db: AsyncSession, wanted: UserFilter) -> list[User]:
    from vigil.core.tasks.models import PersonalTask, Task

    query = _live_users().order_by(User.last_name, User.first_name, User.id)
    if wanted.exclude_user_id is not None:
        query = query.where(User.id != wanted.exclude_user_id)
    if wanted.roles:
        query = query.where(User.role.in_(wanted.roles))
    in_group = select(group_members.c.user_id).join(Group, Group.id == group_members.c.group_id)
    if wanted.without_group:
        query = query.where(User.id.not_in(in_group))
    else:
        if wanted.group_ids:
            query = query.where(User.id.in_(in_group.where(Group.uuid.in_(wanted.group_ids))))
        if wanted.exclude_group_ids:
            excluded = in_group.where(Group.uuid.in_(wanted.exclude_group_ids))
            query = query.where(User.id.not_in(excluded))
    holds = select(PersonalTask.user_id).join(Task, Task.id == PersonalTask.task_id)
    if wanted.task_ids:
        query = query.where(User.id.in_(holds.where(Task.uuid.in_(wanted.task_ids))))
    if wanted.exclude_task_ids:
        query = query.where(User.id.not_in(holds.where(Task.uuid.in_(wanted.exclude_task_ids))))
    if wanted.task_status is not None:
        with_status = select(PersonalTask.user_id).where(PersonalTask.status == wanted.task_status)
        query = query.where(User.id.in_(with_status))
    users = list(await db.scalars(query))
    # Names are matched here, not in SQL: SQLite folds only ASCII case, and names here are
    # often Cyrillic.
    return [user for user in users if _names_match(user, wanted)]


def _names_match(user: User, wanted: UserFilter) -> bool:
    first = (user.first_name or "").casefold()
    last = (user.last_name or "").casefold()
    if wanted.first_name and wanted.first_name.strip().casefold() not in first:
        return False
    if wanted.last_name and wanted.last_name.strip().casefold() not in last:
        return False
    if wanted.name:
        return all(part in first or part in last for part in wanted.name.casefold().split())
    return True


@dataclass(frozen=True)
class NewMember:
    """One entry of CreateUsersRequest."""

    login: str
    password: str
    first_name: str
    last_name: str
    role: Role
    group_id: uuid_module.UUID | None = None


async def create_users(db: AsyncSession, batch: Sequence[NewMember]) -> list[User]:
    """All or nothing: every problem of the batch is named, by its place in the list."""
    errors: dict[str, str] = {}
    conflicts: dict[str, str] = {}
    seen: dict[str, int] = {}
    for index, member in enumerate(batch):
        where = f"users[{index}]"
        login = member.login.strip()
        if not login:
            errors[f"{where}.login"] = "login must not be empty"
        elif login in seen:
            conflicts[f"{where}.login"] = f"login {login!r} is given twice (users[{seen[login]}])"
        seen.setdefault(login, index)
        if len(member.password) < MIN_PASSWORD_LENGTH:
            errors[f"{where}.password"] = (
                f"password must be at least {MIN_PASSWORD_LENGTH} characters"
            )
        for name, value in (("firstName", member.first_name), ("lastName", member.last_name)):
            if not value.strip():
                errors[f"{where}.{name}"] = f"{name} must not be empty"
    taken = set(await db.scalars(select(User.login).where(User.login.in_(list(seen)))))
    for login in sorted(taken):
        conflicts[f"users[{seen[login]}].login"] = f"login {login!r} is taken"
    groups = await _groups_named(db, batch, errors)
    if errors:
        raise InvalidFields({**errors, **conflicts})
    if conflicts:
        raise ConflictingFields(conflicts)
    created = []
    for member in batch:
        user = await create_user(
            db,
            NewUser(
                login=member.login.strip(),
                password=member.password,
                role=member.role,
                first_name=member.first_name.strip(),
                last_name=member.last_name.strip(),
            ),
        )
        if member.group_id is not None:
            await db.execute(
                insert(group_members).values(group_id=groups[member.group_id].id, user_id=user.id)
            )
        created.append(user)
    return created


async def _groups_named(
    db: AsyncSession, batch: Sequence[NewMember], errors: dict[str, str]
) -> dict[uuid_module.UUID, Group]:
    wanted = {m.group_id for m in batch if m.group_id is not None}
    groups = {g.uuid: g for g in await db.scalars(select(Group).where(Group.uuid.in_(wanted)))}
    for index, member in enumerate(batch):
        if member.group_id is None:
            continue
        if member.group_id not in groups:
            errors[f"users[{index}].groupId"] = f"group {member.group_id} does not exist"
        elif member.role is not Role.STUDENT:
            errors[f"users[{index}].groupId"] = "only students belong to groups"
    return groups


@dataclass(frozen=True)
class UserChanges:
    """ModifyUserRequest: None leaves a field as it is."""

    login: str | None = None
    password: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    manager: bool | None = None  # role 0 (admin; a teacher stays a teacher) or 1 (student)
    changed: frozenset[str] = field(default_factory=frozenset)


async def modify_user(db: AsyncSession, actor: User, user: User, changes: UserChanges) -> User:
    if changes.login is not None:
        login = changes.login.strip()
        if not login:
            raise InvalidInput("login must not be empty", field="login")
        if login != user.login:
            if await db.scalar(select(User.id).where(User.login == login)) is not None:
                raise Conflict(f"login {login!r} is taken", field="login")
            user.login = login
    if changes.password is not None:
        if len(changes.password) < MIN_PASSWORD_LENGTH:
            raise InvalidInput(
                f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password"
            )
        user.password_hash = await asyncio.to_thread(hash_password, changes.password)
    if changes.first_name is not None:
        user.first_name = changes.first_name.strip()
    if changes.last_name is not None:
        user.last_name = changes.last_name.strip()
    if changes.manager is not None and changes.manager != (user.role in MANAGERS):
        if user.id == actor.id:
            raise Conflict("you may not change your own role", field="role")
        user.role = Role.ADMIN if changes.manager else Role.STUDENT
        if user.role is not Role.STUDENT:
            await db.execute(delete(group_members).where(group_members.c.user_id == user.id))
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError as exc:  # a concurrent request took the login first
        raise Conflict("this login is taken", field="login") from exc
    return user


async def delete_users(
    db: AsyncSession, actor: User, removals: Sequence[tuple[uuid_module.UUID, bool]]
) -> None:
    """`only_login`: the account can no longer sign in, its data stays. Otherwise its
    personal data is erased too; evidence it produced stays under the retention rules."""
    from vigil.core.tasks import service as tasks

    users = await find_users(db, [user_id for user_id, _ in removals], "users")
    for index, user in enumerate(users):
        if user.id == actor.id:
            raise Conflict("you may not delete your own account", field=f"users[{index}].id")
    for user, (_, only_login) in zip(users, removals, strict=True):
        user.disabled = True
        if only_login:
            continue
        await tasks.take_all_tasks(db, user)
        await db.execute(delete(group_members).where(group_members.c.user_id == user.id))
        user.login = f"erased:{user.uuid}"
        user.email = user.first_name = user.last_name = user.external_id = None
        user.password_hash = None
        user.erased_at = utcnow()
    await db.flush()


def group_of(user: User) -> Group | None:
    """ExamManager knows one group per student: the first by name, should there be more."""
    return min(user.groups, key=lambda g: g.name, default=None)


# --- groups -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupFilter:
    name: str | None = None
    min_students: int | None = None
    max_students: int | None = None
    count: int | None = None


def _student_count() -> ScalarSelect[int]:
    return (
        select(func.count())
        .select_from(group_members)
        .join(User, User.id == group_members.c.user_id)
        .where(group_members.c.group_id == Group.id, User.erased_at.is_(None))
        .scalar_subquery()
    )


async def create_group(db: AsyncSession, name: str) -> Group:
    name = name.strip()
    if not name:
        raise InvalidInput("name must not be empty", field="name")
    if await db.scalar(select(Group.id).where(Group.name == name)) is not None:
        raise Conflict(f"a group named {name!r} exists", field="name")
    group = Group(name=name)
    db.add(group)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError as exc:
        raise Conflict(f"a group named {name!r} exists", field="name") from exc
    return group


async def find_group(db: AsyncSession, group_id: uuid_module.UUID, field: str = "id") -> Group:
    group = await db.scalar(select(Group).where(Group.uuid == group_id))
    if group is None:
        raise NotFound(f"group {group_id} does not exist", field=field)
    return group


async def student_count(db: AsyncSession, group: Group) -> int:
    count = await db.scalar(
        select(func.count())
        .select_from(group_members)
        .join(User, User.id == group_members.c.user_id)
        .where(group_members.c.group_id == group.id, User.erased_at.is_(None))
    )
    return int(count or 0)


async def list_groups(db: AsyncSession, wanted: GroupFilter) -> list[tuple[Group, int]]:
    count = _student_count()
    query = select(Group, count).order_by(Group.name)
    if wanted.min_students is not None:
        query = query.where(count >= wanted.min_students)
    if wanted.max_students is not None:
        query = query.where(count <= wanted.max_students)
    rows = [(group, int(n)) for group, n in (await db.execute(query)).all()]
    if wanted.name:
        part = wanted.name.strip().casefold()
        rows = [row for row in rows if part in row[0].name.casefold()]
    return rows[: wanted.count] if wanted.count is not None else rows


async def group_students(db: AsyncSession, group: Group) -> list[User]:
    members = select(group_members.c.user_id).where(group_members.c.group_id == group.id)
    query = _live_users().where(User.id.in_(members)).order_by(User.last_name, User.first_name)
    return list(await db.scalars(query))


async def delete_group(db: AsyncSession, group: Group) -> None:
    """The group goes; its students stay, without a group."""
    await db.execute(delete(group_members).where(group_members.c.group_id == group.id))
    await db.delete(group)
    await db.flush()


async def add_students(
    db: AsyncSession, group: Group, user_ids: Sequence[uuid_module.UUID]
) -> None:
    """Move the students into `group` (out of any other: a student has one group)."""
    users = await find_users(db, user_ids, "students")
    for index, user in enumerate(users):
        if user.role is not Role.STUDENT:
            raise InvalidInput(f"user {user.uuid} is not a student", field=f"students[{index}].id")
    ids = sorted({u.id for u in users})
    if not ids:
        return
    await db.execute(delete(group_members).where(group_members.c.user_id.in_(ids)))
    await db.execute(insert(group_members), [{"group_id": group.id, "user_id": i} for i in ids])
    await db.flush()
    for user in users:
        db.expire(user, ["groups"])


async def remove_students(db: AsyncSession, user_ids: Sequence[uuid_module.UUID]) -> list[User]:
    """Take the students out of their group; the students, now without one."""
    users = await find_users(db, user_ids, "students")
    ids = [u.id for u in users]
    if ids:
        await db.execute(delete(group_members).where(group_members.c.user_id.in_(ids)))
        await db.flush()
    return users

"""Practical tasks and who holds them: the rules behind ExamManager's task endpoints.

Taking a task from a student (or deleting the task) detaches its virtual machines: each
row loses its personal task and is marked to be stopped; `jobs.stop_detached` kills the
machine and deletes the row after the commit (and again after a restart, if it must).
"""

from __future__ import annotations

import uuid as uuid_module
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from vigil.core.errors import Conflict, InvalidInput, NotFound
from vigil.core.identity.models import Role, User
from vigil.core.tasks.models import (
    MAX_TASK_NUMBER,
    PersonalTask,
    Task,
    TaskImage,
    VirtualMachine,
    VmAction,
)
from vigil.core.tasks.statuses import VmStatus
from vigil.storage.db import utcnow

DETACHED = "vigil.detached_vms"  # db.info key: rows whose machines must be stopped


@dataclass(frozen=True)
class ImageSpec:
    image_id: str
    title: str | None = None
    order: int | None = None


# --- tasks ------------------------------------------------------------------------------


def _with_images() -> Select[Task]:
    return select(Task).options(selectinload(Task.images))


async def create_task(
    db: AsyncSession,
    title: str,
    description: str,
    images: Sequence[ImageSpec],
    checker_command: str | None = None,
) -> Task:
    title = title.strip()
    if not title:
        raise InvalidInput("title must not be empty", field="title")
    _check_images(images)
    for _ in range(3):  # two creators may pick the same next number: the loser retries
        number = (await db.scalar(select(func.max(Task.number)))) or 0
        if number >= MAX_TASK_NUMBER:
            raise Conflict(f"there are {MAX_TASK_NUMBER} task numbers and all are used")
        task = Task(
            number=number + 1,
            title=title,
            description=description,
            checker_command=checker_command or None,
            images=[
                TaskImage(image_id=spec.image_id.strip(), title=spec.title, order=_order(spec, i))
                for i, spec in enumerate(images)
            ],
        )
        db.add(task)
        try:
            async with db.begin_nested():
                await db.flush()
        except IntegrityError:
            db.expunge(task)
            continue
        return task
    raise Conflict("another task was created at the same moment: try again")


def _order(spec: ImageSpec, index: int) -> int:
    return spec.order if spec.order is not None else index


def _check_images(images: Sequence[ImageSpec]) -> None:
    seen: set[str] = set()
    for index, spec in enumerate(images):
        image_id = spec.image_id.strip()
        if not image_id:
            raise InvalidInput("id must not be empty", field=f"virtualMachines[{index}].id")
        if image_id in seen:
            raise InvalidInput(
                f"image {image_id!r} is listed twice", field=f"virtualMachines[{index}].id"
            )
        seen.add(image_id)


async def find_task(db: AsyncSession, task_id: uuid_module.UUID, field: str = "id") -> Task:
    task = await db.scalar(_with_images().where(Task.uuid == task_id))
    if task is None:
        raise NotFound(f"task {task_id} does not exist", field=field)
    return task


async def modify_task(
    db: AsyncSession, task: Task, title: str | None, description: str | None
) -> Task:
    if title is not None:
        if not title.strip():
            raise InvalidInput("title must not be empty", field="title")
        task.title = title.strip()
    if description is not None:
        task.description = description
    await db.flush()
    return task


async def delete_task(db: AsyncSession, task: Task) -> None:
    held = select(PersonalTask.id).where(PersonalTask.task_id == task.id)
    await _detach_vms(db, held)
    await db.delete(task)
    await db.flush()


async def list_tasks(
    db: AsyncSession, title: str | None, student_ids: Sequence[int] | None
) -> list[Task]:
    """Tasks whose title holds `title`; with `student_ids`, only tasks one of them holds."""
    query = select(Task).order_by(Task.number)
    if student_ids is not None:
        held = select(PersonalTask.task_id).where(PersonalTask.user_id.in_(student_ids))
        query = query.where(Task.id.in_(held))
    tasks = list(await db.scalars(query))
    if title and title.strip():
        part = title.strip().casefold()  # in Python: SQLite folds only ASCII case
        tasks = [task for task in tasks if part in task.title.casefold()]
    return tasks


async def holders(db: AsyncSession, task: Task) -> list[User]:
    query = (
        select(User)
        .join(PersonalTask, PersonalTask.user_id == User.id)
        .where(PersonalTask.task_id == task.id)
        .order_by(User.last_name, User.first_name, User.id)
    )
    return list(await db.scalars(query))


# --- personal tasks ---------------------------------------------------------------------


def _personal() -> Select[PersonalTask]:
    return select(PersonalTask).options(selectinload(PersonalTask.task).selectinload(Task.images))


async def tasks_of_users(
    db: AsyncSession, user_ids: Sequence[int]
) -> dict[int, list[PersonalTask]]:
    found: dict[int, list[PersonalTask]] = defaultdict(list)
    if not user_ids:
        return found
    query = (
        _personal()
        .join(Task, Task.id == PersonalTask.task_id)
        .where(PersonalTask.user_id.in_(user_ids))
        .order_by(Task.number)
    )
    for personal in await db.scalars(query):
        found[personal.user_id].append(personal)
    return found


async def tasks_of(db: AsyncSession, user: User) -> list[PersonalTask]:
    return (await tasks_of_users(db, [user.id])).get(user.id, [])


async def find_personal_task(
    db: AsyncSession, user: User, ref: uuid_module.UUID, field: str = "taskId"
) -> PersonalTask:
    """The user's personal task named by the task's id or by the personal task's own id."""
    query = (
        _personal()
        .join(Task, Task.id == PersonalTask.task_id)
        .where(PersonalTask.user_id == user.id, or_(Task.uuid == ref, PersonalTask.uuid == ref))
    )
    personal = await db.scalar(query)
    if personal is None:
        raise NotFound(f"user {user.uuid} holds no task {ref}", field=field)
    return personal


async def holding(db: AsyncSession, user: User, task: Task) -> PersonalTask | None:
    return await db.scalar(
        _personal().where(PersonalTask.user_id == user.id, PersonalTask.task_id == task.id)
    )


async def assign_tasks(db: AsyncSession, user: User, task_ids: Sequence[uuid_module.UUID]) -> None:
    """Give the student these tasks; one already held stays as it is."""
    if user.role is not Role.STUDENT:
        raise InvalidInput(f"user {user.uuid} is not a student: only students hold tasks")
    tasks = {t.uuid: t for t in await db.scalars(select(Task).where(Task.uuid.in_(task_ids)))}
    for index, task_id in enumerate(task_ids):
        if task_id not in tasks:
            raise NotFound(f"task {task_id} does not exist", field=f"tasks[{index}].id")
    held = set(
        await db.scalars(select(PersonalTask.task_id).where(PersonalTask.user_id == user.id))
    )
    for task in tasks.values():
        if task.id not in held:
            db.add(PersonalTask(user_id=user.id, task_id=task.id))
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError as exc:  # a concurrent request gave the same task
        raise Conflict("these tasks were being given to the student at the same moment") from exc


async def take_tasks(db: AsyncSession, user: User, refs: Sequence[uuid_module.UUID]) -> None:
    """Take tasks from the student (by personal task id or task id); their VMs stop."""
    ids = []
    for index, ref in enumerate(refs):
        personal = await find_personal_task(db, user, ref, field=f"pesronalTasks[{index}].id")
        ids.append(personal.id)
    await _take(db, ids)


async def take_all_tasks(db: AsyncSession, user: User) -> None:
    ids = list(await db.scalars(select(PersonalTask.id).where(PersonalTask.user_id == user.id)))
    await _take(db, ids)


async def _take(db: AsyncSession, personal_ids: Sequence[int]) -> None:
    if not personal_ids:
        return
    await _detach_vms(db, personal_ids)
    await db.execute(delete(PersonalTask).where(PersonalTask.id.in_(personal_ids)))
    await db.flush()


async def _detach_vms(db: AsyncSession, personal_ids: object) -> None:
    """Cut the machines loose from these personal tasks; those still up are to be stopped."""
    vms = await db.scalars(
        select(VirtualMachine).where(VirtualMachine.personal_task_id.in_(personal_ids))  # type: ignore[arg-type]
    )
    detached: list[int] = db.info.setdefault(DETACHED, [])
    for vm in vms:
        if vm.status == VmStatus.KILLED and vm.pending is None:
            await db.delete(vm)
            continue
        vm.personal_task_id = None
        vm.pending = VmAction.STOP
        vm.updated_at = utcnow()
        detached.append(vm.id)
    await db.flush()


def detached_vms(db: AsyncSession) -> list[int]:
    """The machines this transaction detached: stop them once it commits."""
    return list(db.info.pop(DETACHED, []))

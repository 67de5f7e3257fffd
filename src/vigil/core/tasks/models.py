"""Practical tasks, the students they are given to, and the students' virtual machines.

Personal data: `personal_tasks` links a student to a task with the check's result and
message; `virtual_machines` holds a student's VM address and its console password
(wrapped with the server key, never logged). Kept while the task is assigned; removing
the task from the student deletes both (the VM is stopped first, see docs/exammanager.md).
"""

from __future__ import annotations

import uuid as uuid_module
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vigil.core.tasks.statuses import TaskStatus, VmStatus
from vigil.storage.db import Base, UtcDateTime, str_enum, utcnow

MAX_TASK_NUMBER = 65535  # the contract's `ushort`


class Task(Base):
    __tablename__ = "lab_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[uuid_module.UUID] = mapped_column(Uuid, unique=True, default=uuid_module.uuid4)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    # A shell-free command line run by `vigil.labs.checker` to check a student's work;
    # None: the hypervisor driver checks.
    checker_command: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    images: Mapped[list[TaskImage]] = relationship(
        back_populates="task",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="(TaskImage.order, TaskImage.id)",
    )


class TaskImage(Base):
    """A virtual machine image a task's students start (the contract's `virtualMachines`)."""

    __tablename__ = "lab_task_images"
    __table_args__ = (UniqueConstraint("task_id", "image_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("lab_tasks.id", ondelete="CASCADE"))
    image_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    order: Mapped[int] = mapped_column(Integer, default=0)

    task: Mapped[Task] = relationship(back_populates="images", lazy="raise")


class PersonalTask(Base):
    """A task given to one student, with the result of its last check."""

    __tablename__ = "personal_tasks"
    __table_args__ = (UniqueConstraint("user_id", "task_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[uuid_module.UUID] = mapped_column(Uuid, unique=True, default=uuid_module.uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(ForeignKey("lab_tasks.id", ondelete="CASCADE"), index=True)
    status: Mapped[int] = mapped_column(Integer, default=TaskStatus.NOT_CHECKED)
    message: Mapped[str | None] = mapped_column(Text)
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    task: Mapped[Task] = relationship(lazy="raise")


class VmAction(StrEnum):
    """What a background job still has to do for this machine (resumed after a restart)."""

    START = "start"
    STOP = "stop"


class VirtualMachine(Base):
    """One student's instance of one task image.

    `personal_task_id` becomes NULL when the task is taken from the student or deleted:
    the row then only waits for its machine to be stopped, and is deleted after.
    """

    __tablename__ = "virtual_machines"
    __table_args__ = (UniqueConstraint("personal_task_id", "image_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    personal_task_id: Mapped[int | None] = mapped_column(
        ForeignKey("personal_tasks.id", ondelete="SET NULL")
    )
    image_id: Mapped[str] = mapped_column(String(200))
    driver: Mapped[str] = mapped_column(String(40))
    driver_vm_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer, default=VmStatus.KILLED)
    pending: Mapped[VmAction | None] = mapped_column(str_enum(VmAction), index=True)
    address: Mapped[str | None] = mapped_column(String(255))
    port: Mapped[int | None] = mapped_column(Integer)
    password_wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

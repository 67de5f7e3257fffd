"""Users and groups.

Personal data: `users` holds login, email, names and an external id. Kept while the
account exists; erasing a user (ExamManager `onlyLogin=false`) blanks these columns and
sets `erased_at` (the row stays, so evidence keeps its owner until retention removes it).
"""

from __future__ import annotations

import uuid as uuid_module
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Integer, String, Table, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vigil.storage.db import Base, UtcDateTime, str_enum, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    TEACHER = "teacher"
    STUDENT = "student"


group_members = Table(
    "group_members",
    Base.metadata,
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)

# One row counting every change to `users` (update or delete), kept by database triggers
# (migration 0007), so that a process remembering callers can ask in one read whether any
# user changed, whoever changed it: this process, another one, the CLI or plain SQL.
user_changes = Table(
    "user_changes",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[uuid_module.UUID] = mapped_column(Uuid, unique=True, default=uuid_module.uuid4)
    login: Mapped[str] = mapped_column(String(254), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    groups: Mapped[list[Group]] = relationship(
        secondary=group_members, back_populates="members", lazy="raise"
    )


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[uuid_module.UUID] = mapped_column(Uuid, unique=True, default=uuid_module.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    members: Mapped[list[User]] = relationship(
        secondary=group_members, back_populates="groups", lazy="raise"
    )

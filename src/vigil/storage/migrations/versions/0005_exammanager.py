"""exammanager

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 14:18:18.043841
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vigil.storage.db import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lab_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("checker_command", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_tasks")),
        sa.UniqueConstraint("number", name=op.f("uq_lab_tasks_number")),
        sa.UniqueConstraint("uuid", name=op.f("uq_lab_tasks_uuid")),
    )
    op.create_table(
        "lab_task_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("order", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["lab_tasks.id"],
            name=op.f("fk_lab_task_images_task_id_lab_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_task_images")),
        sa.UniqueConstraint("task_id", "image_id", name=op.f("uq_lab_task_images_task_id")),
    )
    op.create_table(
        "personal_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("assigned_at", UtcDateTime(), nullable=False),
        sa.Column("checked_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["lab_tasks.id"],
            name=op.f("fk_personal_tasks_task_id_lab_tasks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_personal_tasks_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_tasks")),
        sa.UniqueConstraint("user_id", "task_id", name=op.f("uq_personal_tasks_user_id")),
        sa.UniqueConstraint("uuid", name=op.f("uq_personal_tasks_uuid")),
    )
    with op.batch_alter_table("personal_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_personal_tasks_task_id"), ["task_id"], unique=False)

    op.create_table(
        "virtual_machines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("personal_task_id", sa.Integer(), nullable=True),
        sa.Column("image_id", sa.String(length=200), nullable=False),
        sa.Column("driver", sa.String(length=40), nullable=False),
        sa.Column("driver_vm_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column(
            "pending",
            sa.Enum("start", "stop", name="vmaction", native_enum=False, length=16),
            nullable=True,
        ),
        sa.Column("address", sa.String(length=255), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("password_wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["personal_task_id"],
            ["personal_tasks.id"],
            name=op.f("fk_virtual_machines_personal_task_id_personal_tasks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_virtual_machines")),
        sa.UniqueConstraint(
            "personal_task_id", "image_id", name=op.f("uq_virtual_machines_personal_task_id")
        ),
    )
    with op.batch_alter_table("virtual_machines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_virtual_machines_pending"), ["pending"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("erased_at")

    with op.batch_alter_table("virtual_machines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_virtual_machines_pending"))

    op.drop_table("virtual_machines")
    with op.batch_alter_table("personal_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_personal_tasks_task_id"))

    op.drop_table("personal_tasks")
    op.drop_table("lab_task_images")
    op.drop_table("lab_tasks")

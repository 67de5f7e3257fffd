"""exam content and attempts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:13:38.544306
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vigil.storage.db import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exam_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("exam_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "submitted",
                "finished",
                name="attemptstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("active_key", sa.String(length=40), nullable=True),
        sa.Column("exam_version", sa.Integer(), nullable=False),
        sa.Column("exam_content", sa.JSON(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("submitted_at", UtcDateTime(), nullable=True),
        sa.Column("deadline_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["exam_id"],
            ["exams.id"],
            name=op.f("fk_exam_attempts_exam_id_exams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_exam_attempts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exam_attempts")),
        sa.UniqueConstraint("active_key", name=op.f("uq_exam_attempts_active_key")),
        sa.UniqueConstraint("uuid", name=op.f("uq_exam_attempts_uuid")),
    )
    with op.batch_alter_table("exam_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exam_attempts_deadline_at"), ["deadline_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_exam_attempts_exam_id"), ["exam_id"], unique=False)
        batch_op.create_index("ix_exam_attempts_user_exam", ["user_id", "exam_id"], unique=False)

    with op.batch_alter_table("exams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_ref", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("content", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(
            sa.Column("published", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("duration_seconds", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_exams_external_ref"), ["external_ref"])


def downgrade() -> None:
    with op.batch_alter_table("exams", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_exams_external_ref"), type_="unique")
        batch_op.drop_column("duration_seconds")
        batch_op.drop_column("published")
        batch_op.drop_column("version")
        batch_op.drop_column("content_sha256")
        batch_op.drop_column("content")
        batch_op.drop_column("external_ref")

    with op.batch_alter_table("exam_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_exam_attempts_user_exam")
        batch_op.drop_index(batch_op.f("ix_exam_attempts_exam_id"))
        batch_op.drop_index(batch_op.f("ix_exam_attempts_deadline_at"))

    op.drop_table("exam_attempts")

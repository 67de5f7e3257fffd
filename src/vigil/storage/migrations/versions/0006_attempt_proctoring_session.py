"""attempt proctoring session

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 14:30:57.640491
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("exam_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proctoring_session_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_exam_attempts_proctoring_session_id"),
            ["proctoring_session_id"],
            unique=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_exam_attempts_proctoring_session_id_proctoring_sessions"),
            "proctoring_sessions",
            ["proctoring_session_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("exam_attempts", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_exam_attempts_proctoring_session_id_proctoring_sessions"),
            type_="foreignkey",
        )
        batch_op.drop_index(batch_op.f("ix_exam_attempts_proctoring_session_id"))
        batch_op.drop_column("proctoring_session_id")

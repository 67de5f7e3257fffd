"""risk policy and dismissals: a reviewer may dismiss an event as a false positive

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 14:19:14.426444
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vigil.storage.db import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("proctoring_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dismissed_at", UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("dismissed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("dismissal_reason", sa.String(length=1000), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_proctoring_events_dismissed_by_id_users"),
            "users",
            ["dismissed_by_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("proctoring_events", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_proctoring_events_dismissed_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("dismissal_reason")
        batch_op.drop_column("dismissed_by_id")
        batch_op.drop_column("dismissed_at")

"""analysis jobs: attempts and completion time per evidence row

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 14:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vigil.storage.db import UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "evidence",
        sa.Column("analysis_attempts", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("evidence", sa.Column("analyzed_at", UtcDateTime(), nullable=True))
    op.create_index("ix_evidence_analysis_state", "evidence", ["analysis_state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_evidence_analysis_state", table_name="evidence")
    op.drop_column("evidence", "analyzed_at")
    op.drop_column("evidence", "analysis_attempts")

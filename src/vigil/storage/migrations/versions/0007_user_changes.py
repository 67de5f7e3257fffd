"""user changes counter

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 23:00:00

`user_changes` holds one row whose `version` goes up whenever a row of `users` is updated
or deleted, by triggers, so that every writer counts: the app, the CLI, plain SQL. Callers
remembered by a process (core/identity/callers.py) are read again only when it moved.

On SQLite a batch migration that rebuilds `users` drops its triggers: such a migration
must create them again (`create_triggers`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUMP = "UPDATE user_changes SET version = version + 1 WHERE id = 1"


def create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION note_user_change() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {_BUMP}; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER users_changed AFTER UPDATE OR DELETE OR TRUNCATE ON users "
            "FOR EACH STATEMENT EXECUTE FUNCTION note_user_change()"
        )
        return
    for change in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER users_changed_on_{change.lower()} AFTER {change} ON users "
            f"BEGIN {_BUMP}; END"
        )


def upgrade() -> None:
    changes = op.create_table(
        "user_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_changes")),
    )
    op.bulk_insert(changes, [{"id": 1, "version": 0}])
    create_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER users_changed ON users")
        op.execute("DROP FUNCTION note_user_change()")
    else:
        op.execute("DROP TRIGGER users_changed_on_update")
        op.execute("DROP TRIGGER users_changed_on_delete")
    op.drop_table("user_changes")

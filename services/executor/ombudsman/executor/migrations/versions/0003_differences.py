"""The executor's private table of every difference a row diff found (private.py).

Revision ID: 0003_differences
Revises: 0002_private
"""

from __future__ import annotations

from alembic import op

revision = "0003_differences"
down_revision = "0002_private"
branch_labels = None
depends_on = None

SCHEMA = "executor"
# This revision's DDL as it was written: never edit it (a change is a new revision).
STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS executor.step_differences (
        run_id text NOT NULL, step text NOT NULL, position integer NOT NULL, line jsonb NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run_id, step, position))""",
    "CREATE INDEX IF NOT EXISTS step_differences_recorded ON executor.step_differences (recorded_at)",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.step_differences")

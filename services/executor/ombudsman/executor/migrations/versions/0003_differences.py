"""The executor's private table of every difference a row diff found (private.py).

Revision ID: 0003_differences
Revises: 0002_private
"""

from __future__ import annotations

from alembic import op

from ombudsman.executor.private import DIFFERENCE_TABLES, SCHEMA

revision = "0003_differences"
down_revision = "0002_private"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in DIFFERENCE_TABLES:
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.step_differences")

"""The executor's private tables (never in an event): pipelines with inline secrets and full step
samples, both under retention (private.py).

Revision ID: 0002_private
Revises: 0001_executor
"""

from __future__ import annotations

from alembic import op

from ombudsman.executor.private import SCHEMA, TABLES

revision = "0002_private"
down_revision = "0001_executor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in TABLES:
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.step_samples")
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.pipeline_secrets")

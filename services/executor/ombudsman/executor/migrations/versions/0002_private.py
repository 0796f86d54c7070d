"""The executor's private tables (never in an event): pipelines with inline secrets and full step
samples, both under retention (private.py).

Revision ID: 0002_private
Revises: 0001_executor
"""

from __future__ import annotations

from alembic import op

revision = "0002_private"
down_revision = "0001_executor"
branch_labels = None
depends_on = None

SCHEMA = "executor"
# This revision's DDL as it was written: never edit it (a change is a new revision).
STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS executor.pipeline_secrets (
        key text PRIMARY KEY, pipeline_yaml text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS executor.step_samples (
        run_id text NOT NULL, step text NOT NULL, result jsonb NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run_id, step))""",
    'CREATE INDEX IF NOT EXISTS step_samples_recorded ON executor.step_samples (recorded_at)',
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.step_samples")
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.pipeline_secrets")

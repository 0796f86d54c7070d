"""The workload service's event tables and its read models.

Revision ID: 0001_workload
Revises:
"""

from __future__ import annotations

from alembic import op

from ombudsman.eventstore.migrations import create_event_tables
from ombudsman.workload.projections import SCHEMA, ddl

revision = "0001_workload"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_event_tables(SCHEMA)
    for statement in ddl(SCHEMA):
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

"""The audit service's event tables, the append-only event log, gaps, alert deliveries, notifications.

Revision ID: 0001_audit
Revises:
"""

from __future__ import annotations

from alembic import op

from ombudsman.audit.log import SCHEMA, ddl
from ombudsman.eventstore.migrations import create_event_tables

revision = "0001_audit"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_event_tables(SCHEMA)
    for statement in ddl(SCHEMA):
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

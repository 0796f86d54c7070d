"""The metadata service's event tables and its documents read model.

Revision ID: 0001_metadata
Revises:
"""

from __future__ import annotations

from alembic import op

from ombudsman.eventstore.migrations import create_event_tables
from ombudsman.metadata.projections import SCHEMA, ddl

revision = "0001_metadata"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_event_tables(SCHEMA)
    for statement in ddl(SCHEMA):
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

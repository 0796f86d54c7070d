"""The projects service's event tables and its secrets table.

Revision ID: 0001_projects
Revises:
"""

from __future__ import annotations

from alembic import op

from ombudsman.eventstore.migrations import create_event_tables_v1

revision = "0001_projects"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "projects"
# This revision's DDL as it was written: never edit it (a change is a new revision).
STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS projects.connection_secrets (
            project_id text NOT NULL, name text NOT NULL, kind text NOT NULL, ciphertext text NOT NULL,
            PRIMARY KEY (project_id, name))""",
)


def upgrade() -> None:
    create_event_tables_v1(SCHEMA)
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

"""The metadata service's event tables and its documents read model.

Revision ID: 0001_metadata
Revises:
"""

from __future__ import annotations

from alembic import op

from ombudsman.eventstore.migrations import create_event_tables_v1

revision = "0001_metadata"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "metadata"
# This revision's DDL as it was written: never edit it (a change is a new revision).
STATEMENTS = (
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'metadata') THEN CREATE SCHEMA metadata; END IF; END $$",
    """CREATE TABLE IF NOT EXISTS metadata.documents (
            project_id text NOT NULL,
            kind text NOT NULL,
            side text NOT NULL DEFAULT '',
            key text NOT NULL DEFAULT '',
            body jsonb NOT NULL,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (project_id, kind, side, key)
        )""",
    """CREATE TABLE IF NOT EXISTS metadata.deleted_projects (
            project_id text PRIMARY KEY,
            deleted_at timestamptz NOT NULL
        )""",
)


def upgrade() -> None:
    create_event_tables_v1(SCHEMA)
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

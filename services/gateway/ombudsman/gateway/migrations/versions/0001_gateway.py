"""The gateway's event tables, users read model, credentials and token tables.

Revision ID: 0001_gateway
Revises:
"""

from __future__ import annotations

from alembic import op

from ombudsman.eventstore.migrations import create_event_tables_v1

revision = "0001_gateway"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "gateway"
# This revision's DDL as it was written: never edit it (a change is a new revision).
STATEMENTS = (
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'gateway') THEN CREATE SCHEMA gateway; END IF; END $$",
    """CREATE TABLE IF NOT EXISTS gateway.users (
            id text PRIMARY KEY,
            username text NOT NULL,
            role text NOT NULL,
            failed_attempts int NOT NULL DEFAULT 0,
            locked_until timestamptz,
            last_login_at timestamptz,
            created_at timestamptz,
            version int NOT NULL
        )""",
    'CREATE UNIQUE INDEX IF NOT EXISTS users_username ON gateway.users (lower(username))',
    """CREATE TABLE IF NOT EXISTS gateway.credentials (
            user_id text PRIMARY KEY,
            password_hash text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )""",
    """CREATE TABLE IF NOT EXISTS gateway.refresh_tokens (
            token_hash text PRIMARY KEY,
            user_id text NOT NULL,
            family_id text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            used_at timestamptz,
            revoked_at timestamptz
        )""",
    'CREATE INDEX IF NOT EXISTS refresh_tokens_family ON gateway.refresh_tokens (family_id)',
    'CREATE INDEX IF NOT EXISTS refresh_tokens_user ON gateway.refresh_tokens (user_id)',
    """CREATE TABLE IF NOT EXISTS gateway.revoked_tokens (
            jti text PRIMARY KEY,
            user_id text NOT NULL,
            expires_at timestamptz NOT NULL
        )""",
)


def upgrade() -> None:
    create_event_tables_v1(SCHEMA)
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

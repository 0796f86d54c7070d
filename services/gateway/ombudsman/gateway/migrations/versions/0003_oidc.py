"""Single sign-on: identities linked to users, pending code-flow sign-ins, one-time handoff codes.

Revision ID: 0003_oidc
Revises: 0002_login_throttle
"""

from __future__ import annotations

from alembic import op

revision = "0003_oidc"
down_revision = "0002_login_throttle"
branch_labels = None
depends_on = None

SCHEMA = "gateway"
# This revision's DDL as it was written: never edit it (a change is a new revision).
STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS gateway.oidc_identities (
            issuer text NOT NULL,
            subject text NOT NULL,
            user_id text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (issuer, subject)
        )""",
    """CREATE TABLE IF NOT EXISTS gateway.oidc_pending (
            state_hash text PRIMARY KEY,
            nonce text NOT NULL,
            code_verifier text NOT NULL,
            redirect_uri text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )""",
    """CREATE TABLE IF NOT EXISTS gateway.oidc_handoffs (
            code_hash text PRIMARY KEY,
            user_id text NOT NULL,
            expires_at timestamptz NOT NULL
        )""",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in ("oidc_handoffs", "oidc_pending", "oidc_identities"):
        op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{table}")

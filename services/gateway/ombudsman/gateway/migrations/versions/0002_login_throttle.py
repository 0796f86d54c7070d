"""Login throttles per (account, client IP) and per client IP (see ombudsman.gateway.throttle).

Revision ID: 0002_login_throttle
Revises: 0001_gateway
"""

from __future__ import annotations

from alembic import op

revision = "0002_login_throttle"
down_revision = "0001_gateway"
branch_labels = None
depends_on = None

SCHEMA = "gateway"
# This revision's DDL as it was written: never edit it (a change is a new revision).
STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS gateway.login_throttle (
            key text PRIMARY KEY,
            failures int NOT NULL DEFAULT 0,
            last_failure_at timestamptz NOT NULL,
            blocked_until timestamptz
        )""",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.login_throttle")

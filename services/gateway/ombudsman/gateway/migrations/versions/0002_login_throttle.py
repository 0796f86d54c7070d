"""Login throttles per (account, client IP) and per client IP (see ombudsman.gateway.throttle).

Revision ID: 0002_login_throttle
Revises: 0001_gateway
"""

from __future__ import annotations

from alembic import op

from ombudsman.gateway.projections import SCHEMA
from ombudsman.gateway.throttle import throttle_ddl

revision = "0002_login_throttle"
down_revision = "0001_gateway"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in throttle_ddl(SCHEMA):
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.login_throttle")

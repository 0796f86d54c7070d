"""Events refused by the log writer because their envelope disagrees with the subject they came on.

Revision ID: 0004_audit_rejected
Revises: 0003_audit_grants
"""

from __future__ import annotations

from alembic import op

from ombudsman.audit.log import SCHEMA, rejected_ddl

revision = "0004_audit_rejected"
down_revision = "0003_audit_grants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in rejected_ddl(SCHEMA):
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.rejected_events")

"""Events refused by the log writer because their envelope disagrees with the subject they came on.

Revision ID: 0004_audit_rejected
Revises: 0003_audit_grants
"""

from __future__ import annotations

from alembic import op

revision = "0004_audit_rejected"
down_revision = "0003_audit_grants"
branch_labels = None
depends_on = None

SCHEMA = "audit"
# This revision's DDL as it was written: never edit it (a change is a new revision).
STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS audit.rejected_events (
            stream_seq bigint PRIMARY KEY, subject text NOT NULL, reason text NOT NULL,
            claimed_event_id text, claimed_event_type text, rejected_at timestamptz NOT NULL DEFAULT now())""",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.rejected_events")

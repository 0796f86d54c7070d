"""The executor's event tables (libs/eventstore), converting the interim store of earlier versions.

The read models' tables are created by their projections' `setup` (projections.py).

Revision ID: 0001_executor
Revises:
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

from ombudsman.eventstore.migrations import create_event_tables_v1

revision = "0001_executor"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "executor"

# The interim store kept `published_at` on `events` (no outbox table), `event_id` as uuid and
# `occurred_at` inside `metadata`; its relay had already sent the work of published StepDispatched.
LEGACY = [
    f"ALTER TABLE {SCHEMA}.events ALTER COLUMN event_id TYPE text USING CAST(event_id AS text)",
    f"ALTER TABLE {SCHEMA}.events ADD COLUMN occurred_at timestamptz",
    f"UPDATE {SCHEMA}.events SET occurred_at = CAST(metadata->>'occurred_at' AS timestamptz)",
    f"ALTER TABLE {SCHEMA}.events ALTER COLUMN occurred_at SET NOT NULL",
    f"INSERT INTO {SCHEMA}.outbox (global_position) SELECT global_position FROM {SCHEMA}.events "
    "WHERE published_at IS NULL",
    f"INSERT INTO {SCHEMA}.tracking (consumer, event_id, stream_sequence) SELECT 'step_work', event_id, 0 "
    f"FROM {SCHEMA}.events WHERE event_type = 'StepDispatched' AND published_at IS NOT NULL",
    f"DROP INDEX IF EXISTS {SCHEMA}.events_unpublished",
    f"ALTER TABLE {SCHEMA}.events DROP COLUMN published_at",
]


def upgrade() -> None:
    legacy = op.get_bind().execute(text(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = :s AND table_name = 'events' "
        "AND column_name = 'published_at'"), {"s": SCHEMA}).first()
    create_event_tables_v1(SCHEMA)
    if legacy:
        for statement in LEGACY:
            op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

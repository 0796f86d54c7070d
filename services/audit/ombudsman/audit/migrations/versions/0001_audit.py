"""The audit service's event tables, the append-only event log, gaps, alert deliveries, notifications.

Revision ID: 0001_audit
Revises:
"""

from __future__ import annotations

from alembic import op

from ombudsman.eventstore.migrations import create_event_tables_v1

revision = "0001_audit"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "audit"
# This revision's DDL as it was written: never edit it (a change is a new revision).
STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS audit.event_log (
            position bigint PRIMARY KEY,
            stream_seq bigint NOT NULL UNIQUE,
            event_id text NOT NULL UNIQUE,
            event_type text NOT NULL,
            stream_type text NOT NULL,
            stream_id text NOT NULL,
            project_id text,
            actor_id text,
            actor_name text,
            occurred_at timestamptz NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            body text NOT NULL,
            envelope jsonb NOT NULL,
            prev_hash text NOT NULL,
            hash text NOT NULL
        )""",
    'CREATE INDEX IF NOT EXISTS event_log_occurred ON audit.event_log (occurred_at)',
    'CREATE INDEX IF NOT EXISTS event_log_stream ON audit.event_log (stream_type, stream_id, position)',
    'CREATE INDEX IF NOT EXISTS event_log_project ON audit.event_log (project_id, position)',
    'CREATE INDEX IF NOT EXISTS event_log_type ON audit.event_log (event_type, position)',
    'CREATE INDEX IF NOT EXISTS event_log_actor ON audit.event_log (actor_id, position)',
    """CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit.event_log is append-only: % refused', TG_OP; END $$""",
    'DROP TRIGGER IF EXISTS event_log_append_only ON audit.event_log',
    """CREATE TRIGGER event_log_append_only BEFORE UPDATE OR DELETE ON audit.event_log
            FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()""",
    'DROP TRIGGER IF EXISTS event_log_no_truncate ON audit.event_log',
    """CREATE TRIGGER event_log_no_truncate BEFORE TRUNCATE ON audit.event_log
            FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()""",
    'REVOKE UPDATE, DELETE, TRUNCATE ON audit.event_log FROM PUBLIC',
    """CREATE TABLE IF NOT EXISTS audit.gaps (
            expected_seq bigint NOT NULL, received_seq bigint NOT NULL,
            detected_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (expected_seq, received_seq))""",
    """CREATE TABLE IF NOT EXISTS audit.alert_deliveries (
            rule_id text NOT NULL, event_id text NOT NULL, channel text NOT NULL, url text,
            payload text NOT NULL, status text NOT NULL DEFAULT 'pending', attempts int NOT NULL DEFAULT 0,
            last_error text, next_attempt_at timestamptz NOT NULL DEFAULT now(), delivered_at timestamptz,
            PRIMARY KEY (rule_id, event_id))""",
    """CREATE TABLE IF NOT EXISTS audit.notifications (
            id bigserial PRIMARY KEY, rule_id text NOT NULL, event_id text NOT NULL, project_id text,
            severity text NOT NULL, summary text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
            dismissed_at timestamptz, UNIQUE (rule_id, event_id))""",
)


def upgrade() -> None:
    create_event_tables_v1(SCHEMA)
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

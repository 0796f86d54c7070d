"""Archive segments of the audit log, and the guarded DELETE only archiving may use.

Revision ID: 0002_audit_archive
Revises: 0001_audit
"""

from __future__ import annotations

from alembic import op

revision = "0002_audit_archive"
down_revision = "0001_audit"
branch_labels = None
depends_on = None

SCHEMA = "audit"
# This revision's DDL as it was written: never edit it (a change is a new revision).
STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS audit.archive_segments (
            segment int PRIMARY KEY,
            file text NOT NULL,
            first_position bigint NOT NULL,
            last_position bigint NOT NULL,
            first_stream_seq bigint NOT NULL,
            last_stream_seq bigint NOT NULL,
            row_count bigint NOT NULL,
            prev_hash text NOT NULL,
            head_hash text NOT NULL,
            archived_before timestamptz NOT NULL,
            sha256 text NOT NULL,
            public_key text NOT NULL,
            manifest text NOT NULL,
            archived_by text,
            created_at timestamptz NOT NULL DEFAULT now(),
            CHECK (last_position >= first_position))""",
    """CREATE OR REPLACE FUNCTION audit.check_segment() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE previous audit.archive_segments; logged_hash text;
            BEGIN
              SELECT * INTO previous FROM audit.archive_segments ORDER BY last_position DESC LIMIT 1;
              IF previous.segment IS NULL THEN
                IF NEW.first_position <> 1 OR NEW.prev_hash <> '0000000000000000000000000000000000000000000000000000000000000000' THEN
                  RAISE EXCEPTION 'the first archive segment must start at position 1 from the genesis hash';
                END IF;
              ELSIF NEW.first_position <> previous.last_position + 1 OR NEW.prev_hash <> previous.head_hash THEN
                RAISE EXCEPTION 'archive segment % does not continue segment %', NEW.segment, previous.segment;
              END IF;
              SELECT hash INTO logged_hash FROM audit.event_log WHERE position = NEW.last_position;
              IF logged_hash IS DISTINCT FROM NEW.head_hash THEN
                RAISE EXCEPTION 'archive segment % head hash is not the log''s hash at position %',
                  NEW.segment, NEW.last_position;
              END IF;
              RETURN NEW;
            END $$""",
    'DROP TRIGGER IF EXISTS archive_segments_continue ON audit.archive_segments',
    """CREATE TRIGGER archive_segments_continue BEFORE INSERT ON audit.archive_segments
            FOR EACH ROW EXECUTE FUNCTION audit.check_segment()""",
    'DROP TRIGGER IF EXISTS archive_segments_append_only ON audit.archive_segments',
    """CREATE TRIGGER archive_segments_append_only BEFORE UPDATE OR DELETE ON audit.archive_segments
            FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()""",
    'DROP TRIGGER IF EXISTS archive_segments_no_truncate ON audit.archive_segments',
    """CREATE TRIGGER archive_segments_no_truncate BEFORE TRUNCATE ON audit.archive_segments
            FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()""",
    """CREATE OR REPLACE FUNCTION audit.guard_event_log() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP = 'DELETE' AND current_setting('omb.audit_archiving', true) = 'on' AND EXISTS (
                   SELECT 1 FROM audit.archive_segments s
                   WHERE OLD.position BETWEEN s.first_position AND s.last_position) THEN
                RETURN OLD;
              END IF;
              RAISE EXCEPTION 'audit.event_log is append-only: % refused', TG_OP;
            END $$""",
    'DROP TRIGGER IF EXISTS event_log_append_only ON audit.event_log',
    """CREATE TRIGGER event_log_append_only BEFORE UPDATE OR DELETE ON audit.event_log
            FOR EACH ROW EXECUTE FUNCTION audit.guard_event_log()""",
    'REVOKE UPDATE, DELETE, TRUNCATE ON audit.archive_segments FROM PUBLIC',
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.archive_segments")
    op.execute(f"DROP FUNCTION IF EXISTS {SCHEMA}.check_segment()")

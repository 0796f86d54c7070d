"""The audit log is append-only by grant too: only its owner may change it.

Whatever roles other than the owner hold UPDATE, DELETE, TRUNCATE, REFERENCES or TRIGGER on
`audit.event_log` / `audit.archive_segments` (e.g. through default privileges given to the runtime
role, see ombudsman.eventstore.roles) lose them; archiving deletes archived rows through
`audit.delete_archived(first, last)`, a SECURITY DEFINER function of the owner that the guard
trigger still checks against `archive_segments`.

Revision ID: 0003_audit_grants
Revises: 0002_audit_archive
"""

from __future__ import annotations

from alembic import op

revision = "0003_audit_grants"
down_revision = "0002_audit_archive"
branch_labels = None
depends_on = None

SCHEMA = "audit"
# This revision's DDL as it was written: never edit it (a change is a new revision).
STATEMENTS = (
    """DO $$ DECLARE g record; BEGIN
              FOR g IN SELECT DISTINCT grantee, table_name FROM information_schema.role_table_grants
                       WHERE table_schema = 'audit' AND table_name IN ('event_log', 'archive_segments')
                         AND privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER')
                         AND grantee <> (SELECT tableowner FROM pg_tables
                                         WHERE schemaname = 'audit' AND tablename = table_name)
              LOOP
                EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON %I.%I FROM %I',
                               'audit', g.table_name, g.grantee);
              END LOOP;
            END $$""",
    """CREATE OR REPLACE FUNCTION audit.delete_archived(first_position bigint, last_position bigint)
            RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = audit, pg_temp AS $$
            DECLARE removed bigint;
            BEGIN
              PERFORM set_config('omb.audit_archiving', 'on', true);
              DELETE FROM audit.event_log WHERE position BETWEEN first_position AND last_position;
              GET DIAGNOSTICS removed = ROW_COUNT;
              PERFORM set_config('omb.audit_archiving', 'off', true);
              RETURN removed;
            END $$""",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {SCHEMA}.delete_archived(bigint, bigint)")

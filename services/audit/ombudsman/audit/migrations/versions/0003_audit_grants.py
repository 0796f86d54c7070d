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

from ombudsman.audit.log import SCHEMA, grants_ddl

revision = "0003_audit_grants"
down_revision = "0002_audit_archive"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in grants_ddl(SCHEMA):
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {SCHEMA}.delete_archived(bigint, bigint)")

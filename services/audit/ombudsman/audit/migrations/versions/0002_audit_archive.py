"""Archive segments of the audit log, and the guarded DELETE only archiving may use.

Revision ID: 0002_audit_archive
Revises: 0001_audit
"""

from __future__ import annotations

from alembic import op

from ombudsman.audit.log import SCHEMA, archive_ddl

revision = "0002_audit_archive"
down_revision = "0001_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in archive_ddl(SCHEMA):
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.archive_segments")
    op.execute(f"DROP FUNCTION IF EXISTS {SCHEMA}.check_segment()")

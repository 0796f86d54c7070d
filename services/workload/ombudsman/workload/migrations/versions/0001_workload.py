"""The workload service's event tables and its read models.

Revision ID: 0001_workload
Revises:
"""

from __future__ import annotations

from alembic import op

from ombudsman.eventstore.migrations import create_event_tables_v1

revision = "0001_workload"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "workload"
# This revision's DDL as it was written: never edit it (a change is a new revision).
STATEMENTS = (
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'workload') THEN CREATE SCHEMA workload; END IF; END $$",
    """CREATE TABLE IF NOT EXISTS workload.workloads (
            workload_id text PRIMARY KEY,
            project_id text NOT NULL,
            filename text NOT NULL,
            status text NOT NULL,
            queries integer NOT NULL DEFAULT 0,
            distinct_queries integer NOT NULL DEFAULT 0,
            unparsed integer NOT NULL DEFAULT 0,
            tables integer NOT NULL DEFAULT 0,
            suggestions integer NOT NULL DEFAULT 0,
            totals jsonb NOT NULL DEFAULT '{}'::jsonb,
            uploaded_by text NOT NULL DEFAULT '',
            uploaded_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
    'CREATE INDEX IF NOT EXISTS workloads_project ON workload.workloads (project_id, uploaded_at)',
    """CREATE TABLE IF NOT EXISTS workload.queries (
            workload_id text NOT NULL,
            fingerprint text NOT NULL,
            text text NOT NULL,
            queries integer NOT NULL,
            executions bigint NOT NULL,
            total_duration double precision NOT NULL,
            total_cpu_time double precision NOT NULL,
            total_logical_reads double precision NOT NULL,
            first_execution_time timestamptz,
            last_execution_time timestamptz,
            query_ids jsonb NOT NULL DEFAULT '[]'::jsonb,
            status text NOT NULL DEFAULT 'uploaded',
            error text,
            kind text,
            tables jsonb NOT NULL DEFAULT '[]'::jsonb,
            features jsonb NOT NULL DEFAULT '[]'::jsonb,
            replayable boolean NOT NULL DEFAULT false,
            PRIMARY KEY (workload_id, fingerprint)
        )""",
    """CREATE TABLE IF NOT EXISTS workload.table_usage (
            workload_id text NOT NULL,
            table_name text NOT NULL,
            in_catalog boolean NOT NULL,
            queries integer NOT NULL,
            executions bigint NOT NULL,
            join_partners jsonb NOT NULL,
            columns jsonb NOT NULL,
            evidence jsonb NOT NULL,
            PRIMARY KEY (workload_id, table_name)
        )""",
    """CREATE TABLE IF NOT EXISTS workload.joins (
            workload_id text NOT NULL,
            left_table text NOT NULL,
            left_column text NOT NULL,
            right_table text NOT NULL,
            right_column text NOT NULL,
            queries integer NOT NULL,
            executions bigint NOT NULL,
            evidence jsonb NOT NULL,
            PRIMARY KEY (workload_id, left_table, left_column, right_table, right_column)
        )""",
    """CREATE TABLE IF NOT EXISTS workload.suggestions (
            workload_id text NOT NULL,
            suggestion_id text NOT NULL,
            position integer NOT NULL,
            validator text NOT NULL,
            table_name text,
            body jsonb NOT NULL,
            PRIMARY KEY (workload_id, suggestion_id)
        )""",
    """CREATE TABLE IF NOT EXISTS workload.pipelines (
            workload_id text NOT NULL,
            pipeline_id text NOT NULL,
            name text NOT NULL,
            yaml text NOT NULL,
            steps integer NOT NULL,
            saved boolean NOT NULL,
            generated_at timestamptz NOT NULL,
            PRIMARY KEY (workload_id, pipeline_id)
        )""",
)


def upgrade() -> None:
    create_event_tables_v1(SCHEMA)
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

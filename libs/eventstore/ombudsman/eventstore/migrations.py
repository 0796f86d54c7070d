"""Schema migrations per service: the shared event tables and Alembic runs per schema.

A service's Alembic folder holds only `versions/` (no env.py needed): `run_migrations` drives
Alembic programmatically with the version table in `<schema>.alembic_version` and the search path
set to the schema. The service's first revision creates the shared tables as they were then::

    from ombudsman.eventstore.migrations import create_event_tables_v1

    def upgrade() -> None:
        create_event_tables_v1("projects")
        op.execute("CREATE TABLE IF NOT EXISTS projects.project_list (...)")

History is frozen: a revision states its own DDL (literal SQL), never today's `ddl()`, and
`event_tables_ddl` (today's event tables) may only change together with a new revision in every
service; tests/eventstore/test_migrations_frozen.py upgrades each service from its first revision
and compares the result with today's DDL.

`run_migrations` is a coroutine (`await run_migrations(url_or_engine, schema, folder)`); it takes a
libpq URI or an AsyncEngine. Runs are idempotent (already at head: nothing happens) and serialised per schema with an advisory
lock, so replicas of one service can start together.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ombudsman.eventstore.db import create_engine, quote_ident


def create_schema_sql(schema: str) -> str:
    """`CREATE SCHEMA IF NOT EXISTS` that needs no CREATE privilege on the database when the schema
    exists (a service role owns its schema but may not create schemas; ombudsman.eventstore.roles)."""
    literal = "'" + schema.replace("'", "''") + "'"
    return (f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = {literal}) THEN "
            f"CREATE SCHEMA {quote_ident(schema)}; END IF; END $$")


def event_tables_ddl(schema: str) -> list[str]:
    """DDL (idempotent) of `<schema>.events`, `<schema>.outbox` and `<schema>.tracking`."""
    s = quote_ident(schema)
    return [
        create_schema_sql(schema),
        f"""CREATE TABLE IF NOT EXISTS {s}.events (
            global_position bigserial PRIMARY KEY,
            event_id text NOT NULL,
            stream_type text NOT NULL,
            stream_id text NOT NULL,
            version integer NOT NULL CHECK (version >= 1),
            event_type text NOT NULL,
            schema_version integer NOT NULL DEFAULT 1,
            data jsonb NOT NULL,
            metadata jsonb NOT NULL,
            occurred_at timestamptz NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT events_event_id_key UNIQUE (event_id),
            CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
        )""",
        # Events not yet published: drained in global_position order, deleted once JetStream acked.
        f"""CREATE TABLE IF NOT EXISTS {s}.outbox (
            global_position bigint PRIMARY KEY,
            enqueued_at timestamptz NOT NULL DEFAULT now()
        )""",
        # One row per event a consumer applied, written in the projection's transaction.
        f"""CREATE TABLE IF NOT EXISTS {s}.tracking (
            consumer text NOT NULL,
            event_id text NOT NULL,
            stream_sequence bigint NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, event_id)
        )""",
    ]


def create_event_tables(schema: str) -> None:
    """Create today's shared event tables from inside an Alembic `upgrade()` (tests' scratch
    revisions; a service's revisions use the frozen `create_event_tables_v1`)."""
    from alembic import op

    for statement in event_tables_ddl(schema):
        op.execute(statement)


def create_event_tables_v1(schema: str) -> None:
    """The shared event tables as every service's first revision created them. Frozen: never edit
    (a change of the event tables is `event_tables_ddl` plus a new revision in every service)."""
    from alembic import op

    s = quote_ident(schema)
    for statement in (
        create_schema_sql(schema),
        f"""CREATE TABLE IF NOT EXISTS {s}.events (
            global_position bigserial PRIMARY KEY, event_id text NOT NULL, stream_type text NOT NULL,
            stream_id text NOT NULL, version integer NOT NULL CHECK (version >= 1), event_type text NOT NULL,
            schema_version integer NOT NULL DEFAULT 1, data jsonb NOT NULL, metadata jsonb NOT NULL,
            occurred_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT events_event_id_key UNIQUE (event_id),
            CONSTRAINT events_stream_version_key UNIQUE (stream_id, version))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.outbox (
            global_position bigint PRIMARY KEY, enqueued_at timestamptz NOT NULL DEFAULT now())""",
        f"""CREATE TABLE IF NOT EXISTS {s}.tracking (
            consumer text NOT NULL, event_id text NOT NULL, stream_sequence bigint NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, event_id))""",
    ):
        op.execute(statement)


def schema_lock_key(schema: str) -> int:
    """A stable advisory-lock key per schema (migrations of one schema never run twice at once)."""
    return zlib.crc32(f"omb-migrate:{schema}".encode())


async def ensure_event_tables(conn: AsyncConnection, schema: str) -> None:
    """Create the shared event tables directly (services without an Alembic folder)."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": schema_lock_key(schema)})
    for statement in event_tables_ddl(schema):
        await conn.execute(text(statement))


def _upgrade(sync_conn: Connection, schema: str, script_location: Path) -> None:
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(script_location))
    script = ScriptDirectory.from_config(config)

    def upgrade_to_head(revision, context):  # type: ignore[no-untyped-def]
        return script._upgrade_revs("head", revision)

    with EnvironmentContext(config, script, fn=upgrade_to_head, destination_rev="head") as env:
        env.configure(
            connection=sync_conn,
            version_table="alembic_version",
            version_table_schema=schema,
            transactional_ddl=True,
        )
        env.run_migrations()


async def run_migrations(url_or_engine: str | AsyncEngine, schema: str, script_location: Path | str) -> None:
    """Create `schema` and upgrade it to head with the Alembic scripts in `script_location`.

    `url_or_engine`: a libpq URI or an engine. Idempotent and safe to call from several replicas.
    """
    schema = quote_ident(schema)
    location = Path(script_location)
    if not (location / "versions").is_dir():
        raise FileNotFoundError(f"no Alembic versions/ folder under {location}")
    engine = create_engine(url_or_engine, pool_size=1) if isinstance(url_or_engine, str) else url_or_engine
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": schema_lock_key(schema)})
            await conn.execute(text(create_schema_sql(schema)))
            await conn.execute(text(f"SET LOCAL search_path TO {schema}, public"))
            await conn.run_sync(_upgrade, schema, location)
    finally:
        if isinstance(url_or_engine, str):
            await engine.dispose()

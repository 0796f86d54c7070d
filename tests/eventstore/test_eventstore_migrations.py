"""Alembic per service schema on real PostgreSQL: the shared event tables, the version table in the
schema itself, idempotent re-runs, replicas migrating at the same time, a service restarting."""

from __future__ import annotations

import asyncio
from pathlib import Path
from textwrap import dedent

import pytest
from sqlalchemy import text

from ombudsman.eventstore.db import create_engine
from ombudsman.eventstore.migrations import run_migrations
from ombudsman.eventstore.runtime import Service
from ombudsman.eventstore.settings import Settings

FIRST = '''
from alembic import op
from ombudsman.eventstore.migrations import create_event_tables

revision = "0001"
down_revision = None

def upgrade() -> None:
    create_event_tables("{schema}")
    op.execute("CREATE TABLE {schema}.widgets (id integer PRIMARY KEY)")
'''
SECOND = '''
from alembic import op

revision = "0002"
down_revision = "0001"

def upgrade() -> None:
    op.execute("ALTER TABLE widgets ADD COLUMN name text NOT NULL DEFAULT 'w'")  # unqualified: search_path
'''


def scripts(root: Path, schema: str) -> Path:
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "0001_base.py").write_text(dedent(FIRST.format(schema=schema)))
    (versions / "0002_names.py").write_text(dedent(SECOND))
    return versions.parent


async def tables(url: str, schema: str) -> list[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = :s ORDER BY 1"), {"s": schema})
            return list(rows.scalars())
    finally:
        await engine.dispose()


async def test_migrations_are_idempotent_and_keep_data(database_url: str, tmp_path: Path) -> None:
    location = scripts(tmp_path, "shop")
    await run_migrations(database_url, "shop", location)
    assert await tables(database_url, "shop") == ["alembic_version", "events", "outbox", "tracking", "widgets"]
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO shop.widgets (id, name) VALUES (1, 'kept')"))
        await run_migrations(database_url, "shop", location)  # at head: nothing runs (0002 would fail twice)
        await run_migrations(engine, "shop", location)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT name FROM shop.widgets"))).scalar_one() == "kept"
            assert (await conn.execute(text("SELECT version_num FROM shop.alembic_version"))).scalar_one() == "0002"
            in_public = (await conn.execute(text("SELECT to_regclass('public.alembic_version')"))).scalar()
            assert in_public is None
    finally:
        await engine.dispose()


async def test_replicas_migrate_at_the_same_time(database_url: str, tmp_path: Path) -> None:
    location = scripts(tmp_path, "crowd")
    await asyncio.gather(*(run_migrations(database_url, "crowd", location) for _ in range(4)))
    assert "widgets" in await tables(database_url, "crowd")


async def test_missing_versions_folder_is_a_clear_error(database_url: str, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="versions"):
        await run_migrations(database_url, "nowhere", tmp_path)


async def test_service_start_migrates_and_restarts(database_url: str, nats_url: str, tmp_path: Path) -> None:
    location = scripts(tmp_path, "svc")
    settings = Settings(database_url=database_url, nats_url=nats_url)
    for _ in range(2):  # a restart runs the migrations again: nothing changes, nothing fails
        service = Service("svc", schema="svc", settings=settings, migrations=location)
        await service.start()
        await service.stop()
    assert await tables(database_url, "svc") == ["alembic_version", "events", "outbox", "tracking", "widgets"]

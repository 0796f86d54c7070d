"""Frozen migrations: every service's Alembic history, run from its first revision on a fresh
PostgreSQL database, builds exactly the schema today's DDL describes (tables, columns and types,
defaults, constraints, indexes, triggers, functions). Each revision states its own SQL, so a
change of today's `ddl()` without a new revision fails here."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ombudsman.eventstore.migrations import event_tables_ddl, run_migrations
from tests.support import fresh_database


def _audit() -> list[str]:
    from ombudsman.audit import log

    return [*log.ddl(), *log.archive_ddl(), *log.grants_ddl(), *log.rejected_ddl()]


def _executor() -> list[str]:
    from ombudsman.executor import private

    return [*private.TABLES, *private.DIFFERENCE_TABLES]


def _gateway() -> list[str]:
    from ombudsman.gateway import projections, throttle, user_sso

    return [*projections.ddl(), *throttle.throttle_ddl(projections.SCHEMA), *user_sso.oidc_ddl(projections.SCHEMA)]


def _metadata() -> list[str]:
    from ombudsman.metadata import projections

    return projections.ddl()


def _projects() -> list[str]:
    from ombudsman.projects import projections

    return projections.ddl()


def _workload() -> list[str]:
    from ombudsman.workload import projections

    return projections.ddl()


# service (its schema has the service's name) → today's DDL of what its migrations create
TODAY: dict[str, Callable[[], list[str]]] = {
    "audit": _audit, "executor": _executor, "gateway": _gateway,
    "metadata": _metadata, "projects": _projects, "workload": _workload,
}

SNAPSHOT = {
    "columns": """SELECT table_name, ordinal_position, column_name, data_type, is_nullable, column_default
                  FROM information_schema.columns WHERE table_schema = $1 AND table_name <> 'alembic_version'
                  ORDER BY 1, 2""",
    "constraints": """SELECT rel.relname, c.conname, c.contype, pg_get_constraintdef(c.oid)
                      FROM pg_constraint c JOIN pg_class rel ON rel.oid = c.conrelid
                      JOIN pg_namespace n ON n.oid = rel.relnamespace
                      WHERE n.nspname = $1 AND rel.relname <> 'alembic_version' ORDER BY 1, 2""",
    "indexes": """SELECT tablename, indexname, indexdef FROM pg_indexes
                  WHERE schemaname = $1 AND tablename <> 'alembic_version' ORDER BY 1, 2""",
    "triggers": """SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
                   JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = $1 AND NOT t.tgisinternal ORDER BY 1, 2""",
    "functions": """SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
                    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname = $1 ORDER BY 1, 2""",
    "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = $1 ORDER BY 1",
}


async def snapshot(url: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = await asyncpg.connect(url)
    try:
        return {part: [tuple(row) for row in await conn.fetch(sql, schema)] for part, sql in SNAPSHOT.items()}
    finally:
        await conn.close()


@pytest.fixture
def model_database_url(pg_server_url: str) -> Iterator[str]:
    """A second fresh database, built from today's DDL."""
    with fresh_database(pg_server_url) as url:
        yield url


@pytest.mark.parametrize("service", sorted(TODAY))
async def test_migrations_from_the_first_revision_build_todays_schema(
    service: str, database_url: str, model_database_url: str
) -> None:
    folder = Path(importlib.import_module(f"ombudsman.{service}.migrations").__file__).parent  # type: ignore[arg-type]
    await run_migrations(database_url, service, folder)
    conn = await asyncpg.connect(model_database_url)
    try:
        for statement in [*event_tables_ddl(service), *TODAY[service]()]:
            await conn.execute(statement)
    finally:
        await conn.close()
    migrated, model = await snapshot(database_url, service), await snapshot(model_database_url, service)
    assert migrated["columns"], f"the migrations of {service} created no table"
    for part in SNAPSHOT:
        assert migrated[part] == model[part], f"{service}: {part} differ between the migrations and today's DDL"


async def test_a_ddl_change_without_a_revision_is_caught(database_url: str, model_database_url: str) -> None:
    """The comparison can fail: today's DDL with one more column is not what the history builds."""
    folder = Path(importlib.import_module("ombudsman.projects.migrations").__file__).parent  # type: ignore[arg-type]
    await run_migrations(database_url, "projects", folder)
    conn = await asyncpg.connect(model_database_url)
    try:
        for statement in [*event_tables_ddl("projects"), *_projects()]:
            await conn.execute(statement)
        await conn.execute("ALTER TABLE projects.connection_secrets ADD COLUMN rotated_at timestamptz")
    finally:
        await conn.close()
    migrated, model = await snapshot(database_url, "projects"), await snapshot(model_database_url, "projects")
    assert migrated["indexes"] == model["indexes"] and migrated["columns"] != model["columns"]

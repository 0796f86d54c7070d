"""Metadata fixtures: the warehouse loaded into a real PostgreSQL source and a fakesnow target."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest

from ombudsman.engine.connectors import connect
from ombudsman.eventstore.settings import Settings
from ombudsman.metadata.app import create_service as metadata_service
from ombudsman.projects.app import create_service as projects_service
from tests.engine.conftest import fakesnow_server, fakesnow_url  # noqa: F401  (fixtures)
from tests.metadata.warehouse import SOURCE_DDL, TARGET_DDL, load_statements, source_rows, target_rows


@pytest.fixture
async def bus(nats_url: str, database_url: str) -> AsyncIterator[nats.NATS]:
    """The real projects and metadata services on the test's NATS and PostgreSQL, and a NATS client."""
    settings = Settings(database_url=database_url, nats_url=nats_url, secret_key="k" * 32, request_timeout=60)
    projects, metadata = projects_service(settings), metadata_service(settings)
    await projects.start()
    await metadata.start()
    nc = await nats.connect(nats_url)
    try:
        yield nc
    finally:
        await nc.close()
        await metadata.stop()
        await projects.stop()


async def _load(url: str, ddl: str, inserts: list[str], setup: list[str]) -> None:
    async with connect(url) as db:
        for statement in setup:
            await db.execute(statement)
        for statement in [s for s in ddl.split(";") if s.strip()]:
            await db.execute(statement)
        for statement in inserts:
            await db.execute(statement)


@pytest.fixture
def source_url(warehouse_url: str) -> str:
    """PostgreSQL holding the warehouse (schema `sales`) and its data (a server of its own: the
    platform's database may not be a connection)."""
    asyncio.run(_load(warehouse_url, SOURCE_DDL, load_statements(source_rows(), "postgres"), ["CREATE SCHEMA sales"]))
    return warehouse_url


@pytest.fixture
def target_url(fakesnow_url: str) -> str:  # noqa: F811
    """fakesnow holding a faithful copy of the warehouse (schema `SALES`, renamed columns)."""
    asyncio.run(_load(fakesnow_url, TARGET_DDL, load_statements(target_rows(), "snowflake"),
                      ["CREATE SCHEMA IF NOT EXISTS SALES"]))
    return fakesnow_url

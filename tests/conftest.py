"""Shared fixtures: real NATS (JetStream) and real PostgreSQL for every integration test.

- NATS: `OMB_TEST_NATS_URL` when set (its OMB_* streams are deleted before each test), otherwise a
  fresh embedded `nats-server -js` per test (it starts in a few milliseconds).
- PostgreSQL: `OMB_TEST_DATABASE_URL` when set, otherwise one embedded `pgserver` per test session;
  every test that asks for `database_url` gets a fresh database, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from ombudsman.eventstore.embedded import EmbeddedNats, EmbeddedPostgres


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    external = os.environ.get("OMB_TEST_NATS_URL")
    if external:
        asyncio.run(_delete_streams(external))
        yield external
        return
    server = EmbeddedNats.start(tmp_path / "nats")
    try:
        yield server.url
    finally:
        server.stop()


async def _delete_streams(url: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name and info.config.name.startswith("OMB_"):
                await js.delete_stream(info.config.name)
    finally:
        await nc.close()


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A URL of a PostgreSQL server the tests may create databases on."""
    external = os.environ.get("OMB_TEST_DATABASE_URL")
    if external:
        yield external
        return
    data = Path(tempfile.mkdtemp(prefix="omb-pg-"))
    server = EmbeddedPostgres.start(data / "pgdata")
    try:
        yield server.uri("postgres")
    finally:
        server.stop()


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


@pytest.fixture
def database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty database for one test (libpq URI), dropped afterwards."""
    name = "omb_t_" + uuid.uuid4().hex[:12]
    asyncio.run(_admin(pg_server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(pg_server_url, name)
    finally:
        asyncio.run(_admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()

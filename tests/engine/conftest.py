"""Shared engine fixtures: database URLs every engine test (connectors, validators, row diff) can use.

- `duckdb_url`: a fresh DuckDB file database in the test's temp folder.
- `fakesnow_url`: a Snowflake URL served by one fakesnow server per session; each test gets its own
  database (so tests never see each other's tables), and connectors opened on the same URL in one
  test see the same data.
- `database_url` (tests/conftest.py): a fresh PostgreSQL database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ombudsman.engine.connectors.snowflake import FakesnowServer


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    """A URL of a new, empty DuckDB file database."""
    return f"duckdb:///{tmp_path / 'test.duckdb'}"


@pytest.fixture(scope="session")
def fakesnow_server() -> Iterator[FakesnowServer]:
    """One fakesnow HTTP server for the session (the real snowflake-connector-python talks to it)."""
    with FakesnowServer.start() as server:
        yield server


@pytest.fixture
def fakesnow_url(fakesnow_server: FakesnowServer) -> str:
    """A snowflake:// URL of a new database of its own (schema PUBLIC) on the session's fakesnow."""
    return fakesnow_server.url()

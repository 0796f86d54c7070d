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


def postgres_odbc_driver() -> str:
    """The installed PostgreSQL ODBC driver's name; fails the test (never skips) when there is none."""
    import pyodbc

    drivers = [d for d in pyodbc.drivers() if "postgres" in d.lower()]
    if not drivers:
        pytest.fail(
            "no PostgreSQL ODBC driver is installed (pyodbc.drivers() = "
            f"{pyodbc.drivers()!r}): run `bash scripts/ensure-odbc.sh` as root (apt-get install unixodbc "
            "odbc-postgresql) so the pyodbc code path of the SQL Server connector can be tested"
        )
    return next((d for d in drivers if "unicode" in d.lower()), drivers[0])


@pytest.fixture
def odbc_postgres_url(database_url: str) -> str:
    """An `odbc://` URL (dialect postgres) reaching the test's PostgreSQL database through psqlODBC."""
    from urllib.parse import parse_qs, quote, urlsplit

    parts = urlsplit(database_url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "localhost"])[0]
    port = str(parts.port or query.get("port", ["5432"])[0])
    attributes = {
        "DRIVER": "{" + postgres_odbc_driver() + "}",
        "Servername": host,
        "Port": port,
        "Database": parts.path.lstrip("/"),
        "Username": parts.username or "postgres",
        "Password": parts.password or "",
        "BoolsAsChar": "0",  # booleans as SQL_BIT, not '1'/'0' text
        "ConnSettings": "{SET TIME ZONE 'UTC'}",  # timestamptz arrives naive, so fix its zone
    }
    odbc = ";".join(f"{k}={v}" for k, v in attributes.items())
    return f"odbc:///?dialect=postgres&odbc_connect={quote(odbc, safe='')}"

"""Database connectors behind one async interface, chosen by connection URL.

    async with connect("postgresql://user:pw@host/db") as db:
        table = await db.fetch("SELECT * FROM t WHERE id > ?", [10])

Schemes: `postgresql://`, `postgres://`, `postgresql+asyncpg://`; `duckdb:///path.db`,
`duckdb:///:memory:`; `snowflake://user:pw@account/database/schema?warehouse=..&role=..`;
`mssql+pyodbc://user:pw@host:port/db?driver=ODBC+Driver+18+for+SQL+Server`,
`mssql+pyodbc:///?odbc_connect=<url-encoded ODBC string>`; `odbc:///?odbc_connect=..&dialect=..`
(any ODBC driver; `dialect` names the sqlglot dialect of that database); `file:///path/config.yaml`
(a file config's TSV/CSV/Parquet files as DuckDB views: connectors.files).
"""

from __future__ import annotations

from typing import Any

from ombudsman.engine.connectors.base import ConnectionTest, Connector, PoolStats
from ombudsman.engine.connectors.errors import ConnectionFailed, QueryFailed, QueryTimeout
from ombudsman.engine.connectors.urls import ConnectionUrl, mask_url, parse_url

__all__ = [
    "ConnectionFailed",
    "ConnectionTest",
    "ConnectionUrl",
    "Connector",
    "PoolStats",
    "QueryFailed",
    "QueryTimeout",
    "connect",
    "connector_class",
    "mask_url",
    "parse_url",
]


def connector_class(url: str) -> type[Connector]:
    """The connector class for a URL's scheme; `Invalid` for an unknown or malformed URL."""
    kind = parse_url(url).kind
    if kind == "postgres":
        from ombudsman.engine.connectors.postgres import PostgresConnector

        return PostgresConnector
    if kind == "duckdb":
        from ombudsman.engine.connectors.duckdb import DuckDBConnector

        return DuckDBConnector
    if kind == "file":
        from ombudsman.engine.connectors.files import FileConnector

        return FileConnector
    if kind == "snowflake":
        from ombudsman.engine.connectors.snowflake import SnowflakeConnector

        return SnowflakeConnector
    if kind == "sqlserver":
        from ombudsman.engine.connectors.odbc import SqlServerConnector

        return SqlServerConnector
    from ombudsman.engine.connectors.odbc import OdbcConnector

    return OdbcConnector


def connect(url: str, **opts: Any) -> Connector:
    """A connector (not yet open) for `url`; open it with `async with` or `await .open()`.

    `opts` are the connector's keyword options: `timeout` (seconds per statement), `pool_size`,
    `connect_timeout`. Raises `ombudsman.contracts.replies.Invalid` naming what is wrong with a bad URL.
    """
    return connector_class(url)(url, **opts)

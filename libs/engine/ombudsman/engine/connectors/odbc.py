"""ODBC through pyodbc in a thread pool: a driver-agnostic `OdbcConnector` and `SqlServerConnector`.

URLs:
- `mssql+pyodbc://user:pw@host:1433/db?driver=ODBC+Driver+18+for+SQL+Server&TrustServerCertificate=yes`
  (other query options are passed into the ODBC connection string as they are);
- `mssql+pyodbc://dsn_name` (a DSN from odbc.ini; SQLAlchemy's convention: a host with no database);
- `mssql+pyodbc:///?odbc_connect=<url-encoded ODBC connection string>`;
- `odbc:///?odbc_connect=<..>&dialect=postgres` or `odbc://user:pw@host:port/db?driver=..&dialect=..`:
  any ODBC driver; `dialect` is the sqlglot dialect of the database behind it (default tsql).

The SQL Server connector cannot be tested live here; the same code (everything in `OdbcConnector`)
is tested against PostgreSQL through Debian's psqlODBC driver.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import struct
import uuid
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyodbc

from ombudsman.engine.connectors.errors import Invalid, QueryFailed, QueryTimeout
from ombudsman.engine.connectors.threaded import ThreadedConnector, _describe
from ombudsman.engine.connectors.urls import ConnectionUrl, parse_url

KNOWN_DIALECTS = ("tsql", "postgres", "snowflake", "duckdb", "mysql", "oracle")
# options of ours, never passed into the ODBC connection string
_OWN_OPTIONS = {"dialect", "odbc_connect", "driver", "timeout", "pool_size", "connect_timeout"}
# ODBC SQL type of SQL Server's datetimeoffset, which pyodbc cannot read by itself
SQL_SS_DATETIMEOFFSET = -155


def odbc_value(value: str) -> str:
    """A connection-string attribute value, braced when it holds characters ODBC would misread."""
    if any(c in value for c in ";{}=") or value != value.strip():
        return "{" + value.replace("}", "}}") + "}"
    return value


def odbc_connection_string(url: str, *, sqlserver: bool) -> str:
    """The ODBC connection string a URL stands for (see the module docstring for the forms)."""
    parsed = parse_url(url)
    if "odbc_connect" in parsed.query:
        text = parsed.query["odbc_connect"].strip()
        if not text:
            raise Invalid("odbc_connect is empty", {"field": "odbc_connect"})
        return text
    return _build(parsed, sqlserver=sqlserver)


def _build(parsed: ConnectionUrl, *, sqlserver: bool) -> str:
    database = parsed.path_segments[0] if parsed.path_segments else None
    parts: list[tuple[str, str]] = []
    if parsed.host and not database and not parsed.port and "driver" not in parsed.query:
        parts.append(("DSN", parsed.host))
    else:
        driver = parsed.query.get("driver")
        if not driver:
            raise Invalid(
                "an ODBC URL needs ?driver=<ODBC driver name> (e.g. driver=ODBC+Driver+18+for+SQL+Server), "
                "a DSN as its host, or ?odbc_connect=<connection string>",
                {"field": "driver"},
            )
        parts.append(("DRIVER", "{" + driver.replace("}", "}}") + "}"))
        if parsed.host:
            if sqlserver and "freetds" not in driver.lower():  # Microsoft's drivers: SERVER=host,port
                parts.append(("SERVER", f"{parsed.host},{parsed.port}" if parsed.port else parsed.host))
            else:
                parts.append(("SERVER", parsed.host))
                if parsed.port:
                    parts.append(("PORT", str(parsed.port)))
        if database:
            parts.append(("DATABASE", database))
    if parsed.username:
        parts.append(("UID", parsed.username))
    if parsed.password is not None:
        parts.append(("PWD", parsed.password))
    for key, value in parsed.query.items():
        if key not in _OWN_OPTIONS:
            parts.append((key, value))
    return ";".join(f"{k}={v if k == 'DRIVER' else odbc_value(v)}" for k, v in parts)


_PYTHON_ARROW: dict[type, pa.DataType] = {
    bool: pa.bool_(),
    int: pa.int64(),
    float: pa.float64(),
    str: pa.string(),
    bytes: pa.binary(),
    bytearray: pa.binary(),
    dt.date: pa.date32(),
    dt.datetime: pa.timestamp("us"),
    dt.time: pa.time64("us"),
    uuid.UUID: pa.string(),
}


class OdbcConnector(ThreadedConnector):
    """Any ODBC data source through pyodbc; `dialect` names the SQL dialect behind the driver."""

    kind = "odbc"
    dialect = "tsql"
    product = "ODBC"
    sqlserver = False

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 60.0,
        pool_size: int = 4,
        connect_timeout: float = 10.0,
        dialect: str | None = None,
    ) -> None:
        super().__init__(url, timeout=timeout, pool_size=pool_size, connect_timeout=connect_timeout)
        parsed = parse_url(url)
        chosen = dialect or parsed.query.get("dialect") or type(self).dialect
        if chosen not in KNOWN_DIALECTS:
            raise Invalid(
                f"unknown ODBC dialect {chosen!r} (known: {', '.join(KNOWN_DIALECTS)})", {"field": "dialect"}
            )
        self.dialect = chosen  # type: ignore[misc]  # per instance for generic ODBC
        self.connection_string = odbc_connection_string(url, sqlserver=self.sqlserver)

    def _connect_raw(self) -> Any:
        raw = pyodbc.connect(
            self.connection_string, autocommit=True, timeout=max(1, int(self.connect_timeout))
        )
        with contextlib.suppress(pyodbc.Error):  # not every driver has it (psqlODBC has not)
            raw.timeout = max(1, int(self.timeout))  # a query timeout the driver enforces itself
        self._configure(raw)
        return raw

    def _execute_cursor(self, cursor: Any, sql: str, params: Sequence[Any]) -> None:
        statement = self._running_on.get(id(cursor.connection))  # set by _run before this thread started
        if statement is not None:
            statement.cursor = cursor
        try:
            super()._execute_cursor(cursor, sql, params)
        finally:
            if statement is not None:
                statement.cursor = None

    def _configure(self, raw: Any) -> None:
        """Driver-specific setup of a new connection (encodings, output converters)."""

    def _arrow_hints(self, cursor: Any) -> list[pa.DataType | None]:
        hints: list[pa.DataType | None] = []
        for _name, type_code, _display, _internal, precision, scale, _nullable in cursor.description or ():
            if type_code is decimal.Decimal and precision and precision <= 38:
                hints.append(pa.decimal128(precision, scale or 0))
            elif type_code is dt.datetime and getattr(self, "_aware_datetimes", False):
                hints.append(None)
            else:
                hints.append(_PYTHON_ARROW.get(type_code))
        return hints

    def _cancel(self, raw: Any) -> None:
        # SQLCancel may be called from another thread while the statement runs
        statement = self._running_on.get(id(raw))
        cursor = statement.cursor if statement is not None else None
        if cursor is not None:
            with contextlib.suppress(pyodbc.Error):
                cursor.cancel()

    def _server_version_raw(self, raw: Any) -> str:
        return f"{raw.getinfo(pyodbc.SQL_DBMS_NAME)} {raw.getinfo(pyodbc.SQL_DBMS_VER)}"

    def _execute_blocking(self, raw: Any, sql: str, params: Sequence[Any], many: bool) -> None:
        cursor = raw.cursor()
        try:
            if many:
                cursor.fast_executemany = self.sqlserver  # array binding: supported by SQL Server's driver
                cursor.executemany(sql, [list(p) for p in params])
            else:
                self._execute_cursor(cursor, sql, params)
        finally:
            cursor.close()

    def _wrap(self, error: BaseException, sql: str | None) -> BaseException:
        if isinstance(error, pyodbc.OperationalError) and "HYT00" in str(error):
            return QueryTimeout(f"{self.product} statement exceeded {self.timeout:g}s")
        if isinstance(error, pyodbc.Error):
            return QueryFailed(
                f"{self.product} error: {_describe(error)}"
                + (f" in: {' '.join(sql.split())[:300]}" if sql else "")
            )
        return super()._wrap(error, sql)

    async def introspect(self, schemas: Sequence[str] | None = None) -> Any:
        from ombudsman.engine.connectors import introspection

        return await introspection.introspect_for_dialect(self, schemas)


def datetimeoffset_from_odbc(value: bytes) -> dt.datetime:
    """SQL Server's datetimeoffset (SQL_SS_TIMESTAMPOFFSET_STRUCT) as an aware datetime."""
    year, month, day, hour, minute, second, nanoseconds, tz_hour, tz_minute = struct.unpack("<6hI2h", value)
    offset = dt.timezone(dt.timedelta(hours=tz_hour, minutes=tz_minute))
    return dt.datetime(year, month, day, hour, minute, second, nanoseconds // 1000, tzinfo=offset)


class SqlServerConnector(OdbcConnector):
    """SQL Server through pyodbc (Microsoft ODBC Driver 18 or FreeTDS)."""

    kind = "sqlserver"
    dialect = "tsql"
    product = "SQL Server"
    sqlserver = True
    _aware_datetimes = True

    def __init__(
        self, url: str, *, timeout: float = 60.0, pool_size: int = 4, connect_timeout: float = 10.0
    ) -> None:
        super().__init__(
            url, timeout=timeout, pool_size=pool_size, connect_timeout=connect_timeout, dialect="tsql"
        )

    def _configure(self, raw: Any) -> None:
        raw.add_output_converter(SQL_SS_DATETIMEOFFSET, datetimeoffset_from_odbc)

    def _server_version_raw(self, raw: Any) -> str:
        cursor = raw.cursor()
        try:
            return str(cursor.execute("SELECT @@VERSION").fetchone()[0]).splitlines()[0]
        finally:
            cursor.close()

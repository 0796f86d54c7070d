"""PostgreSQL through asyncpg: a connection pool, per-statement timeouts, Arrow results."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
import pyarrow as pa

from ombudsman.engine.connectors.arrow import mark_fixed_length, rows_as_tuples, rows_to_batch, rows_to_table
from ombudsman.engine.connectors.base import ConnectionTest, Connector, PoolStats, ReadSession, check_settings
from ombudsman.engine.connectors.errors import ConnectionFailed, QueryFailed, QueryTimeout, sql_excerpt
from ombudsman.engine.connectors.params import qmark_to_numbered
from ombudsman.engine.connectors.urls import mask_url, parse_url

# URL query options this connector consumes itself (the rest go to asyncpg / libpq semantics)
_OWN_OPTIONS = ("pool_size", "timeout", "connect_timeout")

# PostgreSQL type name -> Arrow type; types not listed are inferred from the values
PG_ARROW_TYPES: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "oid": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "char": pa.string(),
    "name": pa.string(),
    "citext": pa.string(),
    "json": pa.string(),
    "jsonb": pa.string(),
    "xml": pa.string(),
    "bytea": pa.binary(),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "interval": pa.duration("us"),
}
_TEXT_PARAM_TYPES = {"text", "varchar", "bpchar", "name", "unknown"}
_SNAPSHOT_ID = re.compile(r"^[0-9A-Fa-f]+-[0-9A-Fa-f]+(-[0-9]+)?$")  # pg_export_snapshot(): 00000003-0000001B-1


def asyncpg_dsn(url: str) -> tuple[str, dict[str, str]]:
    """The DSN asyncpg accepts (scheme `postgresql`, no options of ours) and the options taken out."""
    parsed = parse_url(url)
    if parsed.kind != "postgres":
        raise ValueError(f"not a PostgreSQL URL: {mask_url(url)}")
    own = {k: v for k, v in parsed.query.items() if k in _OWN_OPTIONS}
    rest = [(k, v) for k, v in parsed.query.items() if k not in _OWN_OPTIONS]
    parts = urlsplit(url)
    dsn = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(rest), parts.fragment))
    return dsn, own


class PostgresConnector(Connector):
    """PostgreSQL (asyncpg). Options: `pool_size`, `timeout` (seconds per statement), `connect_timeout`."""

    kind = "postgres"
    dialect = "postgres"

    def __init__(
        self, url: str, *, timeout: float = 60.0, pool_size: int = 4, connect_timeout: float = 10.0
    ) -> None:
        super().__init__(url, timeout=timeout, pool_size=pool_size)
        self._dsn, own = asyncpg_dsn(url)
        self.pool_size = int(own.get("pool_size", pool_size))
        self.timeout = float(own.get("timeout", timeout))
        self.connect_timeout = float(own.get("connect_timeout", connect_timeout))
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            self._pool = await asyncio.wait_for(
                asyncpg.create_pool(
                    self._dsn,
                    min_size=1,
                    max_size=self.pool_size,
                    timeout=self.connect_timeout,
                    command_timeout=self.timeout,
                ),
                timeout=self.connect_timeout + 1,
            )
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise ConnectionFailed(
                f"cannot connect to PostgreSQL at {mask_url(self.url)}: {_describe(error)}",
                {"url": mask_url(self.url)},
            ) from error

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def pool_stats(self) -> PoolStats:
        pool = self._pool
        if pool is None:
            return PoolStats(size=self.pool_size, open=0, in_use=0, idle=0)
        opened, idle = pool.get_size(), pool.get_idle_size()
        return PoolStats(size=pool.get_max_size(), open=opened, in_use=max(opened - idle, 0), idle=idle)

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("PostgresConnector is not open: use `async with connect(url) as db`")
        return self._pool

    async def _prepare(
        self, conn: asyncpg.Connection, sql: str, params: Sequence[Any]
    ) -> tuple[Any, list[Any]]:
        statement = await conn.prepare(qmark_to_numbered(sql, params), timeout=self.timeout)
        return statement, _coerce_params(statement, params)

    async def fetch(self, sql: str, params: Sequence[Any] = (), *, limit: int | None = None) -> pa.Table:
        return await self._fetch(sql, params, limit=limit, read_only=False)

    async def fetch_at(
        self, snapshot_id: str, sql: str, params: Sequence[Any] = (), *, limit: int | None = None
    ) -> pa.Table:
        """`fetch`, reading the exported snapshot `snapshot_id` (a run's, see ombudsman.engine.snapshots)
        in a REPEATABLE READ READ ONLY transaction of its own."""
        return await self._fetch(sql, params, limit=limit, read_only=True, snapshot_id=snapshot_id)

    async def export_snapshot(self) -> tuple[asyncpg.Connection, str, str]:
        """A connection of its own (not the pool's) in a REPEATABLE READ READ ONLY transaction, and the
        snapshot it exported with the transaction's start instant: any session of this database may
        read at that snapshot (`SET TRANSACTION SNAPSHOT`) while the connection stays open."""
        conn = await asyncio.wait_for(asyncpg.connect(self._dsn, timeout=self.connect_timeout), self.connect_timeout + 1)
        try:
            await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", timeout=self.timeout)
            at, snapshot_id = await conn.fetchrow(
                "SELECT transaction_timestamp(), pg_export_snapshot()", timeout=self.timeout
            )
        except BaseException:
            await conn.close()
            raise
        return conn, str(snapshot_id), at.isoformat()

    async def fetch_readonly(
        self, sql: str, params: Sequence[Any] = (), *, limit: int | None = None
    ) -> pa.Table:
        from ombudsman.engine.dialects import ensure_single_select

        ensure_single_select(sql, self.dialect)
        return await self._fetch(sql, params, limit=limit, read_only=True)

    async def fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """`fetch`'s rows as tuples, without building Arrow arrays where they would give the driver's
        values back unchanged (`rows_as_tuples`): counts, names and catalog rows never import pandas."""
        records, names, hints, _ = await self._records(sql, params, limit=None, read_only=False)
        return rows_as_tuples(names, records, hints)

    async def _fetch(
        self, sql: str, params: Sequence[Any], *, limit: int | None, read_only: bool, snapshot_id: str | None = None
    ) -> pa.Table:
        records, names, hints, fixed = await self._records(sql, params, limit=limit, read_only=read_only, snapshot_id=snapshot_id)
        return mark_fixed_length(rows_to_table(names, records, hints), fixed)

    async def _records(
        self, sql: str, params: Sequence[Any], *, limit: int | None, read_only: bool, snapshot_id: str | None = None
    ) -> tuple[list[tuple[Any, ...]], list[str], list[pa.DataType | None], list[bool]]:
        """One query's rows as tuples, its column names, Arrow type hints and CHAR(n) flags."""
        pool = self._require_pool()
        try:
            async with pool.acquire(timeout=self.connect_timeout) as conn:
                if limit is None and not read_only:
                    statement, values = await self._prepare(conn, sql, params)
                    records = await statement.fetch(*values, timeout=self.timeout)
                else:
                    isolation = "repeatable_read" if snapshot_id else None
                    async with conn.transaction(readonly=read_only, isolation=isolation):
                        if snapshot_id:
                            await self._import_snapshot(conn, snapshot_id)
                        statement, values = await self._prepare(conn, sql, params)
                        if limit is None:
                            records = await statement.fetch(*values, timeout=self.timeout)
                        else:
                            cursor = await statement.cursor(*values, timeout=self.timeout)
                            records = (
                                await cursor.fetch(max(limit, 0), timeout=self.timeout) if limit > 0 else []
                            )
                names, hints = _columns(statement)
                fixed = [a.type.name == "bpchar" for a in statement.get_attributes()]
        except Exception as error:
            raise self._wrap(error, sql) from error
        return [tuple(r) for r in records], names, hints, fixed

    async def _import_snapshot(self, conn: asyncpg.Connection, snapshot_id: str) -> None:
        """Read at an exported snapshot: the transaction's first statement (the id is checked, as
        SET takes no bound value)."""
        if not _SNAPSHOT_ID.match(snapshot_id):
            raise ValueError(f"invalid snapshot id {snapshot_id!r}")
        await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'", timeout=self.timeout)

    async def stream(
        self, sql: str, params: Sequence[Any] = (), *, batch_size: int = 50_000, snapshot_id: str | None = None
    ) -> AsyncIterator[pa.RecordBatch]:
        pool = self._require_pool()
        isolation = "repeatable_read" if snapshot_id else None
        try:
            async with pool.acquire(timeout=self.connect_timeout) as conn, conn.transaction(
                isolation=isolation, readonly=bool(snapshot_id)
            ):
                if snapshot_id:
                    await self._import_snapshot(conn, snapshot_id)
                statement, values = await self._prepare(conn, sql, params)
                names, hints = _columns(statement)
                cursor = await statement.cursor(*values, timeout=self.timeout)
                while True:
                    records = await cursor.fetch(batch_size, timeout=self.timeout)
                    if not records:
                        return
                    yield rows_to_batch(names, [tuple(r) for r in records], hints)
        except (TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise self._wrap(error, sql) from error

    @contextlib.asynccontextmanager
    async def read_session(
        self, settings: Mapping[str, str] | None = None, *, consistent: bool = True, snapshot_id: str | None = None
    ) -> AsyncIterator[ReadSession]:
        """One pooled connection for the whole session, in a READ ONLY transaction (REPEATABLE READ
        when `consistent`: every query reads the snapshot taken at its first statement, exported so
        that other connections can share it; or, given `snapshot_id`, the run's exported snapshot);
        `settings` applied with `set_config(..., true)` (SET LOCAL) at the start and per statement."""
        pool = self._require_pool()
        try:
            async with pool.acquire(timeout=self.connect_timeout) as conn, conn.transaction(
                isolation="repeatable_read" if consistent or snapshot_id else "read_committed", readonly=True
            ):
                session = PostgresReadSession(self, conn, settings or {})
                if snapshot_id:
                    await self._import_snapshot(conn, snapshot_id)
                await session.apply(settings or {})
                if snapshot_id:
                    session.snapshot = {"isolation": "repeatable read", "snapshot_id": snapshot_id}
                elif consistent:
                    at, snapshot_id = await conn.fetchrow(
                        "SELECT transaction_timestamp(), pg_export_snapshot()", timeout=self.timeout
                    )
                    session.snapshot = {"isolation": "repeatable read", "at": at.isoformat(), "snapshot_id": snapshot_id}
                yield session
        except (TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
            raise self._wrap(error, "read session") from error

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        pool = self._require_pool()
        try:
            async with pool.acquire(timeout=self.connect_timeout) as conn:
                if params:
                    statement, values = await self._prepare(conn, sql, params)
                    await statement.fetch(*values, timeout=self.timeout)
                else:  # simple protocol: several statements separated by ';' are allowed
                    await conn.execute(sql, timeout=self.timeout)
        except Exception as error:
            raise self._wrap(error, sql) from error

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per parameter row (loading test data)."""
        if not rows:
            return
        pool = self._require_pool()
        try:
            async with pool.acquire(timeout=self.connect_timeout) as conn:
                await conn.executemany(qmark_to_numbered(sql, rows[0]), rows, timeout=self.timeout)
        except Exception as error:
            raise self._wrap(error, sql) from error

    async def introspect(self, schemas: Sequence[str] | None = None) -> Any:
        from ombudsman.engine.connectors.introspection import introspect_postgres

        return await introspect_postgres(self, schemas)

    async def server_version(self) -> str:
        rows = await self.fetch_rows("SELECT current_setting('server_version')")
        return str(rows[0][0])

    async def test(self) -> ConnectionTest:
        conn: asyncpg.Connection | None = None
        try:
            conn = opened = await asyncio.wait_for(
                asyncpg.connect(self._dsn, timeout=self.connect_timeout), timeout=self.connect_timeout + 1
            )
            version = await opened.fetchval("SELECT current_setting('server_version')", timeout=self.timeout)
            round_trip = time.perf_counter()
            await opened.fetchval("SELECT 1", timeout=self.timeout)
            latency = (time.perf_counter() - round_trip) * 1000
            return ConnectionTest(ok=True, server_version=f"PostgreSQL {version}", latency_ms=latency)
        except Exception as error:
            return ConnectionTest(ok=False, server_version=None, latency_ms=None, error=_describe(error))
        finally:
            if conn is not None:
                await conn.close()

    def _wrap(self, error: Exception, sql: str) -> Exception:
        if isinstance(error, QueryFailed | QueryTimeout | ConnectionFailed) or not isinstance(
            error, Exception
        ):
            return error
        if isinstance(error, asyncio.TimeoutError):
            return QueryTimeout(f"PostgreSQL statement exceeded {self.timeout:g}s: {sql_excerpt(sql)}")
        if isinstance(error, asyncpg.PostgresError | asyncpg.InterfaceError):
            return QueryFailed(
                f"PostgreSQL error: {_describe(error)} in: {sql_excerpt(sql)}",
                {"sqlstate": getattr(error, "sqlstate", None)},
            )
        if isinstance(error, OSError):
            return ConnectionFailed(f"PostgreSQL connection lost: {_describe(error)}")
        return error


class PostgresReadSession(ReadSession):
    """Queries on the session's one connection and transaction (see PostgresConnector.read_session)."""

    def __init__(self, connector: PostgresConnector, conn: asyncpg.Connection, settings: Mapping[str, str]) -> None:
        super().__init__(connector, settings_pinned=True)
        self._postgres, self._conn, self._settings = connector, conn, dict(settings)

    @contextlib.asynccontextmanager
    async def parts(self, count: int) -> AsyncIterator[list[ReadSession]]:
        """This session and up to `count - 1` more on other pooled connections (never more than the
        pool holds beside this one), each in a READ ONLY transaction that imports this one's exported
        snapshot (`SET TRANSACTION SNAPSHOT`: every part reads the same instant) with the same
        settings pinned."""
        extra = max(0, min(count, self._postgres.pool_size) - 1)
        if extra == 0:
            yield [self]
            return
        snapshot_id = self.snapshot.get("snapshot_id")
        if snapshot_id is not None and not _SNAPSHOT_ID.match(str(snapshot_id)):
            raise ValueError(f"unexpected snapshot id {snapshot_id!r}")
        pool, timeout = self._postgres._require_pool(), self._postgres.timeout
        async with contextlib.AsyncExitStack() as stack:
            sessions: list[ReadSession] = [self]
            try:
                for _ in range(extra):
                    conn = await stack.enter_async_context(pool.acquire(timeout=self._postgres.connect_timeout))
                    isolation = "repeatable_read" if snapshot_id else "read_committed"
                    await stack.enter_async_context(conn.transaction(isolation=isolation, readonly=True))
                    if snapshot_id:  # a literal only (no parameters here); checked above
                        await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'", timeout=timeout)
                    part = PostgresReadSession(self._postgres, conn, self._settings)
                    part.snapshot = dict(self.snapshot)
                    await part.apply(self._settings)
                    sessions.append(part)
            except (TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
                raise self._postgres._wrap(error, "read session part") from error
            yield sessions

    async def apply(self, settings: Mapping[str, str]) -> None:
        """SET LOCAL each setting (bound as values: set_config(name, value, is_local))."""
        check_settings(settings)
        for name, value in settings.items():
            await self._conn.execute("SELECT set_config($1, $2, true)", name, str(value), timeout=self._postgres.timeout)

    async def fetch_rows(
        self, sql: str, params: Sequence[Any] = (), *, settings: Mapping[str, str] | None = None
    ) -> list[tuple[Any, ...]]:
        try:
            await self.apply(settings or {})
            statement, values = await self._postgres._prepare(self._conn, sql, params)
            records = await statement.fetch(*values, timeout=self._postgres.timeout)
        except Exception as error:
            raise self._postgres._wrap(error, sql) from error
        return [tuple(r) for r in records]

    async def stream(self, sql: str, params: Sequence[Any] = (), *, batch_size: int = 50_000) -> AsyncIterator[pa.RecordBatch]:  # type: ignore[override]
        async for names, hints, rows in self._cursor_rows(sql, params, batch_size):
            yield rows_to_batch(names, rows, hints)

    async def stream_rows(  # type: ignore[override]
        self, sql: str, params: Sequence[Any] = (), *, batch_size: int = 50_000
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """The rows as tuples straight from the cursor, through Arrow only where it would change them
        (`rows_as_tuples`)."""
        async for names, hints, rows in self._cursor_rows(sql, params, batch_size):
            yield rows_as_tuples(names, rows, hints)

    async def _cursor_rows(
        self, sql: str, params: Sequence[Any], batch_size: int
    ) -> AsyncIterator[tuple[list[str], list[pa.DataType | None], list[tuple[Any, ...]]]]:
        timeout = self._postgres.timeout
        try:
            statement, values = await self._postgres._prepare(self._conn, sql, params)
            names, hints = _columns(statement)
            cursor = await statement.cursor(*values, timeout=timeout)
            while True:
                records = await cursor.fetch(batch_size, timeout=timeout)
                if not records:
                    return
                yield names, hints, [tuple(r) for r in records]
        except (TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise self._postgres._wrap(error, sql) from error


_SNAPSHOT_ID = re.compile(r"^[0-9A-Fa-f]+-[0-9A-Fa-f]+(-[0-9A-Fa-f]+)?$")


def _columns(statement: Any) -> tuple[list[str], list[pa.DataType | None]]:
    attributes = statement.get_attributes()
    return [a.name for a in attributes], [PG_ARROW_TYPES.get(a.type.name) for a in attributes]


def _coerce_params(statement: Any, params: Sequence[Any]) -> list[Any]:
    """asyncpg refuses e.g. an int for a text parameter (`SELECT $1`); give text parameters text."""
    values = list(params)
    for i, parameter in enumerate(statement.get_parameters()):
        value = values[i]
        if parameter.name in _TEXT_PARAM_TYPES and value is not None and not isinstance(value, str):
            values[i] = str(value)
    return values


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    name = type(error).__name__
    if isinstance(error, asyncio.TimeoutError) or name == "TimeoutError":
        return "timed out"
    return f"{name}: {text}" if text else name

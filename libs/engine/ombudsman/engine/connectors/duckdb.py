"""DuckDB: one database handle per connector; each pooled connection is a `.cursor()` of it
(DuckDB connections are not safe to share between threads, cursors of one handle are).

URL: `duckdb:///relative/path.db`, `duckdb:////absolute/path.db` (SQLAlchemy's convention: the
path is what follows the third slash) or `duckdb:///:memory:`. Query options: `read_only=true`,
any other key is passed to DuckDB as a config setting (e.g. `threads=2`, `memory_limit=1GB`), except
the sandbox's: every database is opened with `enable_external_access=false` and
`lock_configuration=true` (no query reads host files or changes that; see connectors.sandbox).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from ombudsman.engine.connectors.base import ReadSession
from ombudsman.engine.connectors.errors import (
    ConnectionFailed,
    Invalid,
    QueryFailed,
    QueryTimeout,
    sql_excerpt,
)
from ombudsman.engine.connectors.params import check_param_count, multi_row_chunks
from ombudsman.engine.connectors.sandbox import DUCKDB_LOCKED_KEYS, DUCKDB_SANDBOX
from ombudsman.engine.connectors.threaded import ThreadedConnector, _describe
from ombudsman.engine.connectors.urls import parse_url

_TRUE = {"1", "true", "yes", "on"}


def duckdb_target(url: str) -> tuple[str, bool, dict[str, Any]]:
    """The database path (or ':memory:'), read-only flag and config settings of a duckdb:// URL."""
    parsed = parse_url(url)
    if parsed.kind != "duckdb":
        raise Invalid(f"not a DuckDB URL: {url!r}", {"field": "url"})
    if parsed.host or parsed.username:
        raise Invalid(
            "a DuckDB URL has no host: write duckdb:///relative.db, duckdb:////absolute/path.db "
            "or duckdb:///:memory:",
            {"field": "url"},
        )
    path = parsed.path or ":memory:"
    query: dict[str, Any] = dict(parsed.query)
    read_only = query.pop("read_only", "false").lower() in _TRUE
    locked = sorted(k for k in query if k.lower() in DUCKDB_LOCKED_KEYS)
    if locked:
        raise Invalid(
            f"a DuckDB URL may not set {', '.join(locked)}: the engine opens DuckDB sandboxed",
            {"field": "url", "refused": locked},
        )
    return path, read_only, query


def sandboxed(config: dict[str, Any]) -> dict[str, Any]:
    """DuckDB config with external access off and the configuration locked (`DUCKDB_SANDBOX`):
    queries read the database file and nothing else on the host, and cannot turn that back on."""
    return {**config, **DUCKDB_SANDBOX}


class DuckDBConnector(ThreadedConnector):
    """DuckDB (in process), run in a thread pool; results come straight from DuckDB as Arrow."""

    kind = "duckdb"
    dialect = "duckdb"
    product = "DuckDB"

    def __init__(
        self, url: str, *, timeout: float = 60.0, pool_size: int = 4, connect_timeout: float = 10.0
    ) -> None:
        super().__init__(url, timeout=timeout, pool_size=pool_size, connect_timeout=connect_timeout)
        self.path, self.read_only, self.config = duckdb_target(url)
        self._database: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def _connect_raw(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._database is None:
                self._database = duckdb.connect(self.path, read_only=self.read_only, config=sandboxed(self.config))
            return self._database.cursor()

    async def close(self) -> None:
        await super().close()
        database, self._database = self._database, None
        if database is not None:
            database.close()

    def _cancel(self, raw: Any) -> None:
        raw.interrupt()

    def _server_version_raw(self, raw: Any) -> str:
        return f"DuckDB {raw.sql('SELECT version()').fetchall()[0][0]}"

    def _relation(self, raw: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> Any:
        return raw.sql(sql, params=list(params)) if params else raw.sql(sql)

    def _fetch_blocking(self, raw: Any, sql: str, params: Sequence[Any], limit: int | None) -> pa.Table:
        relation = self._relation(raw, sql, params)
        if relation is None:  # a statement without a result (DDL, DML)
            return pa.table({})
        if limit is not None:
            relation = relation.limit(max(limit, 0))
        return relation.to_arrow_table()

    def _execute_blocking(self, raw: Any, sql: str, params: Sequence[Any], many: bool) -> None:
        if many:
            # DuckDB runs executemany row by row (~1 ms a row): a multi-row INSERT is ~100x faster
            chunks = multi_row_chunks(sql, params, 500)
            if chunks is None:
                raw.executemany(sql, [list(p) for p in params])
            else:
                for chunk_sql, values in chunks:
                    raw.execute(chunk_sql, values)
        elif params:
            raw.execute(sql, list(params))
        else:
            raw.execute(sql)
        raw.complete()  # a pending result would refuse the next statement on this connection

    async def stream(
        self, sql: str, params: Sequence[Any] = (), *, batch_size: int = 50_000
    ) -> AsyncIterator[pa.RecordBatch]:
        check_param_count(sql, params)
        async with self._connection() as raw:
            relation = await self._run(raw, self._relation, raw, sql, params, sql=sql)
            if relation is None:
                return
            reader = await self._run(raw, relation.to_arrow_reader, batch_size, sql=sql)
            try:
                while True:
                    batch = await self._run(raw, _next_batch, reader, sql=sql)
                    if batch is None:
                        return
                    if batch.num_rows:
                        yield batch
            finally:
                reader.close()  # an open reader would refuse the next statement on this connection

    @contextlib.asynccontextmanager
    async def read_session(
        self, settings: Mapping[str, str] | None = None, *, consistent: bool = True
    ) -> AsyncIterator[ReadSession]:
        """With `consistent`: one pooled connection in one transaction, so every query reads the
        snapshot the transaction began with (DuckDB's settings are locked: `settings` are ignored)."""
        if not consistent:
            yield ReadSession(self)
            return
        async with self._connection() as raw:
            await self._run(raw, raw.execute, "BEGIN TRANSACTION", sql="BEGIN TRANSACTION")
            try:
                at = await self._run(raw, _fetch_all, raw, "SELECT CAST(transaction_timestamp() AS VARCHAR)", sql="at")
                yield DuckDBReadSession(self, raw, {"isolation": "snapshot", "at": str(at[0][0])})
            finally:
                with contextlib.suppress(Exception):
                    await self._run(raw, raw.execute, "ROLLBACK", sql="ROLLBACK")

    async def introspect(self, schemas: Sequence[str] | None = None) -> Any:
        from ombudsman.engine.connectors.introspection import introspect_duckdb

        return await introspect_duckdb(self, schemas)

    def _wrap(self, error: BaseException, sql: str | None) -> BaseException:
        if isinstance(error, QueryFailed | QueryTimeout | ConnectionFailed) or not isinstance(
            error, Exception
        ):
            return error
        if isinstance(error, duckdb.InterruptException):
            return QueryTimeout(
                f"DuckDB statement exceeded {self.timeout:g}s" + (f": {sql_excerpt(sql)}" if sql else "")
            )
        if isinstance(error, duckdb.Error):
            return QueryFailed(
                f"DuckDB error: {_describe(error)}" + (f" in: {sql_excerpt(sql)}" if sql else "")
            )
        return super()._wrap(error, sql)


class DuckDBReadSession(ReadSession):
    """Queries on the session's one connection, inside its transaction."""

    def __init__(self, connector: DuckDBConnector, raw: duckdb.DuckDBPyConnection, snapshot: dict[str, Any]) -> None:
        super().__init__(connector, snapshot=snapshot)
        self._duck, self._raw = connector, raw

    async def fetch_rows(
        self, sql: str, params: Sequence[Any] = (), *, settings: Mapping[str, str] | None = None
    ) -> list[tuple[Any, ...]]:
        check_param_count(sql, params)
        duck, raw = self._duck, self._raw
        table = await duck._run(raw, duck._fetch_blocking, raw, sql, params, None, sql=sql)
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        return list(zip(*columns, strict=True)) if columns else []

    async def stream(self, sql: str, params: Sequence[Any] = (), *, batch_size: int = 50_000) -> AsyncIterator[pa.RecordBatch]:  # type: ignore[override]
        check_param_count(sql, params)
        duck, raw = self._duck, self._raw
        relation = await duck._run(raw, duck._relation, raw, sql, params, sql=sql)
        if relation is None:
            return
        reader = await duck._run(raw, relation.to_arrow_reader, batch_size, sql=sql)
        try:
            while True:
                batch = await duck._run(raw, _next_batch, reader, sql=sql)
                if batch is None:
                    return
                if batch.num_rows:
                    yield batch
        finally:
            reader.close()


def _fetch_all(raw: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return raw.execute(sql).fetchall()


def _next_batch(reader: pa.RecordBatchReader) -> pa.RecordBatch | None:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None

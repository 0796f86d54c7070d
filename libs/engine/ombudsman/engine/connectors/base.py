"""The one async interface every database connector implements.

SQL reaching a connector is already rendered for its dialect (sqlglot dialect name in
`Connector.dialect`). Values are bound with qmark placeholders (`?`) in the SQL text and a
sequence of parameters; each connector translates them to its driver's style.
Blocking drivers (DuckDB, Snowflake, pyodbc) run in a thread pool.
"""

from __future__ import annotations

import contextlib
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa


@dataclass(frozen=True)
class ConnectionTest:
    """What `Connector.test()` reports."""

    ok: bool
    server_version: str | None
    latency_ms: float | None
    error: str | None = None


@dataclass(frozen=True)
class PoolStats:
    """What a connector's pool holds right now: `open` driver connections, of which `in_use` run a
    statement and `idle` wait for one; `size` is the most it opens."""

    size: int
    open: int
    in_use: int
    idle: int


_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def check_settings(settings: Mapping[str, str]) -> None:
    """Session settings are ours, never a caller's; still, a name or value that could carry SQL is refused."""
    for name, value in settings.items():
        if not _SETTING_NAME.match(name) or any(c in str(value) for c in "';\\\n"):
            raise ValueError(f"invalid session setting {name!r}")


@dataclass
class ReadSession:
    """Read queries of one task run one after the other through this session. The base runs each on
    the connector as usual (no pinning; `settings` ignored); a connector that can do better (PostgreSQL)
    runs them on one connection, in one REPEATABLE READ READ ONLY transaction (every query sees the
    same snapshot), with the settings applied per statement (`SET LOCAL`). `snapshot` says what pins
    the reads (empty when nothing does)."""

    connector: Connector
    snapshot: dict[str, Any] = field(default_factory=dict)
    settings_pinned: bool = False  # the settings asked for hold for every statement of the session

    async def fetch_rows(
        self, sql: str, params: Sequence[Any] = (), *, settings: Mapping[str, str] | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one query; its rows as tuples (small results only)."""
        return await self.connector.fetch_rows(sql, params)

    def stream(self, sql: str, params: Sequence[Any] = (), *, batch_size: int = 50_000) -> AsyncIterator[pa.RecordBatch]:
        """Run one query; its result in record batches. Consume it whole before the next query."""
        return self.connector.stream(sql, params, batch_size=batch_size)

    async def stream_rows(
        self, sql: str, params: Sequence[Any] = (), *, batch_size: int = 50_000
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Run one query; its rows as tuples, at most `batch_size` at a time (as `stream`'s batches
        would give them back). Consume it whole before the next query."""
        async for batch in self.stream(sql, params, batch_size=batch_size):
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            yield list(zip(*columns, strict=True)) if columns else []

    @contextlib.asynccontextmanager
    async def parts(self, count: int) -> AsyncIterator[list[ReadSession]]:
        """At most `count` sessions (this one first) that read what this one reads, each on its own
        connection, for one scan split into key ranges run side by side. Unpinned reads: fresh
        sessions of the connector's pool. A session pinned to a snapshot that cannot be shared (the
        base, DuckDB's transaction): only itself."""
        if self.snapshot or count <= 1:
            yield [self]
            return
        yield [self, *(ReadSession(self.connector) for _ in range(count - 1))]


class Connector(ABC):
    """A connection (pool) to one database. Use as `async with connect(url) as db: ...`."""

    kind: ClassVar[str]  # sqlserver | snowflake | postgres | duckdb
    dialect: ClassVar[str]  # sqlglot dialect: tsql | snowflake | postgres | duckdb

    def __init__(self, url: str, *, timeout: float = 60.0, pool_size: int = 4) -> None:
        self.url = url
        self.timeout = timeout
        self.pool_size = pool_size

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Connector:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @abstractmethod
    async def fetch(self, sql: str, params: Sequence[Any] = (), *, limit: int | None = None) -> pa.Table:
        """Run one query; the result as an Arrow table (at most `limit` rows when given)."""

    async def fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one query; the result as a list of tuples (small results only)."""
        table = await self.fetch(sql, params)
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        return list(zip(*columns, strict=True)) if columns else []

    async def fetch_readonly(
        self, sql: str, params: Sequence[Any] = (), *, limit: int | None = None
    ) -> pa.Table:
        """User-written SQL: exactly one read-only query (checked by parsing it in this connector's
        dialect, `Invalid` otherwise), run in a read-only transaction where the database has one."""
        from ombudsman.engine.dialects import ensure_single_select

        ensure_single_select(sql, self.dialect)
        return await self.fetch(sql, params, limit=limit)

    @abstractmethod
    def stream(
        self, sql: str, params: Sequence[Any] = (), *, batch_size: int = 50_000
    ) -> AsyncIterator[pa.RecordBatch]:
        """Run one query; its result in record batches, never all in memory at once."""

    @abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run a statement that returns no rows (DDL, DML: loading test data, never in validators)."""

    @abstractmethod
    async def introspect(self, schemas: Sequence[str] | None = None) -> Any:
        """The catalog (ombudsman.contracts.catalog.Catalog) of the given schemas, or all."""

    @contextlib.asynccontextmanager
    async def read_session(
        self, settings: Mapping[str, str] | None = None, *, consistent: bool = True
    ) -> AsyncIterator[ReadSession]:
        """A session for a sequence of read queries (see ReadSession): `settings` pinned for every
        statement and, with `consistent`, one snapshot for all of them where the connector can."""
        yield ReadSession(self)

    def pool_stats(self) -> PoolStats:
        """The pool's figures now (all zero while the connector is not open)."""
        return PoolStats(size=self.pool_size, open=0, in_use=0, idle=0)

    @abstractmethod
    async def test(self) -> ConnectionTest:
        """Connect, report the server version and the round-trip latency; never raise."""

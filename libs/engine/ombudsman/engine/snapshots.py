"""One instant per side for a whole run: pinned once when the run starts, reused by every step.

`pin_run(connector)` pins a connection and says how (`RunPin.record`, what the run's events carry);
`at_pin(connector, record)` is the connector every step of the run reads through.

- **PostgreSQL**: a connection of its own holds a REPEATABLE READ READ ONLY transaction open for the
  run and exports its snapshot (`pg_export_snapshot()`); every query of the run, from any session or
  process of the same database, reads at it (`SET TRANSACTION SNAPSHOT '<id>'` as the first statement
  of its own REPEATABLE READ READ ONLY transaction) while the holder is open. If the holder is gone
  (its process died), a query cannot import the snapshot and fails: the step reports it instead of
  silently reading a later state.
- **Snowflake**: the server's CURRENT_TIMESTAMP at run start; every table of every query of the run is
  read `AT (TIMESTAMP => …)` (time travel). A table that keeps no time travel (transient, retention 0)
  is read live and the step says so (`details.unpinned`). fakesnow has no time travel: not pinned.
- **SQL Server**: a *database snapshot* (`CREATE DATABASE omb_snap_<id> … AS SNAPSHOT OF <db>`) is one
  instant every connection can read, so where the login may create one (not Azure SQL Database, the
  CREATE ANY DATABASE permission) the run gets one, every table of every query is read through it
  (`[omb_snap_<id>].[schema].[table]`), and it is dropped when the run ends; snapshots of the same
  database left by a dead worker, older than `OMB_SQLSERVER_SNAPSHOT_MAX_AGE` hours (24), are dropped
  at the next pin. Otherwise `sys.databases.snapshot_isolation_state` is recorded with the reason the
  run is not read at one instant (one transaction's snapshot cannot be shared between connections).
  Design note 26.
- **DuckDB**: no snapshot a second connection can share; each row_hash step reads in one transaction
  of its own (its own instant), and the record says so.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import ntpath
import os
import posixpath
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from ombudsman.engine.connectors.base import ConnectionTest, Connector, PoolStats, ReadSession

log = logging.getLogger("ombudsman.engine.snapshots")

_SNOWFLAKE_INSTANT = "SELECT TO_VARCHAR(CURRENT_TIMESTAMP(), 'YYYY-MM-DD HH24:MI:SS.FF9 TZHTZM')"
# one row: is SNAPSHOT isolation allowed on the database the connection uses, its name, the instant
SQLSERVER_SNAPSHOT_PROBE = (
    "SELECT snapshot_isolation_state, name, CONVERT(VARCHAR(33), SYSUTCDATETIME(), 126) "
    "FROM sys.databases WHERE name = DB_NAME()"
)

# one row: the engine edition (5 = Azure SQL Database, no database snapshots), whether the login may
# create a database, the database the connection uses
SQLSERVER_CAN_SNAPSHOT = (
    "SELECT CAST(SERVERPROPERTY('EngineEdition') AS INT), HAS_PERMS_BY_NAME(NULL, NULL, 'CREATE ANY DATABASE'), DB_NAME()"
)
SQLSERVER_DATA_FILES = "SELECT name, physical_name FROM sys.database_files WHERE type = 0"
# snapshots of this database left by an earlier run, older than ? hours (create_date is server local time)
SQLSERVER_STALE_SNAPSHOTS = (
    "SELECT name FROM sys.databases WHERE source_database_id = DB_ID() AND name LIKE 'omb[_]snap[_]%' "
    "AND create_date < DATEADD(HOUR, -?, GETDATE())"
)
SQLSERVER_SNAPSHOT_CREATED = "SELECT CONVERT(VARCHAR(33), create_date, 126) FROM sys.databases WHERE name = ?"


async def _nothing() -> None:
    return None


@dataclass
class RunPin:
    """How one connection of a run is pinned: `record` (JSON, for the run's events: `isolation`,
    `at`, `snapshot_id`, or `reason` when nothing pins it) and `release`, to call when the run ends."""

    record: dict[str, Any]
    release: Callable[[], Awaitable[None]] = field(default=_nothing)

    @property
    def pinned(self) -> bool:
        return self.record.get("isolation") not in (None, "none")


async def pin_run(connector: Connector) -> RunPin:
    """Pin `connector`'s reads for a run (see the module's docstring); never raises for a database
    that cannot be pinned (the record says why), raises when a pin that should work fails."""
    dialect = connector.dialect
    if connector.kind == "postgres":
        from ombudsman.engine.connectors.postgres import PostgresConnector

        assert isinstance(connector, PostgresConnector)
        conn, snapshot_id, at = await connector.export_snapshot()

        async def release() -> None:
            with contextlib.suppress(Exception):
                await conn.close()

        return RunPin({"isolation": "repeatable read", "at": at, "snapshot_id": snapshot_id,
                       "held_by": "a connection held open for the run"}, release)
    if dialect == "snowflake":
        if getattr(connector, "is_fakesnow", False):
            return RunPin({"isolation": "none", "reason": "fakesnow has no time travel"})
        at = str((await connector.fetch_rows(_SNOWFLAKE_INSTANT))[0][0])
        return RunPin({"isolation": "time travel", "at": at})
    if dialect == "tsql":
        return await _sqlserver_pin(connector)
    if dialect == "duckdb":
        return RunPin({"isolation": "none", "reason": (
            "DuckDB has no snapshot another connection can share: each row_hash step reads in one "
            "transaction of its own, other steps read the latest committed state")})
    return RunPin({"isolation": "none", "reason": f"{dialect} reads are not pinned to one snapshot"})


def sqlserver_record(rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """The run record of a SQL Server connection from SQLSERVER_SNAPSHOT_PROBE's row."""
    if not rows:
        return {"isolation": "none", "reason": "the database's snapshot_isolation_state could not be read"}
    state, name, at = rows[0]
    if int(state or 0) == 1:
        return {"isolation": "none", "snapshot_isolation": "on", "database": name, "at": at, "reason": (
            f"SNAPSHOT isolation is enabled on {name}, but SQL Server cannot share one transaction's "
            "snapshot between connections, so the run's steps are not read at one instant")}
    return {"isolation": "none", "snapshot_isolation": "off", "database": name, "at": at, "reason": (
        f"SNAPSHOT isolation is not enabled on {name} (ALTER DATABASE {name} SET "
        "ALLOW_SNAPSHOT_ISOLATION ON): reads are not pinned")}


def bracket(name: str) -> str:
    """A T-SQL identifier in brackets (`]` doubled)."""
    return "[" + name.replace("]", "]]") + "]"


def database_snapshot_refusal(edition: Any, may_create: Any) -> str | None:
    """Why no database snapshot can be taken (None when one can), from SQLSERVER_CAN_SNAPSHOT's row."""
    if int(edition or 0) == 5:
        return "Azure SQL Database has no database snapshots"
    if int(may_create or 0) != 1:
        return "the login lacks CREATE ANY DATABASE, needed for a database snapshot"
    return None


def create_snapshot_sql(database: str, snapshot: str, files: Sequence[tuple[str, str]]) -> str:
    """`CREATE DATABASE <snapshot> … AS SNAPSHOT OF <database>`: one sparse file per data file of the
    database, next to it (`files`: (logical name, physical path) from SQLSERVER_DATA_FILES)."""
    if not files:
        raise ValueError(f"{database} lists no data files")
    entries = []
    for name, physical in files:
        folder = ntpath.dirname(physical) if "\\" in physical else posixpath.dirname(physical)
        sep = "\\" if "\\" in physical else "/"
        path = f"{folder}{sep}{snapshot}_{name}.ss".replace("'", "''")
        entries.append(f"(NAME = {bracket(name)}, FILENAME = N'{path}')")
    return f"CREATE DATABASE {bracket(snapshot)} ON {', '.join(entries)} AS SNAPSHOT OF {bracket(database)}"


def snapshot_tables_sql(sql: str, database: str, snapshot: str) -> str:
    """`sql` (T-SQL) with every table of `database` (named with two parts, or three naming it) read
    from the database snapshot `snapshot`; its own CTE names and other databases' tables left alone."""
    tree = sqlglot.parse_one(sql, read="tsql")
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if not table.name or isinstance(table.this, exp.Func) or (not table.db and table.name.lower() in ctes):
            continue
        if table.catalog and table.catalog.lower() != database.lower():
            continue
        table.set("catalog", exp.to_identifier(snapshot, quoted=True))
        if not table.db:
            table.set("db", exp.to_identifier("dbo"))
    return tree.sql(dialect="tsql")


async def _sqlserver_pin(connector: Connector) -> RunPin:
    record = sqlserver_record(await connector.fetch_rows(SQLSERVER_SNAPSHOT_PROBE))
    edition, may_create, database = (await connector.fetch_rows(SQLSERVER_CAN_SNAPSHOT))[0]
    refusal = database_snapshot_refusal(edition, may_create)
    if refusal:
        return RunPin({**record, "database_snapshot": refusal})
    max_age = int(os.environ.get("OMB_SQLSERVER_SNAPSHOT_MAX_AGE", "24"))
    stale = [str(r[0]) for r in await connector.fetch_rows(SQLSERVER_STALE_SNAPSHOTS, (max_age,))]
    for name in stale:  # left by a worker that died before its run ended
        await connector.execute(f"DROP DATABASE {bracket(name)}")
    snapshot = f"omb_snap_{uuid.uuid4().hex}"
    files = [(str(n), str(p)) for n, p in await connector.fetch_rows(SQLSERVER_DATA_FILES)]
    await connector.execute(create_snapshot_sql(str(database), snapshot, files))
    at = (await connector.fetch_rows(SQLSERVER_SNAPSHOT_CREATED, (snapshot,)))[0][0]

    async def release() -> None:
        await connector.execute(f"DROP DATABASE {bracket(snapshot)}")

    return RunPin({"isolation": "database snapshot", "database": str(database), "snapshot": snapshot, "at": str(at),
                   **({"dropped_stale": stale} if stale else {})}, release)


async def pin_connectors(connectors: Mapping[str, Connector]) -> dict[str, RunPin]:
    """Pin every named connection of a run. One that cannot be pinned (its database refused) is read
    live, and its record says so, with the run's start instant (UTC) in place of a pinned one."""
    started = datetime.datetime.now(datetime.UTC).isoformat()
    pins: dict[str, RunPin] = {}
    try:
        for name, connector in connectors.items():
            try:
                pins[name] = await pin_run(connector)
            except Exception as exc:
                detail = str(getattr(exc, "message", None) or exc or type(exc).__name__).splitlines()[0][:300]
                pins[name] = RunPin({"isolation": "none", "at": started, "at_is": "the run's start, not a snapshot",
                                     "reason": f"could not be pinned, read live: {detail}"})
    except BaseException:
        await release_all(pins)
        raise
    return pins


async def release_all(pins: Mapping[str, RunPin]) -> None:
    """Release every pin (the run ended)."""
    for pin in pins.values():
        with contextlib.suppress(Exception):
            await pin.release()


def at_pin(connector: Connector, record: Mapping[str, Any] | None) -> Connector:
    """The connector a step of the run reads through: pinned as `record` says, else `connector` itself."""
    if not record or record.get("isolation") in (None, "none"):
        return connector
    if connector.kind == "postgres" and record.get("snapshot_id"):
        return PostgresAtSnapshot(connector, dict(record))
    if connector.dialect == "snowflake" and record.get("at"):
        return SnowflakeAtInstant(connector, dict(record))
    if connector.dialect == "tsql" and record.get("snapshot"):
        return SqlServerAtSnapshot(connector, dict(record))
    return connector


def pinned_connectors(connectors: Mapping[str, Connector], records: Mapping[str, Mapping[str, Any]]) -> dict[str, Connector]:
    """Every connector of a step at its run's pin (connections without a record are returned as they are)."""
    return {name: at_pin(c, records.get(name)) for name, c in connectors.items()}


class PinnedConnector(Connector):
    """A view of an open connector whose reads are pinned; the connector stays its owner's (close is
    a no-op). Writes (`execute`) go to the connector unchanged: validators never write."""

    def __init__(self, inner: Connector, record: dict[str, Any]) -> None:
        super().__init__(inner.url, timeout=inner.timeout, pool_size=inner.pool_size)
        self.inner = inner
        self.record = record
        self.kind = inner.kind  # type: ignore[misc]
        self.dialect = inner.dialect  # type: ignore[misc]
        self.unpinned: dict[str, str] = {}  # table -> why it was read live (Snowflake without time travel)

    def __getattr__(self, name: str) -> Any:  # is_fakesnow, database, server_version ...
        return getattr(self.inner, name)

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        return None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.inner.execute(sql, params)

    async def introspect(self, schemas: Sequence[str] | None = None) -> Any:
        return await self.inner.introspect(schemas)

    def pool_stats(self) -> PoolStats:
        return self.inner.pool_stats()

    async def test(self) -> ConnectionTest:
        return await self.inner.test()

    async def fetch_readonly(self, sql: str, params: Sequence[Any] = (), *, limit: int | None = None) -> pa.Table:
        from ombudsman.engine.dialects import ensure_single_select

        ensure_single_select(sql, self.dialect)
        return await self.fetch(sql, params, limit=limit)


class PostgresAtSnapshot(PinnedConnector):
    """Every read in its own REPEATABLE READ READ ONLY transaction at the run's exported snapshot."""

    @property
    def snapshot_id(self) -> str:
        return str(self.record["snapshot_id"])

    async def fetch(self, sql: str, params: Sequence[Any] = (), *, limit: int | None = None) -> pa.Table:
        return await self.inner.fetch_at(self.snapshot_id, sql, params, limit=limit)  # type: ignore[attr-defined]

    async def stream(self, sql: str, params: Sequence[Any] = (), *, batch_size: int = 50_000) -> AsyncIterator[pa.RecordBatch]:  # type: ignore[override]
        async for batch in self.inner.stream(sql, params, batch_size=batch_size, snapshot_id=self.snapshot_id):  # type: ignore[call-arg]
            yield batch

    @contextlib.asynccontextmanager
    async def read_session(
        self, settings: Mapping[str, str] | None = None, *, consistent: bool = True
    ) -> AsyncIterator[ReadSession]:
        async with self.inner.read_session(settings, consistent=True, snapshot_id=self.snapshot_id) as session:  # type: ignore[call-arg]
            session.snapshot = {**session.snapshot, "at": self.record.get("at"), "pinned": "run"}
            yield session


def time_travel_sql(sql: str, at: str) -> str:
    """`sql` (Snowflake) with every table it reads `AT (TIMESTAMP => '<at>'::TIMESTAMP_LTZ)`; names of
    its own CTEs and tables already read AT/BEFORE something are left as they are."""
    tree = sqlglot.parse_one(sql, read="snowflake")
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    instant = exp.Cast(this=exp.Literal.string(at), to=exp.DataType.build("timestamp_ltz", dialect="snowflake"))
    for table in tree.find_all(exp.Table):
        if not table.name or table.args.get("when") is not None or isinstance(table.this, exp.Func):
            continue
        if not table.db and table.name.lower() in ctes:
            continue
        table.set("when", exp.HistoricalData(this="AT", kind="TIMESTAMP", expression=instant.copy()))
    return tree.sql(dialect="snowflake")


def _no_time_travel(error: BaseException) -> bool:
    text = str(error).lower()
    return "time travel" in text or "retention" in text


class SnowflakeAtInstant(PinnedConnector):
    """Every table of every query read AT the run's instant; a table without time travel read live
    (and named in `unpinned`)."""

    async def fetch(self, sql: str, params: Sequence[Any] = (), *, limit: int | None = None) -> pa.Table:
        try:
            return await self.inner.fetch(time_travel_sql(sql, str(self.record["at"])), params, limit=limit)
        except Exception as exc:
            if not _no_time_travel(exc):
                raise
            self.unpinned[sql[:200]] = str(exc).splitlines()[0][:200]
            log.warning("time travel unavailable, read live: %s", self.unpinned[sql[:200]])
            return await self.inner.fetch(sql, params, limit=limit)

    async def stream(self, sql: str, params: Sequence[Any] = (), *, batch_size: int = 50_000) -> AsyncIterator[pa.RecordBatch]:  # type: ignore[override]
        async for batch in self.inner.stream(time_travel_sql(sql, str(self.record["at"])), params, batch_size=batch_size):
            yield batch

    @contextlib.asynccontextmanager
    async def read_session(
        self, settings: Mapping[str, str] | None = None, *, consistent: bool = True
    ) -> AsyncIterator[ReadSession]:
        # the base session: one query after the other through this view, so each is read AT the instant
        yield ReadSession(self, snapshot={"isolation": "time travel", "at": self.record["at"], "pinned": "run"})


class SqlServerAtSnapshot(PinnedConnector):
    """Every table of every query read from the run's database snapshot."""

    def _pinned(self, sql: str) -> str:
        return snapshot_tables_sql(sql, str(self.record["database"]), str(self.record["snapshot"]))

    async def fetch(self, sql: str, params: Sequence[Any] = (), *, limit: int | None = None) -> pa.Table:
        return await self.inner.fetch(self._pinned(sql), params, limit=limit)

    async def stream(self, sql: str, params: Sequence[Any] = (), *, batch_size: int = 50_000) -> AsyncIterator[pa.RecordBatch]:  # type: ignore[override]
        async for batch in self.inner.stream(self._pinned(sql), params, batch_size=batch_size):
            yield batch

    @contextlib.asynccontextmanager
    async def read_session(
        self, settings: Mapping[str, str] | None = None, *, consistent: bool = True
    ) -> AsyncIterator[ReadSession]:
        yield ReadSession(self, snapshot={"isolation": "database snapshot", "snapshot": self.record["snapshot"],
                                          "at": self.record.get("at"), "pinned": "run"})

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
- **SQL Server**: `sys.databases.snapshot_isolation_state` is probed and recorded. SQL Server cannot
  share one transaction's snapshot between connections (no exported snapshot), so a run's steps are
  not read at one instant; the record says whether SNAPSHOT isolation is enabled and that.
- **DuckDB**: no snapshot a second connection can share; each row_hash step reads in one transaction
  of its own (its own instant), and the record says so.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
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
        return RunPin(sqlserver_record(await connector.fetch_rows(SQLSERVER_SNAPSHOT_PROBE)))
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

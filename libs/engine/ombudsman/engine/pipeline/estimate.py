"""A price before running: per step, the rows and bytes each side will scan, the seconds, and for
Snowflake the warehouse credits, from table statistics and a measured scan rate; no step is run.

- rows and bytes: PostgreSQL `pg_class.reltuples` and `pg_relation_size`; DuckDB
  `duckdb_tables().estimated_size` (bytes: rows x the row width of its column types); Snowflake
  `INFORMATION_SCHEMA.TABLES.ROW_COUNT` / `BYTES`; SQL Server `sys.dm_db_partition_stats`.
- rate: a bounded count scan of the table (`SELECT COUNT(*) FROM (SELECT * FROM t LIMIT 100000)`),
  timed; a table smaller than the bound is thereby counted exactly. For validators that read every
  column of every row as text (row_hash) the probe also sums each row's length as text, so its rate
  is what rendering the rows costs, not a bare count.
- scans: 0 for the schema validators (catalog only), otherwise one full scan per side (row_hash: its
  first checksum scan; refining differing buckets reads only those buckets' rows, not counted).
- credits: seconds x the warehouse's credits per hour (its size from SHOW WAREHOUSES, X-Small when
  it cannot be read, and then said so) / 3600.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from sqlglot import exp

from ombudsman.contracts.pipeline import PipelineSpec, Step, TableRef
from ombudsman.contracts.results import PipelinePlan, SideCost, StepCost, StepResult
from ombudsman.engine.connectors.base import Connector
from ombudsman.engine.validators import sql as q
from ombudsman.engine.validators.base import get_validator

PROBE_ROWS = 100_000  # the plan's probe
RUN_PROBE_ROWS = 10_000  # a real step's probe (its estimate is recorded beside what it took): kept cheap
CREDITS_PER_HOUR = {"X-SMALL": 1, "XSMALL": 1, "SMALL": 2, "MEDIUM": 4, "LARGE": 8, "X-LARGE": 16, "XLARGE": 16,
                    "2X-LARGE": 32, "3X-LARGE": 64, "4X-LARGE": 128, "5X-LARGE": 256, "6X-LARGE": 512}
DUCKDB_ROWS = "SELECT estimated_size FROM duckdb_tables() WHERE table_name = ? AND schema_name = ?"
DUCKDB_STATS = ("SELECT t.estimated_size, (SELECT list(c.data_type) FROM duckdb_columns() AS c "
                "WHERE c.table_oid = t.table_oid) FROM duckdb_tables() AS t WHERE t.table_name = ? AND t.schema_name = ?")
_DUCKDB_WIDTHS = {"BOOLEAN": 1, "TINYINT": 1, "SMALLINT": 2, "INTEGER": 4, "BIGINT": 8, "HUGEINT": 16, "FLOAT": 4,
                  "DOUBLE": 8, "DATE": 4, "TIME": 8, "TIMESTAMP": 8, "UUID": 16}
SQLSERVER_STATS = ("SELECT SUM(ps.row_count), SUM(ps.used_page_count) * 8192 FROM sys.dm_db_partition_stats AS ps "
                   "WHERE ps.object_id = OBJECT_ID(?) AND ps.index_id IN (0, 1)")


def _name(ref: TableRef, dialect: str) -> str:
    return q.table(ref).sql(dialect=dialect, identify=True)


async def table_statistics(connector: Connector, ref: TableRef, *, widths: bool = True) -> tuple[int | None, int | None, str]:
    """(rows, bytes, where from) of a table from its database's statistics, without scanning it
    (`widths`: DuckDB's bytes from its column types, one catalog function more)."""
    dialect = connector.dialect
    if dialect == "postgres":
        rows = await connector.fetch_rows(
            "SELECT reltuples::bigint, pg_relation_size(oid) FROM pg_class WHERE oid = to_regclass(?)",
            [_name(ref, dialect)])
        if rows and rows[0][0] is not None and int(rows[0][0]) >= 0:
            return int(rows[0][0]), int(rows[0][1]), "pg_class.reltuples, pg_relation_size"
        size = int(rows[0][1]) if rows and rows[0][1] is not None else None
        return None, size, "pg_relation_size (never analysed: no row estimate)"
    if dialect == "duckdb" and not widths:
        rows = await connector.fetch_rows(DUCKDB_ROWS, [ref.name, ref.schema_name or "main"])
        return (int(rows[0][0]) if rows and rows[0][0] is not None else None), None, "duckdb_tables().estimated_size"
    if dialect == "duckdb":
        rows = await connector.fetch_rows(DUCKDB_STATS, [ref.name, ref.schema_name or "main"])
        if not rows or rows[0][0] is None:
            return None, None, "duckdb_tables() (table not found)"
        width = duckdb_row_width(list(rows[0][1] or []))
        return (int(rows[0][0]), int(rows[0][0]) * width,
                f"duckdb_tables().estimated_size; bytes = rows x {width} B (row width from column types)")
    if dialect == "snowflake":
        sql = "SELECT ROW_COUNT, BYTES FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = ?"
        params = [ref.name]
        if ref.schema_name:
            sql += " AND TABLE_SCHEMA = ?"
            params.append(ref.schema_name)
        rows = await connector.fetch_rows(sql, params)
        if rows and rows[0][0] is not None:
            size = int(rows[0][1]) if rows[0][1] else None  # fakesnow reports 0 bytes
            return int(rows[0][0]), size, "INFORMATION_SCHEMA.TABLES.ROW_COUNT, BYTES"
        return None, None, "INFORMATION_SCHEMA.TABLES (table not found)"
    if dialect == "tsql":
        rows = await connector.fetch_rows(SQLSERVER_STATS, [_name(ref, dialect)])
        if rows and rows[0][0] is not None:
            return int(rows[0][0]), int(rows[0][1]), "sys.dm_db_partition_stats"
    return None, None, f"no statistics read on {dialect}"


def duckdb_row_width(types: list[str]) -> int:
    """A row's bytes from DuckDB's column type names (DECIMAL 16, strings and others 16: a guess)."""
    return sum(_DUCKDB_WIDTHS.get(str(t).split("(")[0].upper(), 16) for t in types) or 16


# the whole row as text, per dialect: what a row diff pays for (its canonical row text and hash)
_ROW_TEXT = {"postgres": "LENGTH(CAST(probe AS TEXT))", "duckdb": "LENGTH(CAST(probe AS VARCHAR))",
             "snowflake": "LENGTH(TO_VARCHAR(OBJECT_CONSTRUCT(*)))"}


def probe_query(ref: TableRef, dialect: str, limit: int | None = None, *, row_text: bool = False) -> str:
    """The bounded scan whose time gives the scan rate: a count, or (`row_text`, for validators that
    read every column of every row) the count and the summed length of each row rendered as text."""
    inner = exp.select(exp.Star()).from_(q.table(ref)).limit(limit or PROBE_ROWS)
    projections: list[exp.Expr] = [q.count_star()]
    if row_text and dialect in _ROW_TEXT:
        projections.append(exp.Sum(this=sqlglot_expression(_ROW_TEXT[dialect], dialect)))
    query = exp.select(*projections).from_(inner.subquery("probe"))
    return q.render(query, dialect)[0]


def sqlglot_expression(text: str, dialect: str) -> exp.Expr:
    import sqlglot

    return sqlglot.parse_one(text, read=dialect)


async def scan_rate(connector: Connector, ref: TableRef, *, row_text: bool = False,
                    limit: int | None = None) -> tuple[int, float]:
    """(rows the probe read, seconds it took); a row-text probe the database refuses falls back to a count."""
    started = time.perf_counter()
    try:
        rows = await connector.fetch_rows(probe_query(ref, connector.dialect, limit, row_text=row_text))
    except Exception:
        if not row_text:
            raise
        started = time.perf_counter()
        rows = await connector.fetch_rows(probe_query(ref, connector.dialect, limit))
    return int(rows[0][0]), max(time.perf_counter() - started, 1e-6)


async def credits_per_hour(connector: Connector) -> tuple[float, str | None]:
    """The connection's warehouse's credits per hour, and a note when it had to be assumed."""
    warehouse = str(getattr(connector, "connect_args", {}).get("warehouse") or "")
    if warehouse and not getattr(connector, "is_fakesnow", False):
        try:
            table = await connector.fetch(f"SHOW WAREHOUSES LIKE '{warehouse.replace(chr(39), '')}'")
            sizes = table.column("size").to_pylist() if "size" in table.column_names else []
            if sizes and str(sizes[0]).upper() in CREDITS_PER_HOUR:
                return float(CREDITS_PER_HOUR[str(sizes[0]).upper()]), None
        except Exception:
            pass
    return 1.0, "warehouse size unknown: X-Small (1 credit per hour) assumed"


async def estimate_side(connector: Connector, ref: TableRef, scans: int, *, catalog_widths: bool = True,
                        row_text: bool = False, probe_rows: int | None = None) -> SideCost:
    """One side's price: statistics, the measured rate, seconds and (Snowflake) credits.
    `catalog_widths`: where the statistics give no bytes, read the column types for a row width
    (two more queries; a real run's step skips them)."""
    cost = SideCost(table=str(ref), scans=scans)
    notes: list[str] = []
    try:
        cost.rows, cost.bytes, cost.statistics = await table_statistics(connector, ref, widths=catalog_widths)
    except Exception as exc:
        notes.append(f"statistics unreadable: {str(exc).splitlines()[0][:160]}")
    if scans:
        try:
            limit = probe_rows or PROBE_ROWS
            probed, seconds = await scan_rate(connector, ref, row_text=row_text, limit=limit)
            if probed < limit:  # the whole table was read: its exact count
                cost.rows, cost.statistics = probed, (cost.statistics + "; rows counted by the probe").lstrip("; ")
            cost.rate_rows_per_second = round(probed / seconds, 1)
            if cost.rows is not None:
                cost.seconds = round(scans * seconds * max(cost.rows, 1) / max(probed, 1), 3)
        except Exception as exc:
            notes.append(f"scan rate not measured: {str(exc).splitlines()[0][:160]}")
    if cost.bytes is None and cost.rows is not None and catalog_widths:
        from ombudsman.engine.rowdiff.plan import column_types
        from ombudsman.engine.rowdiff.scan import row_bytes

        try:
            width = row_bytes(list((await column_types(connector, ref)).values()))
            cost.bytes = cost.rows * width
            notes.append(f"bytes = rows x {width} B (row width from column types)")
        except Exception:
            pass
    if scans and cost.bytes is not None:
        cost.bytes *= scans
    if connector.dialect == "snowflake" and cost.seconds is not None:
        per_hour, assumed = await credits_per_hour(connector)
        cost.credits = round(cost.seconds * per_hour / 3600, 6)
        if assumed:
            notes.append(assumed)
    if not scans:
        notes.append("catalog only: the table is not scanned")
    cost.note = "; ".join(notes) or None
    return cost


ROW_TEXT_VALIDATORS = frozenset({"row_hash"})  # read every column of every row: timed by the row-text probe


def step_scans(step: Step) -> int:
    """Full scans per side: none for schema checks (catalog), one otherwise."""
    return 0 if get_validator(step.validator).category == "schema" else 1


async def estimate_step(spec: PipelineSpec, step: Step, connectors: Mapping[str, Connector], *,
                        catalog_widths: bool = True, probe_rows: int | None = None) -> StepCost:
    """A step's price (both sides estimated at once)."""
    cost = StepCost(step=step.id, validator=step.validator)
    if step.source_table is None:
        return cost
    scans = step_scans(step)
    refs = {"source": step.source_table, "target": step.target_table or step.source_table}
    names = {"source": spec.source_connection(step), "target": spec.target_connection(step)}
    cases = {"source": spec.identifier_case(step, "source"), "target": spec.identifier_case(step, "target")}
    sides = await asyncio.gather(*[
        estimate_side(connectors[names[s]], _fold(refs[s], cases[s]), scans, catalog_widths=catalog_widths,
                      row_text=step.validator in ROW_TEXT_VALIDATORS, probe_rows=probe_rows)
        for s in ("source", "target")])
    cost.source, cost.target = sides
    seconds = [s.seconds for s in sides if s.seconds is not None]
    cost.seconds = max(seconds) if seconds else None
    credits = [s.credits for s in sides if s.credits is not None]
    cost.credits = round(sum(credits), 6) if credits else None
    return cost


def _fold(ref: TableRef, case: str) -> TableRef:
    def fold(name: str | None) -> str | None:
        if name is None:
            return None
        return name.upper() if case == "upper" else name.lower() if case == "lower" else name

    return TableRef(name=fold(ref.name) or ref.name, schema_name=fold(ref.schema_name), database=fold(ref.database))


async def plan_pipeline(spec: PipelineSpec, *, env: Mapping[str, str] | None = None,
                        connectors: Mapping[str, Connector] | None = None, only: list[str] | None = None) -> PipelinePlan:
    """Price every step (or those in `only`) before running: opens the connections, reads statistics,
    measures scan rates; runs no validator and records nothing."""
    from contextlib import AsyncExitStack

    from ombudsman.engine.pipeline.runner import open_for_steps, validate_pipeline

    validate_pipeline(spec)
    steps = [s for s in spec.steps if only is None or s.id in only]
    async with AsyncExitStack() as stack:
        opened = await open_for_steps(stack, spec, steps, connectors, env=env)
        costs = [await estimate_step(spec, step, opened) for step in steps]
    seconds = [c.seconds for c in costs if c.seconds is not None]
    credits = [c.credits for c in costs if c.credits is not None]
    return PipelinePlan(name=spec.name, steps=costs, seconds=round(sum(seconds), 3) if seconds else None,
                        credits=round(sum(credits), 6) if credits else None)


def actual_vs_estimated(estimated: StepCost, result: StepResult) -> dict[str, Any]:
    """What a run records per step (`details.cost`): the estimate, and what the step actually took:
    its seconds and, where the validator reports them, the rows it read per side (bytes then
    scaled from the estimate's bytes per row)."""
    actual: dict[str, Any] = {"seconds": result.duration_seconds}
    for side in ("source", "target"):
        figures, guess = getattr(result, side), getattr(estimated, side)
        rows = next((figures[k] for k in ("row_count", "rows") if isinstance(figures.get(k), int)), None)
        entry: dict[str, Any] = {"rows": rows}
        if rows is not None and guess is not None and guess.bytes and guess.rows:
            entry["bytes"] = round(rows * guess.bytes / guess.rows)
        actual[side] = entry
    return {"estimated": estimated.model_dump(exclude_none=True), "actual": actual}

"""Every validator that compares values across the sides uses row_hash's canonical normalisation.

Source: real PostgreSQL with CHAR(n) codes (blank-padded), floats, NUMERIC and microsecond timestamps.
Targets: DuckDB and Snowflake (fakesnow), tables and columns named in upper case, the codes as trimmed
VARCHAR, the floats with noise far below the compared digits (x * (1 + 1e-7)), timestamps declared at
nanosecond precision. Every trap must pass; a target holding a real defect must fail, and its result
must say where (`details.table`, `details.columns`, the message naming them).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ombudsman.contracts.pipeline import TableRef
from ombudsman.contracts.results import StepResult
from ombudsman.engine.connectors import Connector, connect
from ombudsman.engine.validators import ValidationContext, get_validator, run_validator

REGIONS = [(1, "EU", "Europe"), (2, "US", "United States"), (3, "APAC", "Asia Pacific")]
STATUSES = ("shipped", "open", "returned", "pending")
NOISE = 1 + 1e-7  # float noise far below the 6 significant digits compared


@dataclass(frozen=True)
class Sale:
    sale_id: int
    region_sk: int
    status: str
    note: str
    amount: float
    price: Decimal
    sold_at: dt.datetime


SALES = [
    Sale(i, 1 + i % 3, STATUSES[i % 4], "gift  " if i % 5 == 0 else "plain", round(i * 12.345678, 6),
         Decimal(i * 125) / 100, dt.datetime(2024, 1, 1 + i % 28, 10, 0, 0, i * 1000 + 456))
    for i in range(1, 31)
]
# the defects of the *_DEFECT tables
CHANGED_AMOUNT, LOST_STATUS, SPACE_NOTE, CHANGED_PRICE, DUPLICATED = 7, 8, 10, 3, 5
# statuses whose sums differ: sales 7 and 3 are 'pending', sale 8 left 'shipped' for the new status 'lost'
DEFECT_GROUPS = {STATUSES[CHANGED_AMOUNT % 4], STATUSES[CHANGED_PRICE % 4], STATUSES[LOST_STATUS % 4], "lost"}


def _q(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


async def _load_source(url: str) -> None:
    async with connect(url) as db:
        await db.execute("CREATE TABLE dim_region (region_sk integer, region_code char(5), region_name varchar(30))")
        await db.execute("INSERT INTO dim_region VALUES " + ", ".join(f"({k}, {_q(c)}, {_q(n)})" for k, c, n in REGIONS))
        await db.execute(
            "CREATE TABLE sales (sale_id integer PRIMARY KEY, region_sk integer, status char(10), note varchar(20), "
            "amount double precision, price numeric(12, 2), sold_at timestamp(6))"
        )
        await db.execute("INSERT INTO sales VALUES " + ", ".join(
            f"({s.sale_id}, {s.region_sk}, {_q(s.status)}, {_q(s.note)}, {s.amount!r}, {s.price}, "
            f"TIMESTAMP '{s.sold_at.isoformat(sep=' ')}')" for s in SALES
        ))


def _target_sales(defect: bool) -> list[Sale]:
    rows = []
    for s in SALES:
        amount = s.amount * NOISE
        status, note, price = s.status, s.note, s.price
        if defect and s.sale_id == CHANGED_AMOUNT:
            amount = s.amount * 1.1
        if defect and s.sale_id == LOST_STATUS:
            status = "lost"
        if defect and s.sale_id == SPACE_NOTE:
            note = "gift "  # one genuine trailing space where the source has two
        if defect and s.sale_id == CHANGED_PRICE:
            price = s.price + Decimal("0.01")
        rows.append(Sale(s.sale_id, s.region_sk, status, note, amount, price, s.sold_at))
    return rows


async def _load_target(url: str, kind: str) -> None:
    """Upper-case names, VARCHAR codes without padding, noisy floats, nanosecond timestamps."""
    ts, number, text, double = {
        "duckdb": ("TIMESTAMP_NS", "DECIMAL(12, 2)", "VARCHAR", "DOUBLE"),
        "fakesnow": ("TIMESTAMP_NTZ(9)", "NUMBER(12, 2)", "VARCHAR", "DOUBLE"),
        "postgres": ("TIMESTAMP(6)", "NUMERIC(12, 2)", "VARCHAR", "DOUBLE PRECISION"),  # case-sensitive names
    }[kind]
    nanoseconds = "" if kind == "postgres" else "789"  # PostgreSQL would round them, not keep them
    async with connect(url) as db:
        for suffix, defect in (("", False), ("_DEFECT", True)):
            await db.execute(f'CREATE TABLE "DIM_REGION{suffix}" ("REGION_SK" INTEGER, "REGION_CODE" {text}, "REGION_NAME" {text})')
            regions = [(k, "EX" if defect and c == "EU" else c, n) for k, c, n in REGIONS]
            await db.execute(f'INSERT INTO "DIM_REGION{suffix}" VALUES ' + ", ".join(f"({k}, {_q(c)}, {_q(n)})" for k, c, n in regions))
        for suffix, rows in (("", _target_sales(False)), ("_DEFECT", _target_sales(True)),
                             ("_DUP", _target_sales(False) + [s for s in _target_sales(False) if s.sale_id == DUPLICATED])):
            await db.execute(
                f'CREATE TABLE "SALES{suffix}" ("SALE_ID" INTEGER, "REGION_SK" INTEGER, "STATUS" {text}, "NOTE" {text}, '
                f'"AMOUNT" {double}, "PRICE" {number}, "SOLD_AT" {ts})'
            )
            await db.execute(f'INSERT INTO "SALES{suffix}" VALUES ' + ", ".join(
                f"({s.sale_id}, {s.region_sk}, {_q(s.status)}, {_q(s.note)}, {s.amount!r}, {s.price}, "
                f"CAST('{s.sold_at.isoformat(sep=' ')}{nanoseconds}' AS {ts}))" for s in rows  # ns more than the source
            ))


@dataclass
class Case:
    id: str
    validator: str
    params: dict[str, Any]
    defect_params: dict[str, Any] | None = None  # default: params, on the *_DEFECT tables
    table: str | None = "sales"
    check_defect: Callable[[StepResult], bool] = lambda r: True
    columns: list[str] = field(default_factory=list)  # the columns the defect's result must name


def _sample(result: StepResult, key: str) -> list[Any]:
    return [row.get(key) for row in result.sample]


CUSTOM_SQL = "select status, sum(amount) as total, count(*) as n, max(sold_at) as last_sold from {table} group by status"
CONFORMANCE = {"dimension": "dim_region", "fact_key": "region_sk", "dim_key": "region_sk", "target_dim_key": "REGION_SK",
               "attribute": "region_code", "measure": "amount"}
CASES = [
    Case("domain_values_char_codes", "domain_values", {"column": "status"},
         check_defect=lambda r: _sample(r, "value") == ["lost"], columns=["status"]),
    Case("domain_values_trailing_spaces", "domain_values", {"column": "note"},
         check_defect=lambda r: _sample(r, "value") == ["gift "], columns=["note"]),
    Case("domain_values_allowed", "domain_values", {"column": "status", "allowed": list(STATUSES)},
         check_defect=lambda r: r.target["outside"] == 1 and _sample(r, "value") == ["lost"], columns=["status"]),
    Case("metric_sums_by_char_key", "metric_sums", {"measures": ["amount", "price"], "group_by": ["status"]},
         check_defect=lambda r: {s["status"] for s in r.sample} == DEFECT_GROUPS
         and r.details["group_by"] == ["status"], columns=["status", "amount", "price"]),
    Case("metric_averages_by_char_key", "metric_averages", {"measures": ["amount"], "group_by": ["status"]},
         check_defect=lambda r: {s["status"] for s in r.sample} == DEFECT_GROUPS, columns=["status", "amount"]),
    Case("fact_dim_conformance_char_attribute", "fact_dim_conformance",
         {**CONFORMANCE, "target_dimension": "DIM_REGION"},
         defect_params={**CONFORMANCE, "target_dimension": "DIM_REGION_DEFECT"},
         check_defect=lambda r: {(s["issue"], s["member"]) for s in r.sample} == {("missing in target", "EU"), ("extra in target", "EX")},
         columns=["region_code"]),
    Case("custom_query_char_float_timestamp", "custom_query",
         {"source_sql": CUSTOM_SQL.format(table="sales"), "target_sql": CUSTOM_SQL.format(table="SALES"), "key_columns": ["status"]},
         defect_params={"source_sql": CUSTOM_SQL.format(table="sales"), "target_sql": CUSTOM_SQL.format(table="SALES_DEFECT"),
                        "key_columns": ["status"]},
         table=None,
         check_defect=lambda r: {s["status"] for s in r.sample} == DEFECT_GROUPS, columns=["status", "total"]),
    Case("custom_query_multiset", "custom_query",
         {"source_sql": "select status, note, amount from sales", "target_sql": "select status, note, amount from SALES"},
         defect_params={"source_sql": "select status, note, amount from sales", "target_sql": "select status, note, amount from SALES_DEFECT"},
         table=None,
         check_defect=lambda r: len(r.sample) == 6, columns=["status", "note", "amount"]),
    Case("column_aggregates", "column_aggregates", {"columns": ["status", "note", "amount", "price", "sold_at"]},
         check_defect=lambda r: {(s["column"], s["aggregate"]) for s in r.sample}
         == {("amount", "sum"), ("price", "sum"), ("status", "count_distinct"), ("note", "count_distinct")},
         columns=["amount", "price", "status", "note"]),
    Case("statistics_of_floats", "statistics", {"columns": ["amount"], "percentiles": [0.5]},
         check_defect=lambda r: {s["figure"] for s in r.sample} == {"mean", "stddev"}, columns=["amount"]),
    Case("ts_rolling_drift_of_floats", "ts_rolling_drift",
         {"time_column": "sold_at", "grain": "day", "measure": "amount", "window": 3},
         check_defect=lambda r: len(r.sample) == 3, columns=["amount"]),  # the 3 windows holding sale 7's day
    Case("row_hash", "row_hash", {"key": ["sale_id"]},
         check_defect=lambda r: r.details["changed_columns"] == {"amount": 1, "status": 1, "note": 1, "price": 1},
         columns=["sale_id", "amount", "status", "note", "price"]),
]


# a distribution over 30 rows cannot show one changed row significantly: only its trap is checked here
TRAPS_ONLY = [Case("distribution_of_char_codes", "distribution", {"column": "status", "kind": "categorical"})]


async def _run(source: Connector, target: Connector, case: Case, defect: bool) -> StepResult:
    params = (case.defect_params or case.params) if defect else case.params
    ctx = ValidationContext(source=source, target=target, step_id=case.id)
    if case.table:
        ctx.source_table = TableRef(name=case.table)
        ctx.target_table = TableRef(name=case.table.upper() + ("_DEFECT" if defect and not case.defect_params else ""))
    return await run_validator(get_validator(case.validator), ctx, params)


@pytest.fixture(params=["duckdb", "fakesnow", "postgres"])
def target(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(kind, URL): DuckDB, Snowflake (fakesnow), and PostgreSQL, whose upper-case quoted names only
    match case-sensitively (DuckDB and fakesnow find any case)."""
    fixture = {"duckdb": "duckdb_url", "fakesnow": "fakesnow_url", "postgres": "warehouse_url"}[request.param]
    return request.param, request.getfixturevalue(fixture)


async def test_traps_pass_and_defects_fail_with_their_location(database_url: str, target: tuple[str, str]) -> None:
    kind, target_url = target
    await _load_source(database_url)
    await _load_target(target_url, kind)
    async with connect(database_url) as source, connect(target_url) as target_db:
        problems = await _matrix(source, target_db, kind)
    assert not problems, "\n".join(problems)


async def _matrix(source: Connector, target: Connector, kind: str) -> list[str]:
    problems = []
    # user SQL is never folded (README): unquoted names find a PostgreSQL target's upper-case ones only
    # in DuckDB and Snowflake, so the custom queries run against those two
    cases = [c for c in CASES if kind != "postgres" or c.validator != "custom_query"]
    for case in cases:
        trap = await _run(source, target, case, defect=False)
        if trap.status != "passed":
            problems.append(f"{case.id}: trap reported {trap.status}: {trap.message}")
        defect = await _run(source, target, case, defect=True)
        if defect.status != "failed":
            problems.append(f"{case.id}: defect not found ({defect.status}): {defect.message}")
            continue
        if not case.check_defect(defect):
            problems.append(f"{case.id}: wrong findings: {defect.message} {defect.sample}")
        named = [c.lower() for c in defect.details.get("columns", [])]
        if not set(case.columns) <= set(named):
            problems.append(f"{case.id}: details.columns {named} lack {case.columns}")
        if any(c not in defect.message.lower() for c in case.columns):
            problems.append(f"{case.id}: the message does not name {case.columns}: {defect.message}")
        if case.table and (defect.details.get("table") != case.table or "sales" not in defect.message.lower()):
            problems.append(f"{case.id}: the table is not named: {defect.details.get('table')!r}, {defect.message}")
    for case in TRAPS_ONLY:
        trap = await _run(source, target, case, defect=False)
        if trap.status != "passed":
            problems.append(f"{case.id}: trap reported {trap.status}: {trap.message}")
    return problems


async def test_row_hash_reports_a_key_loaded_twice_as_a_duplicate(database_url: str, duckdb_url: str) -> None:
    await _load_source(database_url)
    await _load_target(duckdb_url, "duckdb")
    async with connect(database_url) as source, connect(duckdb_url) as target:
        ctx = ValidationContext(source=source, target=target, source_table=TableRef(name="sales"),
                                target_table=TableRef(name="SALES_DUP"))
        result = await run_validator(get_validator("row_hash"), ctx, {"key": ["sale_id"]})
    assert result.status == "failed", result.message
    assert result.target["only_in_target"] == 0 and result.details["duplicates"] == {"source": 0, "target": 1}
    [row] = result.sample
    assert row["kind"] == "duplicate_in_target" and row["key"] == {"sale_id": str(DUPLICATED)}
    assert (row["source_count"], row["target_count"]) == (1, 2)
    assert "duplicate" in result.message and "sale_id" in result.message and result.details["columns"] == ["sale_id"]

    # a custom query keyed by sale_id: the key twice in the target is a duplicate, not a changed row
    async with connect(database_url) as source, connect(duckdb_url) as target:
        ctx = ValidationContext(source=source, target=target, step_id="dup")
        result = await run_validator(get_validator("custom_query"), ctx, {
            "source_sql": "select sale_id, amount from sales", "target_sql": "select sale_id, amount from SALES_DUP",
            "key_columns": ["sale_id"],
        })
    assert result.status == "failed", result.message
    assert result.sample == [{"issue": "duplicate key in target", "sale_id": DUPLICATED, "rows": 2}]
    assert "1 keys on more than one row" in result.message


async def test_the_full_list_of_differing_groups_goes_to_output(database_url: str, duckdb_url: str, tmp_path: Path) -> None:
    """The sample is cut to the step's sample_limit; `output` receives every differing group, in the
    row diff's line format (one line per differing measure of a changed group, one per one-sided group)."""
    await _load_source(database_url)
    await _load_target(duckdb_url, "duckdb")
    output = tmp_path / "groups.csv"
    async with connect(database_url) as source, connect(duckdb_url) as target:
        ctx = ValidationContext(source=source, target=target, source_table=TableRef(name="sales"),
                                target_table=TableRef(name="SALES_DEFECT"), sample_limit=1)
        params = {"measures": ["amount", "price"], "group_by": ["status"], "output": str(output)}
        result = await run_validator(get_validator("metric_sums"), ctx, params)
    assert result.status == "failed" and len(result.sample) == 1 and result.details["differing_groups"] == 3
    lines = list(csv.DictReader(output.read_text(encoding="utf-8").splitlines()))
    found = {(line["kind"], json.loads(line["key"])["status"], line["column"]) for line in lines}
    pending, shipped = STATUSES[CHANGED_AMOUNT % 4], STATUSES[LOST_STATUS % 4]
    assert found == {
        ("changed", pending, "amount"), ("changed", pending, "price"),
        ("changed", shipped, "amount"), ("changed", shipped, "price"), ("changed", shipped, "row_count"),
        ("only_in_target", "lost", ""),  # a group on one side only: one line, no column
    }, lines
    assert str(output) in result.message


async def test_output_files_stay_inside_the_allowed_folders(
    database_url: str, duckdb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step's `output` is hostile input like a connection URL: on the platform it must lie inside
    OMB_FILE_ROOTS (else an error result naming the parameter, and no file written)."""
    await _load_source(database_url)
    await _load_target(duckdb_url, "duckdb")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    monkeypatch.setenv("OMB_FILE_ROOTS", str(allowed))
    monkeypatch.setenv("OMB_DATABASE_URL", "postgresql://platform.invalid/ombudsman")
    outside = tmp_path / "elsewhere.csv"
    async with connect(database_url) as source, connect(duckdb_url) as target:
        for validator, params in (("row_hash", {"key": ["sale_id"]}),
                                  ("metric_sums", {"measures": ["amount"], "group_by": ["status"]}),
                                  ("domain_values", {"column": "status"})):
            ctx = ValidationContext(source=source, target=target, source_table=TableRef(name="sales"),
                                    target_table=TableRef(name="SALES_DEFECT"))
            refused = await run_validator(get_validator(validator), ctx, {**params, "output": str(outside)})
            assert refused.status == "error" and "parameters.output" in refused.message, refused.message
            assert "OMB_FILE_ROOTS" in refused.message and not outside.exists()
            inside = allowed / f"{validator}.csv"
            ctx = ValidationContext(source=source, target=target, source_table=TableRef(name="sales"),
                                    target_table=TableRef(name="SALES_DEFECT"))
            written = await run_validator(get_validator(validator), ctx, {**params, "output": str(inside)})
            assert written.status == "failed", written.message
            assert len(list(csv.DictReader(inside.read_text(encoding="utf-8").splitlines()))) > 0

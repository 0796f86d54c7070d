"""Every validator between two real DuckDB databases: a clean copy passes, the defective copy fails
with the injected difference found, and every query it generated renders as valid T-SQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from ombudsman.engine.pipeline.sample import source_data, target_data, write_duckdb
from ombudsman.engine.validators import validators

from .cases import CASES, Case, run_case
from .tsql import tables


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder: Path = tmp_path_factory.mktemp("warehouse")
    source = source_data()
    write_duckdb(folder / "source.duckdb", source)
    write_duckdb(folder / "clean.duckdb", source)
    write_duckdb(folder / "target.duckdb", target_data(source))
    return {name: f"duckdb:///{folder / name}.duckdb" for name in ("source", "clean", "target")}


def test_every_builtin_validator_has_a_case() -> None:
    builtin = {n for n, v in validators().items() if v.__module__.startswith("ombudsman.engine.validators.")}
    builtin.discard("row_hash")  # tested with the row diff
    builtin.discard("schema_coverage")  # project-level, not per table: test_schema_coverage.py
    builtin.discard("file_checks")  # reads a file:// side: test_files_connector.py, test_gateway_file_steps.py
    builtin.discard("file_load")  # loads files into a target: test_executor_file_loads.py, test_gateway_file_loads.py
    assert builtin <= {c.validator for c in CASES}
    assert len(builtin) >= 29


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_clean_copy_passes(case: Case, warehouse: dict[str, str]) -> None:
    result, _ = await run_case(case, warehouse["source"], warehouse["clean"], source_schema="main", target_schema="main",
                               defective=False)
    assert result.status == "passed", result.message
    assert result.validator == case.validator and result.step == case.id
    assert result.sql["source"] and result.sql["target"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_defect_is_found(case: Case, warehouse: dict[str, str]) -> None:
    result, ctx = await run_case(case, warehouse["source"], warehouse["target"], source_schema="main",
                                 target_schema="main", defective=True, render_also=("tsql",))
    assert result.status == case.expect, result.message
    assert case.check(result), result.model_dump()
    assert len(result.sample) <= ctx.sample_limit
    if not case.validator.startswith("schema_"):
        # The same expressions rendered as T-SQL parse back with sqlglot's T-SQL dialect.
        # Each reads the case's table (and the parent it names), nothing else.
        renderings = ctx.renderings["tsql"]
        assert len(renderings) >= 2  # a query per side at least
        parents = {f"main.{v.split('.')[-1]}" for k, v in case.params.items() if k in ("references", "dimension")}
        read = set()
        for sql in renderings:
            assert "LIMIT" not in sql.upper().split("'")[0] or "TOP" in sql.upper()
            read |= tables(sql)
        assert read == {f"main.{case.table or 'orders'}"} | parents, renderings


async def test_database_error_becomes_error_result(warehouse: dict[str, str]) -> None:
    case = Case("missing_table", "record_counts", "no_such_table", {}, lambda r: True)
    result, _ = await run_case(case, warehouse["source"], warehouse["target"], source_schema="main",
                               target_schema="main", defective=True)
    assert result.status == "error"
    assert "database error" in result.message and "no_such_table" in result.message


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM main.orders", "must be a SELECT"),
        ("SELECT 1; SELECT 2", "exactly one SELECT"),
        ("SELECT * INTO main.copy FROM main.orders", "may only read"),
        ("SELEC nonsense FROM", "not valid"),
    ],
)
async def test_custom_query_refuses_anything_but_one_select(sql: str, message: str, warehouse: dict[str, str]) -> None:
    case = Case("bad_sql", "custom_query", None, {"source_sql": sql, "target_sql": sql}, lambda r: True)
    from . import cases

    original = cases.CUSTOM_SQL
    try:
        cases.CUSTOM_SQL = sql  # run_case fills target_sql from it
        result, _ = await run_case(case, warehouse["source"], warehouse["target"], source_schema="main",
                                   target_schema="main", defective=True)
    finally:
        cases.CUSTOM_SQL = original
    assert result.status == "error"
    assert message in result.message
    assert await _orders(warehouse["source"]) == 1000  # nothing was deleted or written


async def _orders(url: str) -> int:
    from ombudsman.engine.connectors import connect

    async with connect(url) as db:
        return int((await db.fetch_rows("SELECT COUNT(*) FROM main.orders"))[0][0])


async def test_invalid_parameters_give_error_result(warehouse: dict[str, str]) -> None:
    case = Case("bad_params", "metric_sums", "orders", {"group_by": ["status"], "bogus": 1}, lambda r: True)
    result, _ = await run_case(case, warehouse["source"], warehouse["target"], source_schema="main",
                               target_schema="main", defective=True)
    assert result.status == "error"
    assert "parameters.measures: field required" in result.message
    assert "parameters.bogus: unknown parameter" in result.message


async def test_identifier_case_folds_unmapped_names_only(warehouse: dict[str, str]) -> None:
    from ombudsman.contracts.pipeline import TableRef
    from ombudsman.engine.connectors import connect
    from ombudsman.engine.validators import ValidationContext, get_validator, run_validator

    async with connect(warehouse["source"]) as source, connect(warehouse["target"]) as target:
        ctx = ValidationContext(source=source, target=target, source_table=TableRef(schema_name="main", name="customers"),
                                column_map={"email": "email_address"}, target_case="upper")
        result = await run_validator(get_validator("nulls"), ctx, {"columns": ["email", "region"]})
    assert result.status == "failed" and result.affected_columns == ["email"]
    assert '"MAIN"."CUSTOMERS"' in result.sql["target"][0] and '"REGION"' in result.sql["target"][0]
    assert '"email_address"' in result.sql["target"][0]  # explicitly mapped: kept as written
    assert '"main"."customers"' in result.sql["source"][0]


async def test_tsql_renderings_use_sql_server_forms(warehouse: dict[str, str]) -> None:
    by_id = {c.id: c for c in CASES}
    rendered: list[str] = []
    for case_id in ("statistics", "ts_continuity", "record_counts", "custom_query"):
        _, ctx = await run_case(by_id[case_id], warehouse["source"], warehouse["target"], source_schema="main",
                                target_schema="main", defective=True, render_also=("tsql",))
        rendered += ctx.renderings["tsql"]
    text = "\n".join(rendered)
    assert "STDEV(" in text and "STDDEV" not in text  # SQL Server's name for the sample standard deviation
    assert "WITHIN GROUP (ORDER BY CAST([amount] AS FLOAT)) OVER ()" in text  # PERCENTILE_CONT is a window function
    assert "COUNT_BIG(*)" in text and "COUNT(*)" not in text  # counts never overflow INT
    assert "DATETRUNC(DAY, [order_date])" in text and "SELECT TOP 100001" in text and " LIMIT " not in text
    assert "[main].[orders]" in text

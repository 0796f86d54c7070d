"""late_arriving_facts when the target renamed the dimension's key (`target_dim_key`) and the fact's
foreign key (the step's `columns`): between real DuckDB databases a faithful copy passes, a copy with a
fact whose dimension row is missing fails with that fact found, and every query renders as T-SQL that
sqlglot parses back."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ombudsman.contracts.pipeline import TableRef
from ombudsman.contracts.results import StepResult
from ombudsman.engine.connectors import connect
from ombudsman.engine.validators import ValidationContext, get_validator, run_validator

from .tsql import columns, tables

DAY = datetime.date(2024, 3, 1)
CUSTOMERS = list(range(1, 21))
# (sale_id, customer, event date, load time): every 10th sale loaded 3 days late
SALES = [
    (sale, 1 + sale % 20, DAY + datetime.timedelta(days=sale % 9),
     datetime.datetime.combine(DAY + datetime.timedelta(days=sale % 9 + (3 if sale % 10 == 0 else 0)), datetime.time(6)))
    for sale in range(1, 201)
]


def _write(path: Path, *, renamed: bool, sales: list[tuple[int, int, datetime.date, datetime.datetime]]) -> str:
    """`renamed` gives the target's names: dimension key CUSTOMER_SK, the fact's foreign key CUST_KEY."""
    dim_key, fact_key = ("CUSTOMER_SK", "CUST_KEY") if renamed else ("customer_key", "customer_key")
    with duckdb.connect(str(path)) as db:
        db.execute(f'CREATE TABLE dim_customer ("{dim_key}" INTEGER PRIMARY KEY, name VARCHAR)')
        db.executemany("INSERT INTO dim_customer VALUES (?, ?)", [(c, f"customer {c}") for c in CUSTOMERS])
        db.execute(
            f'CREATE TABLE fact_sales (sale_id INTEGER PRIMARY KEY, "{fact_key}" INTEGER, sale_date DATE, loaded_at TIMESTAMP)'
        )
        db.executemany("INSERT INTO fact_sales VALUES (?, ?, ?, ?)", sales)
    return f"duckdb:///{path}"


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("late_arriving")
    # sale 7 arrives before its customer (an early-arriving fact); sale 8 is loaded 5 days late
    defective = [
        (s, 777 if s == 7 else c, d, loaded + datetime.timedelta(days=5) if s == 8 else loaded) for s, c, d, loaded in SALES
    ]
    return {
        "source": _write(folder / "source.duckdb", renamed=False, sales=SALES),
        "faithful": _write(folder / "faithful.duckdb", renamed=True, sales=SALES),
        "defective": _write(folder / "defective.duckdb", renamed=True, sales=defective),
    }


PARAMS: dict[str, Any] = {
    "event_column": "sale_date",
    "load_column": "loaded_at",
    "max_lag_days": 2,
    "dimension": "main.dim_customer",
    "fact_key": "customer_key",
    "dim_key": "customer_key",
    "target_dim_key": "CUSTOMER_SK",
}


async def _run(source_url: str, target_url: str, params: dict[str, Any]) -> tuple[StepResult, ValidationContext]:
    async with connect(source_url) as source, connect(target_url) as target:
        ctx = ValidationContext(
            source=source, target=target,
            source_table=TableRef(schema_name="main", name="fact_sales"),
            column_map={"customer_key": "CUST_KEY"},  # the fact's own key, renamed through the step's mapping
            step_id="late", render_also=("tsql",),
        )
        result = await run_validator(get_validator("late_arriving_facts"), ctx, params)
    return result, ctx


async def test_faithful_copy_with_a_renamed_dimension_key_passes(databases: dict[str, str]) -> None:
    result, ctx = await _run(databases["source"], databases["faithful"], PARAMS)
    assert result.status == "passed", result.message
    assert result.source == result.target == {"facts": 200, "late_facts": 20, "facts_without_dimension": 0}
    [target_sql] = ctx.sql["target"]
    assert '"p"."CUSTOMER_SK" = "c"."CUST_KEY"' in target_sql, target_sql
    assert "customer_key" not in target_sql
    assert '"p"."customer_key" = "c"."customer_key"' in ctx.sql["source"][0]


async def test_late_and_early_arriving_facts_are_found_on_renamed_keys(databases: dict[str, str]) -> None:
    result, ctx = await _run(databases["source"], databases["defective"], PARAMS)
    assert result.status == "failed", result.message
    assert result.source == {"facts": 200, "late_facts": 20, "facts_without_dimension": 0}
    assert result.target == {"facts": 200, "late_facts": 21, "facts_without_dimension": 1}
    sampled = [r for r in result.sample if "customer_key" in r]
    assert {r["customer_key"] for r in sampled} >= {777}  # the fact without its dimension row
    assert any(r["customer_key"] == 1 + 8 % 20 and r["sale_date"] == (DAY + datetime.timedelta(days=8)).isoformat()
               for r in sampled)  # sale 8, loaded late
    # one query per side, plus the sample query on the target: all parse back as T-SQL
    renderings = ctx.renderings["tsql"]
    assert len(renderings) == 3
    for sql in renderings:
        assert tables(sql) == {"main.fact_sales", "main.dim_customer"}, sql
        assert "LIMIT" not in sql.upper()
    assert columns(renderings[0]) == {"customer_key", "sale_date", "loaded_at"}
    target_columns = {"CUSTOMER_SK", "CUST_KEY", "sale_date", "loaded_at"}
    assert columns(renderings[1]) == columns(renderings[2]) == target_columns
    assert "[p].[CUSTOMER_SK] = [c].[CUST_KEY]" in renderings[1] and "[p].[CUSTOMER_SK] = [c].[CUST_KEY]" in renderings[2]
    assert "TOP 20" in renderings[2]


async def test_without_target_dim_key_the_source_key_name_fails_on_the_target(databases: dict[str, str]) -> None:
    """The old behaviour: the dimension key's source name applied unchanged on the target."""
    params = {k: v for k, v in PARAMS.items() if k != "target_dim_key"}
    result, ctx = await _run(databases["source"], databases["faithful"], params)
    assert result.status == "error"
    assert result.message.startswith("target database error: ")  # DuckDB: 'Referenced table "p" not found'
    assert '"p"."customer_key"' in ctx.sql["target"][0]


async def test_target_dim_key_without_a_dimension_is_refused(databases: dict[str, str]) -> None:
    params = {"event_column": "sale_date", "load_column": "loaded_at", "target_dim_key": "CUSTOMER_SK"}
    result, ctx = await _run(databases["source"], databases["faithful"], params)
    assert result.status == "error"
    assert result.message == "parameters.target_dim_key needs parameters.dimension"
    assert not ctx.sql["source"] and not ctx.sql["target"]

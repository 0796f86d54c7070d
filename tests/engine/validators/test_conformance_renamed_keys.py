"""fact_dim_conformance when the target renamed the dimension's key (and the fact's foreign key):
between real DuckDB databases, a faithful copy passes, a copy with an orphaned fact fails, and every
query also renders as T-SQL that sqlglot parses back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from ombudsman.contracts.pipeline import TableRef
from ombudsman.contracts.results import StepResult
from ombudsman.engine.connectors import connect
from ombudsman.engine.validators import ValidationContext, get_validator, run_validator

from .tsql import columns, tables

REGIONS = ["North", "South", "East", "West"]
CUSTOMERS = [(key, REGIONS[key % 4]) for key in range(1, 41)]
SALES = [(sale, 1 + sale % 40, float(sale % 17) + 0.25) for sale in range(1, 301)]


def _write(path: Path, *, renamed: bool, sales: list[tuple[int, int, float]]) -> str:
    """The star schema; `renamed` gives the target's names (DIM key CUSTOMER_SK, attribute AREA, FK CUST_KEY)."""
    dim_key, attribute, fact_key = ("CUSTOMER_SK", "AREA", "CUST_KEY") if renamed else ("customer_key", "region", "customer_key")
    with duckdb.connect(str(path)) as db:
        db.execute(f'CREATE TABLE dim_customer ("{dim_key}" INTEGER PRIMARY KEY, "{attribute}" VARCHAR)')
        db.executemany("INSERT INTO dim_customer VALUES (?, ?)", CUSTOMERS)
        db.execute(f'CREATE TABLE fact_sales (sale_id INTEGER PRIMARY KEY, "{fact_key}" INTEGER, amount DECIMAL(12,2))')
        db.executemany("INSERT INTO fact_sales VALUES (?, ?, ?)", sales)
    return f"duckdb:///{path}"


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("conformance")
    defective = [(s, 9999 if s == 7 else c, a) for s, c, a in SALES]  # one fact points at no customer
    return {
        "source": _write(folder / "source.duckdb", renamed=False, sales=SALES),
        "faithful": _write(folder / "faithful.duckdb", renamed=True, sales=SALES),
        "defective": _write(folder / "defective.duckdb", renamed=True, sales=defective),
    }


PARAMS: dict[str, Any] = {
    "dimension": "main.dim_customer",
    "target_dimension": "main.dim_customer",
    "fact_key": "customer_key",
    "dim_key": "customer_key",
    "target_dim_key": "CUSTOMER_SK",
    "attribute": "region",
    "target_attribute": "AREA",
    "measure": "amount",
}


async def _run(source_url: str, target_url: str, params: dict[str, Any]) -> tuple[StepResult, ValidationContext]:
    async with connect(source_url) as source, connect(target_url) as target:
        ctx = ValidationContext(
            source=source, target=target,
            source_table=TableRef(schema_name="main", name="fact_sales"),
            target_table=TableRef(schema_name="main", name="fact_sales"),
            column_map={"customer_key": "CUST_KEY"},  # the fact's FK, renamed through the step's mapping
            step_id="conformance", render_also=("tsql",),
        )
        result = await run_validator(get_validator("fact_dim_conformance"), ctx, params)
    return result, ctx


async def test_faithful_copy_with_renamed_keys_passes(databases: dict[str, str]) -> None:
    result, ctx = await _run(databases["source"], databases["faithful"], PARAMS)
    assert result.status == "passed", result.message
    assert result.source["facts"] == result.target["facts"] == 300
    assert result.source["unmatched_facts"] == result.target["unmatched_facts"] == 0
    target_sql = " ".join(ctx.sql["target"])
    assert '"CUSTOMER_SK"' in target_sql and '"AREA"' in target_sql and '"CUST_KEY"' in target_sql
    assert "customer_key" not in target_sql


async def test_orphaned_fact_is_found_on_renamed_keys(databases: dict[str, str]) -> None:
    result, ctx = await _run(databases["source"], databases["defective"], PARAMS)
    assert result.status == "failed", result.message
    assert result.target["unmatched_facts"] == 1 and result.source["unmatched_facts"] == 0
    assert "1 target facts have no dimension row" in result.message
    # the orphan left its region's group: that member's fact count differs, and a NULL member appeared
    assert result.details["differing_groups"] >= 1
    # per side: the join guard's parent-key and child-count queries, then the grouped join itself
    guard, renderings = ctx.renderings["tsql"][:4], ctx.renderings["tsql"][4:]
    assert len(renderings) == 2  # one grouped query per side
    assert "[CUSTOMER_SK]" in " ".join(guard) and "[AREA]" not in " ".join(guard)
    for sql in renderings:
        assert tables(sql) == {"main.fact_sales", "main.dim_customer"}, sql
        assert "LIMIT" not in sql.upper() and "TOP" in sql.upper()
    # "member" is the alias of the grouped attribute, ordered by in the outer query
    assert columns(renderings[0]) == {"customer_key", "region", "amount", "member"}
    assert columns(renderings[1]) == {"CUSTOMER_SK", "CUST_KEY", "AREA", "amount", "member"}
    assert "[CUSTOMER_SK]" in renderings[1] and "[CUST_KEY]" in renderings[1]


async def test_without_the_target_key_the_renamed_key_is_an_error_naming_it(databases: dict[str, str]) -> None:
    params = {k: v for k, v in PARAMS.items() if k not in ("target_dim_key", "target_attribute")}
    result, _ = await _run(databases["source"], databases["faithful"], params)
    assert result.status == "error"
    assert "target database error" in result.message and "customer_key" in result.message


async def test_without_attribute_the_orphan_is_still_counted(databases: dict[str, str]) -> None:
    params = {k: v for k, v in PARAMS.items() if k not in ("attribute", "target_attribute", "measure")}
    result, _ = await _run(databases["source"], databases["defective"], params)
    assert result.status == "failed", result.message
    assert result.target["unmatched_facts"] == 1 and result.target["facts"] == 300

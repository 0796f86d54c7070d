"""`schema_coverage`, the project-level check that every source table and column is mapped or
excluded by a person (issue 15): between two real DuckDB databases, each uncovered table and
column is named; exclusions and a complete mapping pass; a mapped target table that is missing fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from ombudsman.contracts.results import StepResult
from ombudsman.engine.connectors import connect
from ombudsman.engine.validators import get_validator, run_validator
from ombudsman.engine.validators.base import ValidationContext


@pytest.fixture
def urls(tmp_path: Path) -> tuple[str, str]:
    source, target = tmp_path / "source.duckdb", tmp_path / "target.duckdb"
    with duckdb.connect(str(source)) as db:
        db.execute("CREATE TABLE orders (order_id INTEGER, amount DECIMAL(12,2), note VARCHAR)")
        db.execute("CREATE TABLE customers (customer_id INTEGER, email VARCHAR)")
        db.execute("CREATE TABLE legacy_audit (id INTEGER)")
    with duckdb.connect(str(target)) as db:
        db.execute("CREATE TABLE ORDERS (ORDER_ID INTEGER, AMOUNT DECIMAL(12,2))")
        db.execute("CREATE TABLE CUSTOMERS (CUSTOMER_ID INTEGER, EMAIL VARCHAR)")
    return f"duckdb:///{source}", f"duckdb:///{target}"


async def _coverage(urls: tuple[str, str], params: dict[str, Any]) -> StepResult:
    async with connect(urls[0]) as source, connect(urls[1]) as target:
        ctx = ValidationContext(source=source, target=target, source_table=None, target_table=None, step_id="coverage")
        return await run_validator(get_validator("schema_coverage"), ctx, {"source_schemas": ["main"], **params})


MAPPED = {"main.orders": {"target": "main.ORDERS", "columns": ["order_id", "amount"]},
          "main.customers": {"target": "main.CUSTOMERS", "columns": ["customer_id", "email"]}}


async def test_each_uncovered_table_and_column_is_named(urls: tuple[str, str]) -> None:
    result = await _coverage(urls, {"tables": MAPPED})
    assert result.status == "failed"
    assert [(f["table"], f["column"], f["issue"]) for f in result.sample] == [
        ("main.legacy_audit", None, "table not mapped"), ("main.orders", "note", "column not mapped")]
    assert result.details["uncovered_tables"] == ["main.legacy_audit"]
    assert result.details["uncovered_columns"] == [{"table": "main.orders", "column": "note"}]
    assert "main.legacy_audit" in result.message and "main.orders.note" in result.message


async def test_exclusions_by_a_person_cover_what_is_not_migrated(urls: tuple[str, str]) -> None:
    tables = {**MAPPED, "main.orders": {**MAPPED["main.orders"], "excluded_columns": ["note"]}}
    result = await _coverage(urls, {"tables": tables, "excluded_tables": ["main.legacy_audit"]})
    assert result.status == "passed", result.message
    assert result.sample == [] and result.match_percentage == 100.0


async def test_a_mapped_target_table_that_is_missing_fails(urls: tuple[str, str]) -> None:
    tables = {**MAPPED, "main.legacy_audit": {"target": "main.LEGACY_AUDIT", "columns": ["id"]}}
    result = await _coverage(urls, {"tables": tables, "excluded_tables": [],
                                    "target_schemas": ["main"]})
    issues = {(f["table"], f["issue"]) for f in result.sample}
    assert result.status == "failed"
    assert ("main.legacy_audit", "target table main.LEGACY_AUDIT missing") in issues

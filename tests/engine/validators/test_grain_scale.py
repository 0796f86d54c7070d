"""Grouped checks past their group limit (issue 24): 50,000 groups of identical data pass at a
coarser grain the result names; one changed group is still found and named. Also the join guard.
DuckDB files generated with SQL, one per variant."""

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

GROUPS = 50_000
ROWS = 150_000
CHANGED_ID = 12_345  # its group is CHANGED_ID % GROUPS
CHANGED_GROUP = CHANGED_ID % GROUPS


def _write(path: Path, *, change: bool = False, duplicate_dim_key: bool = False) -> str:
    with duckdb.connect(str(path)) as db:
        db.execute(f"""
            CREATE TABLE dim AS SELECT i AS dim_id, 'member-' || i AS label FROM range({GROUPS}) t(i);
            CREATE TABLE fact AS SELECT i AS id, i % {GROUPS} AS g, 'v' || (i % {GROUPS}) AS code,
                CAST((i * 7) % 1000 AS DECIMAL(12, 2)) AS amount,
                TIMESTAMP '1900-01-01' + TO_DAYS(CAST(i % {GROUPS} AS INTEGER)) AS day
            FROM range({ROWS}) t(i);
        """)
        if change:
            db.execute(f"UPDATE fact SET amount = amount + 5, code = 'changed' WHERE id = {CHANGED_ID}")
        if duplicate_dim_key:
            db.execute("INSERT INTO dim VALUES (7, 'again')")
    return f"duckdb:///{path}"


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("grain")
    return {
        "source": _write(folder / "source.duckdb"),
        "copy": _write(folder / "copy.duckdb"),
        "changed": _write(folder / "changed.duckdb", change=True),
        "duplicated": _write(folder / "duplicated.duckdb", duplicate_dim_key=True),
    }


async def _run(source: str, target: str, validator: str, params: dict[str, Any]) -> StepResult:
    async with connect(source) as s, connect(target) as t:
        ctx = ValidationContext(
            source=s, target=t, source_table=TableRef(schema_name="main", name="fact"), step_id=validator,
            render_also=("tsql",),
        )
        return await run_validator(get_validator(validator), ctx, params)


METRIC = {"measures": ["amount"], "group_by": ["g"]}


async def test_metric_sums_past_max_groups_compare_buckets(urls: dict[str, str]) -> None:
    same = await _run(urls["source"], urls["copy"], "metric_sums", METRIC)
    assert same.status == "passed", same.message
    assert same.details["grain"] == "bucket:1024" and same.details["exact"] is True
    assert same.source["groups"] == same.target["groups"] == GROUPS
    assert "buckets" in same.message

    changed = await _run(urls["source"], urls["changed"], "metric_sums", METRIC)
    assert changed.status == "failed", changed.message
    assert changed.details["differing_groups"] == 1 and changed.details["differing_buckets"] == 1
    [row] = [r for r in changed.sample if r["issue"] == "value differs"]
    assert row["g"] == CHANGED_GROUP and row["amount"]["difference"] == 5
    assert changed.affected_columns == ["amount"]


async def test_metric_sums_within_max_groups_stay_per_group(urls: dict[str, str]) -> None:
    result = await _run(urls["source"], urls["changed"], "metric_sums", {**METRIC, "max_groups": 60_000})
    assert result.status == "failed" and result.details["grain"] == "group"
    assert result.details["differing_groups"] == 1


async def test_metric_averages_past_max_groups(urls: dict[str, str]) -> None:
    params = {"measures": ["amount"], "group_by": ["g"], "buckets": 256}
    same = await _run(urls["source"], urls["copy"], "metric_averages", params)
    assert same.status == "passed" and same.details["grain"] == "bucket:256", same.message
    changed = await _run(urls["source"], urls["changed"], "metric_averages", params)
    assert changed.status == "failed" and [r["g"] for r in changed.sample] == [CHANGED_GROUP]


CONFORMANCE = {"dimension": "main.dim", "fact_key": "g", "dim_key": "dim_id", "attribute": "label", "measure": "amount"}


async def test_fact_dim_conformance_past_max_groups(urls: dict[str, str]) -> None:
    same = await _run(urls["source"], urls["copy"], "fact_dim_conformance", CONFORMANCE)
    assert same.status == "passed", same.message
    assert same.details["grain"].startswith("bucket:")
    assert same.source["facts"] == same.target["facts"] == ROWS
    assert same.details["join_guard"]["target"]["estimated_join_rows"] == ROWS

    changed = await _run(urls["source"], urls["changed"], "fact_dim_conformance", CONFORMANCE)
    assert changed.status == "failed", changed.message
    assert [r["member"] for r in changed.sample] == [f"member-{CHANGED_GROUP}"]


async def test_join_guard_refuses_a_parent_key_that_is_not_unique(urls: dict[str, str]) -> None:
    result = await _run(urls["source"], urls["duplicated"], "fact_dim_conformance", CONFORMANCE)
    assert result.status == "error"
    assert "target parent key main.dim(dim_id) is not unique" in result.message, result.message
    assert "allow_duplicate_parent_keys" in result.message

    fk = {"columns": ["g"], "references": "main.dim", "ref_columns": ["dim_id"]}
    result = await _run(urls["source"], urls["duplicated"], "foreign_keys", fk)
    assert result.status == "error" and "is not unique" in result.message

    allowed = {**CONFORMANCE, "allow_duplicate_parent_keys": True, "max_join_rows": ROWS}
    result = await _run(urls["source"], urls["duplicated"], "fact_dim_conformance", allowed)
    assert result.status == "error"
    assert f"estimated at {2 * ROWS} rows" in result.message and "max_join_rows" in result.message


async def test_join_guard_bound_on_a_unique_key(urls: dict[str, str]) -> None:
    result = await _run(urls["source"], urls["copy"], "fact_dim_conformance", {**CONFORMANCE, "max_join_rows": 1000})
    assert result.status == "error" and f"estimated at {ROWS} rows" in result.message


async def test_domain_values_past_max_values(urls: dict[str, str]) -> None:
    same = await _run(urls["source"], urls["copy"], "domain_values", {"column": "code"})
    assert same.status == "passed" and same.details["grain"] == "bucket:1024", same.message
    assert same.source["distinct_values"] == GROUPS

    changed = await _run(urls["source"], urls["changed"], "domain_values", {"column": "code"})
    assert changed.status == "failed", changed.message
    assert {"value": "changed", "target_rows": 1, "issue": "not in source"} in changed.sample
    # 'v<g>' has 3 rows per group, so one changed row removes no value from the target


async def test_distribution_past_max_categories_compares_hash_buckets(urls: dict[str, str]) -> None:
    params = {"column": "code", "kind": "categorical", "max_categories": 500}
    same = await _run(urls["source"], urls["copy"], "distribution", params)
    assert same.status == "passed" and same.details["grain"] == "bucket:500", same.message
    assert same.source["rows"] == ROWS and same.source["buckets"] == 500


async def test_time_series_past_max_periods_use_a_coarser_period(urls: dict[str, str]) -> None:
    params = {"time_column": "day", "grain": "day", "max_periods": 10_000, "measure": "amount", "window": 1}
    same = await _run(urls["source"], urls["copy"], "ts_rolling_drift", params)
    assert same.status == "passed", same.message
    assert same.details["grain"] == "month" and same.details["exact"] is False
    assert "compared per month" in same.message

    changed = await _run(urls["source"], urls["changed"], "ts_rolling_drift", params)
    assert changed.status == "failed", changed.message
    month = (datetime.datetime(1900, 1, 1) + datetime.timedelta(days=CHANGED_GROUP)).replace(day=1)
    assert [r["period"] for r in changed.sample] == [month.isoformat()]

    continuity = await _run(urls["source"], urls["copy"], "ts_continuity", {"time_column": "day", "max_periods": 1000})
    assert continuity.status == "passed" and continuity.details["grain"] == "year", continuity.message

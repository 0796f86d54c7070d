"""One pipeline of 21 validators between PostgreSQL (source) and fakesnow (Snowflake, target):
the defective target fails exactly the steps whose defect was injected; a clean copy passes them all."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from ombudsman.contracts.pipeline import parse_pipeline
from ombudsman.engine.pipeline import StepEvent, run_pipeline, to_mermaid
from ombudsman.engine.pipeline.sample import source_data, target_data
from tests.support import fresh_database

from ..validators.cases import CASES, CUSTOM_SQL, format_params
from ..validators.loading import load_warehouse

CASE_IDS = [
    "record_counts", "nulls", "uniqueness", "statistics", "distribution_categorical", "outliers",
    "domain_values_allowed", "regex_patterns", "column_aggregates", "custom_query", "foreign_keys",
    "dim_business_keys", "composite_keys", "scd2", "late_arriving_facts", "metric_sums", "ts_continuity",
    "period_over_period", "schema_columns", "schema_nullability", "schema_datatypes",
]


@pytest.fixture(scope="module")
def warehouses(pg_server_url: str, fakesnow_server: Any) -> Iterator[dict[str, str]]:
    with fresh_database(pg_server_url) as pg_url:
        urls = {"source": pg_url, "target": fakesnow_server.url(), "clean": fakesnow_server.url()}
        source = source_data()

        async def load() -> None:
            await asyncio.gather(
                load_warehouse(urls["source"], source, "public"),
                load_warehouse(urls["target"], target_data(source), "PUBLIC", constraints=False),
                load_warehouse(urls["clean"], source, "PUBLIC", constraints=False),
            )

        asyncio.run(load())
        yield urls


def pipeline(urls: dict[str, str], *, defective: bool) -> dict[str, Any]:
    steps = []
    for case in (c for c in CASES if c.id in CASE_IDS):
        params = format_params(case.params, "public")
        if case.validator == "custom_query":
            params["target_sql"] = CUSTOM_SQL.format(schema="PUBLIC")
        for key in ("references", "dimension"):
            if key in params:
                params["target_" + key] = f"PUBLIC.{params[key].split('.')[-1].upper()}"
        step: dict[str, Any] = {"id": case.id, "validator": case.validator, "parameters": params,
                                "tolerance": case.tolerance.model_dump()}
        if case.table:
            step["table"] = f"public.{case.table}"  # folded to PUBLIC.<TABLE> on the Snowflake side
        if defective and case.target_columns:
            step["columns"] = case.target_columns
        steps.append(step)
    steps.append({"id": "sums_after_counts", "validator": "metric_sums", "table": "public.orders",
                  "parameters": {"measures": ["amount"]}, "depends_on": ["record_counts"], "skip_on_failure": True})
    return {
        "name": "pg-to-snowflake",
        "connections": {"source": urls["source"], "target": urls["target" if defective else "clean"]},
        "defaults": {"target_identifier_case": "upper"},
        "steps": steps,
    }


async def test_pipeline_finds_every_injected_defect(warehouses: dict[str, str]) -> None:
    spec = parse_pipeline(pipeline(warehouses, defective=True))
    events: list[StepEvent] = []
    result = await run_pipeline(spec, max_parallel=4, on_progress=events.append)
    by_step = {r.step: r for r in result.steps}
    cases = {c.id: c for c in CASES}
    for case_id in CASE_IDS:
        step = by_step[case_id]
        assert step.status == cases[case_id].expect, (case_id, step.message)
        assert cases[case_id].check(step), (case_id, step.model_dump())
        assert step.sql["source"] and step.sql["target"]
        if not case_id.startswith(("custom_query", "schema_")):
            assert '"PUBLIC"."' in step.sql["target"][0] and '"public"."' in step.sql["source"][0]
    assert by_step["sums_after_counts"].status == "skipped"
    assert "record_counts" in by_step["sums_after_counts"].message
    assert result.status == "failed"
    assert len(CASE_IDS) >= 10
    started = [e.step_id for e in events if e.kind == "started"]
    completed = [e.step_id for e in events if e.kind == "completed"]
    assert sorted(started) == sorted(CASE_IDS)  # the skipped step never starts
    assert sorted(completed) == sorted([*CASE_IDS, "sums_after_counts"])
    assert "flowchart TD" in to_mermaid(spec, result)


async def test_pipeline_passes_a_clean_copy(warehouses: dict[str, str]) -> None:
    spec = parse_pipeline(pipeline(warehouses, defective=False))
    result = await run_pipeline(spec, max_parallel=4)
    not_passed = {r.step: r.message for r in result.steps if r.status != "passed"}
    assert not_passed == {}
    assert result.status == "passed" and result.counts == {"passed": len(CASE_IDS) + 1}

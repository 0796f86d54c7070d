"""Every validator between two real PostgreSQL databases (source and a migrated copy), and the ones the
PostgreSQL -> fakesnow pipeline test does not cover between PostgreSQL and fakesnow."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from ombudsman.engine.pipeline.sample import source_data, target_data
from tests.support import fresh_database

from .cases import CASES, Case, run_case
from .loading import load_warehouse

SNOWFLAKE_ONLY_HERE = [
    "uniqueness", "distribution_numeric", "domain_values_sets", "fact_dim_conformance", "dim_surrogate_keys", "scd1",
    "metric_averages", "ratios", "ts_duplicates", "ts_rolling_drift",
]


@pytest.fixture(scope="module")
def databases(pg_server_url: str, fakesnow_server: Any) -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as made:
        urls = {role: made.enter_context(fresh_database(pg_server_url)) for role in ("source", "target", "clean")}
        urls["snowflake"] = fakesnow_server.url()
        urls["snowflake_clean"] = fakesnow_server.url()
        source = source_data()
        target = target_data(source)

        async def setup() -> None:
            await asyncio.gather(
                load_warehouse(urls["source"], source, "public"),
                load_warehouse(urls["target"], target, "public"),
                load_warehouse(urls["clean"], source, "public"),
                load_warehouse(urls["snowflake"], target, "PUBLIC", constraints=False),
                load_warehouse(urls["snowflake_clean"], source, "PUBLIC", constraints=True),
            )

        asyncio.run(setup())
        yield urls


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_postgres_clean_copy_passes(case: Case, databases: dict[str, str]) -> None:
    result, _ = await run_case(case, databases["source"], databases["clean"], source_schema="public",
                               target_schema="public", defective=False)
    assert result.status == "passed", result.message


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_postgres_defect_is_found(case: Case, databases: dict[str, str]) -> None:
    result, _ = await run_case(case, databases["source"], databases["target"], source_schema="public",
                               target_schema="public", defective=True)
    assert result.status == case.expect, result.message
    assert case.check(result), result.model_dump()


@pytest.mark.parametrize("case", [c for c in CASES if c.id in SNOWFLAKE_ONLY_HERE], ids=lambda c: c.id)
async def test_postgres_to_fakesnow_defect_is_found(case: Case, databases: dict[str, str]) -> None:
    result, _ = await run_case(case, databases["source"], databases["snowflake"], source_schema="public",
                               target_schema="PUBLIC", defective=True)
    assert result.status == case.expect, result.message
    assert case.check(result), result.model_dump()


@pytest.mark.parametrize("case", [c for c in CASES if c.id in [*SNOWFLAKE_ONLY_HERE, "schema_constraints"]],
                         ids=lambda c: c.id)
async def test_postgres_to_fakesnow_clean_copy_passes(case: Case, databases: dict[str, str]) -> None:
    result, _ = await run_case(case, databases["source"], databases["snowflake_clean"], source_schema="public",
                               target_schema="PUBLIC", defective=False)
    assert result.status == "passed", result.message


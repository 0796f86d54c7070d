"""A pipeline generated from the workload runs between PostgreSQL (as the source) and Snowflake
(fakesnow): the heaviest queries replayed on both sides (transpiled from T-SQL), plus the other
suggested validations, pass on equal data and fail where the target lost rows; and, generated with
a schema map, between source schema `dbo` and a target whose tables live in another schema."""

from __future__ import annotations

import datetime
import random

import pytest

from ombudsman.engine.connectors import connect
from ombudsman.engine.pipeline import run_pipeline
from ombudsman.workload.analysis import CatalogIndex
from ombudsman.workload.model import QueryGroups, build_model
from ombudsman.workload.suggest import PipelineOptions, SuggestOptions, suggest, to_pipeline
from ombudsman.workload.upload import read_text
from tests.workload.workload_gen import CATEGORIES, COUNTRIES, REGIONS, STATUSES, catalog, to_csv, workload

TABLES = {
    "dbo.FactSales": ("SalesID bigint, DateKey int, CustomerKey int, ProductKey int, StoreKey int, Quantity int, "
                      "Amount decimal(12,2), Discount decimal(6,2), OrderDate timestamp, Status varchar(20)"),
    "dbo.DimCustomer": "CustomerKey int, Name varchar(50), Region varchar(10), Segment varchar(20)",
    "dbo.DimProduct": "ProductKey int, Category varchar(20), Brand varchar(20), Price decimal(10,2)",
    "dbo.DimDate": "DateKey int, Date date, Month int, Year int",
    "dbo.DimStore": "StoreKey int, City varchar(30), Country varchar(2)",
    "sales.Returns": "ReturnID int, SalesID bigint, ReturnDate date, Reason varchar(30), Amount decimal(12,2)",
}


def day(offset: int) -> datetime.date:
    return datetime.date(2024, 1, 1) + datetime.timedelta(days=offset)


def key(offset: int) -> int:
    return int(day(offset).strftime("%Y%m%d"))


def rows() -> dict[str, list[tuple[object, ...]]]:
    r = random.Random(5)
    data: dict[str, list[tuple[object, ...]]] = {
        "dbo.DimCustomer": [(k, f"customer {k}", r.choice(REGIONS), r.choice(["retail", "wholesale"])) for k in range(1, 21)],
        "dbo.DimProduct": [(k, CATEGORIES[k % 5], f"brand{k % 4}", 10 + k) for k in range(1, 11)],
        "dbo.DimDate": [(key(d), day(d).isoformat(), day(d).month, 2024) for d in range(366)],
        "dbo.DimStore": [(k, f"city{k}", COUNTRIES[k % len(COUNTRIES)]) for k in range(1, 7)],
    }
    # one sale or more on every day of 2024, so any date filter of the workload selects rows
    data["dbo.FactSales"] = [
        (i, key(i % 366), r.randint(1, 20), r.randint(1, 10), r.randint(1, 6), r.randint(1, 9),
         round(r.uniform(5, 500), 2), round(r.uniform(0, 0.3), 2), f"{day(i % 366).isoformat()} {r.randint(0, 23):02d}:00:00",
         r.choice(STATUSES))
        for i in range(1, 500)
    ]
    data["sales.Returns"] = [(k, k * 3, f"2024-03-{1 + k % 30:02d}", r.choice(["damaged", "late"]), round(r.uniform(5, 50), 2))
                             for k in range(1, 16)]
    return data


def literal(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


async def load(url: str, data: dict[str, list[tuple[object, ...]]], snowflake: bool,
               schemas: dict[str, str] | None = None) -> None:
    """The tables and rows, each table in its schema renamed through `schemas` (none: as named)."""
    schemas = schemas or {}
    async with connect(url) as db:
        for schema in ("dbo", "sales"):
            await db.execute(f"CREATE SCHEMA IF NOT EXISTS {schemas.get(schema, schema)}")
        for table, columns in TABLES.items():
            ddl = columns.replace("timestamp", "timestamp_ntz") if snowflake else columns
            schema, name = table.split(".")
            where = f"{schemas.get(schema, schema)}.{name}"
            await db.execute(f"CREATE TABLE {where} ({ddl})")
            values = ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in data[table])
            await db.execute(f"INSERT INTO {where} VALUES {values}")


@pytest.fixture(scope="module")
def suggestions() -> list:
    groups = QueryGroups().extend(read_text(to_csv(workload(500, seed=21)), "export.csv"))
    index = CatalogIndex(catalog())
    model = build_model(list(groups.groups.values()), index)
    return suggest(model, index, SuggestOptions(top_queries=6, source_dialect="postgres", target_dialect="snowflake"))


def spec_for(suggestions: list, source: str, target: str, only: list[str] | None = None,  # type: ignore[no-untyped-def]
             schema_map: dict[str, str] | None = None):
    chosen = [s.id for s in suggestions if only is None or s.validator in only]
    return to_pipeline(suggestions, PipelineOptions(name="workload", suggestion_ids=chosen, source_url=source,
                                                    target_url=target, source_identifier_case="lower",
                                                    target_identifier_case="upper", schema_map=schema_map))


async def test_generated_pipeline_passes_on_equal_data(database_url: str, fakesnow_url: str, suggestions: list) -> None:
    data = rows()
    await load(database_url, data, snowflake=False)
    await load(fakesnow_url, data, snowflake=True)
    spec = spec_for(suggestions, database_url, fakesnow_url)
    replays = [s for s in spec.steps if s.validator == "custom_query"]
    assert len(replays) == 6
    result = await run_pipeline(spec, max_parallel=2)
    statuses = {s.step: (s.status, s.message) for s in result.steps}
    by_step = {s.step: s for s in result.steps}
    assert len(result.steps) == len(spec.steps)
    assert {s.validator for s in spec.steps} == {"foreign_keys", "fact_dim_conformance", "metric_sums",
                                                 "metric_averages", "ts_continuity", "domain_values", "custom_query"}
    for step in replays:
        status, message = statuses[step.id]
        assert status == "passed", (step.id, message, step.parameters["target_sql"])
        assert by_step[step.id].target["rows"] == by_step[step.id].source["rows"]
    assert sum(by_step[s.id].source["rows"] for s in replays) > 0
    bad = {k: v for k, v in statuses.items() if v[0] not in ("passed", "warning")}
    assert not bad, bad


async def test_replays_find_rows_the_target_lost(database_url: str, fakesnow_url: str, suggestions: list) -> None:
    data = rows()
    await load(database_url, data, snowflake=False)
    target = dict(data)
    target["dbo.FactSales"] = [r for r in data["dbo.FactSales"] if r[0] % 2]  # every other sale lost
    await load(fakesnow_url, target, snowflake=True)
    spec = spec_for(suggestions, database_url, fakesnow_url, only=["custom_query"])
    result = await run_pipeline(spec, max_parallel=2)
    by_step = {s.step: s for s in result.steps}
    region_replay = next(s for s in spec.steps if "c.region" in s.parameters["source_sql"])
    assert by_step[region_replay.id].source["rows"] > 0
    assert by_step[region_replay.id].status == "failed", by_step[region_replay.id].message
    assert result.status == "failed"


# The target keeps dbo's tables in schema analytics (Snowflake folds it to ANALYTICS) and has no
# schema dbo at all; sales is not mapped and keeps its name.
TARGET_SCHEMAS = {"dbo": "analytics"}
SCHEMA_MAP = {"DBO": "Analytics"}  # as a person may have typed it: matched case-insensitively


def reads_dimstore(step) -> bool:  # type: ignore[no-untyped-def]
    """Whether a step reads dbo.DimStore on the target (its table, its second table or its SQL)."""
    names = [str(step.target_table or ""), str(step.parameters.get("target_references", "")),
             str(step.parameters.get("target_dimension", "")), str(step.parameters.get("target_sql", ""))]
    return any("DIMSTORE" in n.upper() for n in names)


async def test_a_pipeline_mapped_to_the_targets_schema_passes_on_equal_data(
        database_url: str, fakesnow_url: str, suggestions: list) -> None:
    data = rows()
    await load(database_url, data, snowflake=False)
    await load(fakesnow_url, data, snowflake=True, schemas=TARGET_SCHEMAS)
    spec = spec_for(suggestions, database_url, fakesnow_url, schema_map=SCHEMA_MAP)
    replays = [s for s in spec.steps if s.validator == "custom_query"]
    assert len(replays) == 6
    assert {str(s.target_table) for s in spec.steps if s.target_table} == {  # DimCustomer is only a parent
        "Analytics.FactSales", "Analytics.DimProduct", "Analytics.DimDate",
        "Analytics.DimStore", "sales.Returns"}
    result = await run_pipeline(spec, max_parallel=2)
    by_step = {s.step: s for s in result.steps}
    assert len(result.steps) == len(spec.steps)
    bad = {k: (v.status, v.message) for k, v in by_step.items() if v.status not in ("passed", "warning")}
    assert not bad, bad
    for step in replays:
        found = by_step[step.id]
        assert found.status == "passed", (step.id, found.message, step.parameters["target_sql"])
        assert found.target["rows"] == found.source["rows"]
        [ran] = found.sql["target"]
        assert "ANALYTICS." in ran and "DBO." not in ran.upper()  # what fakesnow actually ran
        assert " dbo." in found.sql["source"][0]  # the source still reads dbo
    assert sum(by_step[s.id].source["rows"] for s in replays) > 0
    fk = next(s for s in spec.steps if s.validator == "foreign_keys" and s.parameters["references"] == "dbo.DimStore")
    assert by_step[fk.id].source == by_step[fk.id].target == {"orphans": 0}
    assert any('"ANALYTICS"."DIMSTORE"' in q for q in by_step[fk.id].sql["target"])

    # the same suggestions without the map read dbo on the target, which has no such schema
    unmapped = spec_for(suggestions, database_url, fakesnow_url, only=["custom_query", "foreign_keys"])
    unmapped_result = await run_pipeline(unmapped, max_parallel=2)
    assert {s.status for s in unmapped_result.steps} == {"error"}
    assert all(s.message.startswith("target") for s in unmapped_result.steps), [s.message for s in unmapped_result.steps]


async def test_a_mapped_pipeline_fails_on_the_steps_that_read_the_changed_target_table(
        database_url: str, fakesnow_url: str, suggestions: list) -> None:
    data = rows()
    await load(database_url, data, snowflake=False)
    target = dict(data)
    target["dbo.DimStore"] = [r for r in data["dbo.DimStore"] if r[0] != 3]  # one store lost on the target
    await load(fakesnow_url, target, snowflake=True, schemas=TARGET_SCHEMAS)
    spec = spec_for(suggestions, database_url, fakesnow_url, schema_map=SCHEMA_MAP)
    result = await run_pipeline(spec, max_parallel=2)
    by_step = {s.step: s for s in result.steps}
    failed = {s.id for s in spec.steps if by_step[s.id].status == "failed"}
    errors = {s.id: by_step[s.id].message for s in spec.steps if by_step[s.id].status == "error"}
    assert not errors, errors
    # every step that failed reads DimStore; no step reading other tables failed
    assert failed and failed <= {s.id for s in spec.steps if reads_dimstore(s)}, failed
    fk = next(s for s in spec.steps if s.validator == "foreign_keys" and s.parameters["references"] == "dbo.DimStore")
    conformance = next(s for s in spec.steps
                       if s.validator == "fact_dim_conformance" and s.parameters["dimension"] == "dbo.DimStore")
    domain = next(s for s in spec.steps if s.validator == "domain_values" and s.parameters["column"] == "Country")
    assert {fk.id, conformance.id, domain.id} <= failed  # store 3 was the only store in JP
    lost = sum(1 for r in data["dbo.FactSales"] if r[4] == 3)  # the sales of store 3
    assert lost > 0
    assert by_step[fk.id].source == {"orphans": 0} and by_step[fk.id].target == {"orphans": lost}
    assert by_step[conformance.id].target["unmatched_facts"] == lost
    assert by_step[conformance.id].source["unmatched_facts"] == 0
    assert result.status == "failed"

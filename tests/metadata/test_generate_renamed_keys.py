"""Pipeline generation emits fact_dim_conformance also when the target renamed the dimension's key
(`target_dim_key`; the fact's foreign key through the step's `columns`), and the generated step
passes on a faithful DuckDB copy and fails on one with an orphaned fact."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ombudsman.contracts.pipeline import load_pipeline
from ombudsman.engine.pipeline import run_pipeline
from ombudsman.engine.validators import get_validator
from ombudsman.metadata import classify, generate, relationships
from ombudsman.metadata.ddl import parse_ddl
from ombudsman.metadata.mapping import suggest
from tests.metadata.warehouse import SOURCE_DDL, TARGET_DDL


def _pipelines(
    source_ddl: str, source_dialect: str, target_ddl: str, target_dialect: str,
    fields: generate.ValidatorFields = generate.engine_validator_fields,
) -> dict[str, generate.GeneratedPipeline]:
    source, target = parse_ddl(source_ddl, source_dialect), parse_ddl(target_ddl, target_dialect)
    rels = relationships.infer(source)
    classes = classify.classify(source, rels)
    approved = [
        generate.ApprovedMapping(source_table=t.source_table, target_table=t.target_table, columns=t.column_map())
        for t in suggest(source, target).tables
    ]
    pipelines = generate.generate_pipelines(approved, source, target, classes, rels, fields=fields)
    return {p.source_table: p for p in pipelines}


def test_conformance_uses_the_renamed_dimension_key() -> None:
    sales = load_pipeline(_pipelines(SOURCE_DDL, "postgres", TARGET_DDL, "snowflake")["sales.fact_sales"].yaml)
    steps = {s.id: s for s in sales.steps if s.validator == "fact_dim_conformance"}
    assert {"conformance_customer_key", "conformance_product_key", "conformance_store_key"} <= set(steps)
    customer = steps["conformance_customer_key"]
    assert customer.parameters == {
        "dimension": "sales.dim_customer", "target_dimension": "SALES.DIM_CUSTOMER",
        "fact_key": "customer_key", "dim_key": "customer_key", "target_dim_key": "CUSTOMER_SK",
    }
    assert customer.columns["customer_key"] == "CUSTOMER_SK"  # the fact's own key, renamed by the mapping
    for step in steps.values():
        get_validator(step.validator).Params.model_validate(step.parameters)


def test_older_validator_without_target_dim_key_is_skipped_and_said() -> None:
    def fields(name: str) -> set[str] | None:
        known = generate.engine_validator_fields(name)
        return known - {"target_dim_key"} if known is not None and name == "fact_dim_conformance" else known

    sales = _pipelines(SOURCE_DDL, "postgres", TARGET_DDL, "snowflake", fields)["sales.fact_sales"]
    assert not any(s.startswith("conformance_") for s in sales.steps)
    assert any("fact_dim_conformance customer_key" in s and "named differently" in s for s in sales.skipped)


def test_same_key_name_needs_no_target_dim_key() -> None:
    sales = load_pipeline(_pipelines(SOURCE_DDL, "postgres", SOURCE_DDL, "postgres")["sales.fact_sales"].yaml)
    customer = sales.step("conformance_customer_key")
    assert "target_dim_key" not in customer.parameters


# A small star whose target renamed every key (`*_key` → `*_SK`): parsed for the catalogs, and run on DuckDB.
STAR_SOURCE = """
CREATE TABLE sales.dim_store (store_key integer NOT NULL PRIMARY KEY, store_code varchar(10) NOT NULL UNIQUE,
  region varchar(20));
CREATE TABLE sales.fact_visits (visit_id integer NOT NULL PRIMARY KEY,
  store_key integer NOT NULL REFERENCES sales.dim_store (store_key), visit_date date NOT NULL,
  visitors integer NOT NULL, revenue decimal(12,2) NOT NULL);
"""
STAR_TARGET = """
CREATE TABLE SALES.DIM_STORE (STORE_SK integer NOT NULL PRIMARY KEY, STORE_CODE varchar(10) NOT NULL UNIQUE,
  REGION varchar(20));
CREATE TABLE SALES.FCT_VISITS (VISIT_ID integer NOT NULL PRIMARY KEY, STORE_SK integer NOT NULL,
  VISIT_DATE date NOT NULL, VISITORS integer NOT NULL, REVENUE decimal(12,2) NOT NULL);
"""


def _load_star(path: Path, ddl: str, *, orphan: bool) -> str:
    stores = [(k, f"S{k:03d}", ["North", "South"][k % 2]) for k in range(1, 11)]
    visits = [(v, 1 + v % 10, f"2024-01-{1 + v % 28:02d}", v % 50, v * 1.5) for v in range(1, 201)]
    if orphan:
        visits[4] = (5, 77, *visits[4][2:])
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE SCHEMA sales")
        for statement in [s.replace("REFERENCES sales.dim_store (store_key)", "") for s in ddl.split(";") if s.strip()]:
            db.execute(statement)
        fact = "sales.fact_visits" if "fact_visits" in ddl else "sales.fct_visits"  # DuckDB folds unquoted names
        db.executemany("INSERT INTO sales.dim_store VALUES (?, ?, ?)", stores)
        db.executemany(f"INSERT INTO {fact} VALUES (?, ?, ?, ?, ?)", visits)
    return f"duckdb:///{path}"


@pytest.fixture(scope="module")
def star(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("star")
    return {
        "source": _load_star(folder / "source.duckdb", STAR_SOURCE, orphan=False),
        "faithful": _load_star(folder / "faithful.duckdb", STAR_TARGET, orphan=False),
        "defective": _load_star(folder / "defective.duckdb", STAR_TARGET, orphan=True),
    }


async def test_generated_conformance_step_runs_on_renamed_keys(star: dict[str, str]) -> None:
    pipeline = _pipelines(STAR_SOURCE, "postgres", STAR_TARGET, "snowflake")["sales.fact_visits"]
    spec = load_pipeline(pipeline.yaml)
    step = spec.step("conformance_store_key")
    assert step.parameters["target_dim_key"] == "STORE_SK" and step.columns["store_key"] == "STORE_SK"

    async def conformance(target_url: str) -> tuple[str, str]:
        result = await run_pipeline(spec, env={"SOURCE_URL": star["source"], "TARGET_URL": target_url}, max_parallel=2)
        found = next(s for s in result.steps if s.step == "conformance_store_key")
        return found.status, found.message

    status, message = await conformance(star["faithful"])
    assert status == "passed", message
    status, message = await conformance(star["defective"])
    assert status == "failed" and "1 target facts have no dimension row" in message

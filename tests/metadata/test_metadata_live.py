"""The whole metadata flow against real databases: the warehouse in PostgreSQL (stand-in for SQL
Server) and its migrated copy in fakesnow. Introspect both, suggest, infer, classify, generate the
pipelines, then run them with the engine: all pass on a faithful copy; on a copy with injected
defects each defect fails the step made to find it."""

from __future__ import annotations

import asyncio

from ombudsman.contracts.pipeline import load_pipeline
from ombudsman.engine.connectors import connect
from ombudsman.engine.pipeline import run_pipeline
from ombudsman.metadata import classify, generate, relationships
from ombudsman.metadata.handlers import introspect, measure_inclusion
from ombudsman.metadata.mapping import suggest
from tests.metadata.conftest import _load
from tests.metadata.warehouse import (
    SOURCE_SCHEMA,
    TARGET_DDL,
    TARGET_SCHEMA,
    load_statements,
    target_rows,
)

DEFECTS = [
    "UPDATE SALES.FCT_SALES SET SALES_AMT = SALES_AMT + 100 WHERE SALE_ID = 7",
    "DELETE FROM SALES.FCT_RETURNS WHERE RETURN_ID = 3",
    "UPDATE SALES.DIM_CUSTOMER SET IS_CURRENT = TRUE WHERE CUSTOMER_SK = 1",
    "UPDATE SALES.DIM_PRODUCT SET PRODUCT_CODE = 'P-001' WHERE PRODUCT_SK = 2",
    "UPDATE SALES.FCT_INVENTORY SET STORE_SK = 99 WHERE DATE_SK = 20240101 AND PRODUCT_SK = 1 AND STORE_SK = 1",
]
# pipeline of the source table → the step each defect must fail
EXPECTED_FAILURES = {
    "sales.fact_sales": {"metric_sums", "row_hash"},
    "sales.fact_returns": {"record_counts", "row_hash"},
    "sales.dim_customer": {"scd2", "row_hash"},
    "sales.dim_product": {"dim_business_keys", "row_hash"},
    "sales.fact_inventory": {"fk_store_key", "row_hash"},
    "sales.dim_store": {"schema_nullability"},
}


async def _generate(source_url: str, target_url: str) -> tuple[list[generate.GeneratedPipeline], dict]:  # type: ignore[type-arg]
    source, target = await asyncio.gather(introspect(source_url, [SOURCE_SCHEMA]), introspect(target_url, [TARGET_SCHEMA]))
    suggestions = suggest(source, target)
    approved = [
        generate.ApprovedMapping(source_table=t.source_table, target_table=t.target_table, columns=t.column_map())
        for t in suggestions.tables if t.confidence >= 0.8
    ]
    rels = relationships.infer(source)
    classes = classify.classify(source, rels)
    pipelines = generate.generate_pipelines(approved, source, target, classes, rels,
                                            connections={"source": "${SOURCE_URL}", "target": "${TARGET_URL}"})
    return pipelines, {"source": source, "target": target, "suggestions": suggestions, "rels": rels,
                       "classes": {c.table: c for c in classes}}


async def _run_all(pipelines: list[generate.GeneratedPipeline], source_url: str, target_url: str) -> dict:  # type: ignore[type-arg]
    env = {"SOURCE_URL": source_url, "TARGET_URL": target_url}
    results = {}
    for pipeline in pipelines:
        results[pipeline.source_table] = await run_pipeline(load_pipeline(pipeline.yaml), env=env, max_parallel=2)
    return results


async def test_generated_pipelines_pass_on_a_faithful_copy(source_url: str, target_url: str) -> None:
    pipelines, found = await _generate(source_url, target_url)
    source = found["source"]
    assert len(source.tables) == 12 and len(found["target"].tables) == 13
    table = found["suggestions"].table("sales.fact_sales")
    assert table.target_table == "SALES.FCT_SALES"
    assert table.column_map()["sales_amount"] == "SALES_AMT" and table.column_map()["quantity"] == "QTY"
    assert found["suggestions"].unmapped_target_tables == ["SALES.AUDIT_LOG"]
    classes = found["classes"]
    assert classes["sales.fact_sales"].role == "fact" and classes["sales.dim_customer"].scd2 is not None
    assert classes["sales.bridge_customer_promotion"].role == "bridge"
    assert classes["sales.stg_sales_import"].role == "staging"
    assert any(r.child_table == "sales.fact_returns" and r.parent_table == "sales.dim_product" for r in found["rels"])
    assert len(pipelines) == 12
    results = await _run_all(pipelines, source_url, target_url)
    problems = {
        table: [(s.step, s.status, s.message) for s in result.steps if s.status != "passed"]
        for table, result in results.items()
    }
    assert {t: p for t, p in problems.items() if p} == {}
    ran = sum(len(r.steps) for r in results.values())
    assert ran >= 70


async def test_generated_pipelines_fail_on_the_right_step_for_each_defect(
    source_url: str, target_url: str, fakesnow_server  # type: ignore[no-untyped-def]
) -> None:
    pipelines, _ = await _generate(source_url, target_url)
    defective = fakesnow_server.url()
    ddl = TARGET_DDL.replace("STORE_NAME VARCHAR(100) NOT NULL", "STORE_NAME VARCHAR(100)")
    await _load(defective, ddl, load_statements(target_rows(), "snowflake"), ["CREATE SCHEMA IF NOT EXISTS SALES"])
    async with connect(defective) as db:
        for statement in DEFECTS:
            await db.execute(statement)
    results = await _run_all(pipelines, source_url, defective)
    failed = {table: {s.step for s in r.steps if s.status == "failed"} for table, r in results.items()}
    for table, steps in EXPECTED_FAILURES.items():
        assert steps <= failed[table], (table, failed[table])
    assert "record_counts" not in failed["sales.fact_sales"]  # the sums differ, not the rows
    assert "row_hash" not in failed["sales.dim_store"]  # only the column's NULL-ability changed
    changed = next(s for s in results["sales.fact_sales"].steps if s.step == "row_hash")
    [row] = changed.sample  # the altered sale, and only its amount
    assert row["kind"] == "changed" and set(row["columns"]) == {"sales_amount"}
    assert "7" in str(row["key"])
    untouched = set(results) - set(EXPECTED_FAILURES)
    assert untouched and all(results[t].status == "passed" for t in untouched), {
        t: [(s.step, s.status, s.message) for s in results[t].steps if s.status != "passed"] for t in untouched}


async def test_value_inclusion_measured_in_the_database(source_url: str) -> None:
    source = await introspect(source_url, [SOURCE_SCHEMA])
    rels = [r for r in relationships.infer(source) if r.child_table == "sales.fact_returns"]
    measured = await measure_inclusion(source_url, rels)
    # fact_returns' three keys (none declared in its DDL), each confirmed by the data
    assert sorted((r.child_columns, r.parent_table) for r in measured) == [
        (["customer_key"], "sales.dim_customer"), (["date_key"], "sales.dim_date"), (["product_key"], "sales.dim_product")]
    assert all("data" in r.kinds and r.confidence > 0.95 for r in measured)
    async with connect(source_url) as db:
        await db.execute("INSERT INTO sales.fact_returns VALUES (99, 20240101, 77, 2, DATE '2024-01-01', 1, 1.00)")
    [product] = [r for r in await measure_inclusion(source_url, rels) if r.parent_table == "sales.dim_product"]
    assert product.confidence < 0.9 and any("5 of 6" in e.detail for e in product.evidence)


async def test_generated_target_ddl_runs_on_postgres_and_fakesnow(source_url: str, fakesnow_url: str) -> None:
    from ombudsman.metadata.target_ddl import generate_target_ddl

    source = await introspect(source_url, [SOURCE_SCHEMA])
    for url, target, schema in ((fakesnow_url, "snowflake", "MIGRATED"), (source_url, "postgres", "migrated")):
        ddl = generate_target_ddl(source, target, schema_map={"sales": schema})
        async with connect(url) as db:
            for statement in ddl.statements:
                await db.execute(statement)
        created = await introspect(url, [schema])
        assert len(created.tables) == 12
        result = suggest(source, created)
        assert len(result.tables) == 12 and result.unmapped_source_tables == []
        for table in result.tables:  # every column found again, with a type that holds it
            assert table.unmapped_source_columns == [] and table.confidence >= 0.9
            assert all(c.type_compatibility == "lossless" for c in table.columns), table
        customer = created.table(schema, "DIM_CUSTOMER" if target == "snowflake" else "dim_customer")
        assert customer is not None and customer.primary_key == (["CUSTOMER_KEY"] if target == "snowflake" else ["customer_key"])

"""Migration code generation (issue 22), pure: the demo warehouse's approved mappings rendered for
every platform, each artefact checked (sqlglot parses every SQL statement for its dialect, the Beam
pipeline compiles, the dbt YAML loads and refers only to what exists); merge keys, SCD2, composite
and missing keys; hostile names from a catalog do not break out of their quotes."""

from __future__ import annotations

import jinja2
import pytest
from sqlglot import exp

from ombudsman.contracts.catalog import Catalog, ColumnInfo, TableInfo
from ombudsman.contracts.replies import Invalid
from ombudsman.engine.pipeline.sample import source_data
from ombudsman.metadata import classify, relationships
from ombudsman.metadata.codegen import PLATFORMS, build_plan, generate_code
from ombudsman.metadata.ddl import parse_ddl
from ombudsman.metadata.generate import ApprovedMapping
from tests.metadata.codegen_checks import check_beam, check_dbt, check_sql_bundle, identifiers, parse_sql
from tests.metadata.warehouse import RENAMED, SOURCE_DDL, TARGET_TABLES


def demo_plan(target_kind: str = "duckdb"):  # type: ignore[no-untyped-def]
    """The demo's source warehouse mapped onto upper-case target names (SALES.CUSTOMERS …)."""
    ddl = ";\n".join(t.ddl(f"sales.{name}") for name, t in source_data().items())
    catalog = parse_ddl(f"CREATE SCHEMA sales;\n{ddl};", "postgres")
    classes = classify.classify(catalog, relationships.infer(catalog))
    approved = [ApprovedMapping(source_table=t.qualified_name, target_table=f"SALES.{t.name.upper()}",
                                columns={c.name: c.name.upper() for c in t.columns}) for t in catalog.tables]
    return build_plan("demo-sales", approved, catalog, classes, {}, target_kind=target_kind)


def warehouse_plan():  # type: ignore[no-untyped-def]
    """The metadata tests' warehouse (an SCD2 customer dimension) onto its renamed Snowflake target."""
    catalog = parse_ddl(SOURCE_DDL, "postgres")
    classes = classify.classify(catalog, relationships.infer(catalog))
    approved = [ApprovedMapping(source_table=t.qualified_name,
                                target_table=f"SALES.{TARGET_TABLES.get(t.name, t.name.upper())}",
                                columns={c.name: RENAMED.get(c.name, c.name.upper()) for c in t.columns})
                for t in catalog.tables]
    return build_plan("shop", approved, catalog, classes, {}, target_kind="snowflake")


def files_of(platform: str, plan) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {a.path: a.content for a in generate_code(platform, plan)}


def test_plan_keys_and_scd2_under_target_names() -> None:
    plan = demo_plan()
    by_name = {t.source_table: t for t in plan.tables}
    assert set(by_name) == {"customers", "products", "customer_history", "orders"}
    assert by_name["orders"].key == ["ORDER_ID"] and by_name["orders"].scd2 is None
    assert [t.slug for t in plan.tables] == [t.source_table for t in plan.tables]  # plain names stay readable
    customer = next(t for t in warehouse_plan().tables if t.source_table == "dim_customer")
    assert customer.target_name == "SALES.DIM_CUSTOMER" and customer.key == ["CUSTOMER_SK"]
    scd2 = customer.scd2
    assert scd2 is not None
    assert (scd2.business_key, scd2.valid_from, scd2.valid_to, scd2.current_flag) == (
        ["CUSTOMER_ID"], "EFFECTIVE_FROM", "EFFECTIVE_TO", "IS_CURRENT")
    assert scd2.attributes == ["CUSTOMER_NAME", "CITY"]


@pytest.mark.parametrize("platform", ["snowflake", "bigquery", "databricks"])
def test_sql_platforms_parse_and_merge_every_table_by_its_key(platform: str) -> None:
    plan = demo_plan()
    parsed = check_sql_bundle(platform, files_of(platform, plan))
    creates = [s for s in parsed[f"{platform}/ddl.sql"] if isinstance(s, exp.Create) and s.kind == "TABLE"]
    created = {s.this.this.name if isinstance(s.this, exp.Schema) else s.this.name for s in creates}
    for table in plan.tables:
        assert {table.target_table, f"{table.target_table}__staging"} <= created
        merges = [s for s in parsed[f"{platform}/load/{table.slug}.sql"] if isinstance(s, exp.Merge)]
        assert len(merges) == 1
        merge = merges[0]
        assert merge.this.name == table.target_table
        on_columns = {c.name for c in merge.args["on"].find_all(exp.Column)}
        assert on_columns == set(table.key)
        inserted = merge.find(exp.Insert) or next(w for w in merge.find_all(exp.When) if w.args.get("then"))
        assert {c.target for c in table.columns} <= identifiers([inserted])
    if platform == "databricks":
        assert all(s.sql(dialect="databricks").endswith("USING DELTA") for s in creates
                   if not s.args.get("expression") and "LIKE" not in s.sql(dialect="databricks"))


def test_snowflake_stream_and_task_merge_what_the_stream_holds() -> None:
    plan = demo_plan()
    files = files_of("snowflake", plan)
    orders = next(t for t in plan.tables if t.source_table == "orders")
    text = files[f"snowflake/incremental/{orders.slug}.sql"]
    statements = parse_sql(text, "snowflake")
    commands = [s.sql(dialect="snowflake", comments=False) for s in statements if isinstance(s, exp.Command)]
    assert commands[0].startswith('CREATE STREAM IF NOT EXISTS "SALES"."ORDERS__stream" ON TABLE "SALES"."ORDERS__staging"')
    assert commands[1].startswith('CREATE TASK IF NOT EXISTS "SALES"."ORDERS__merge_task"')
    assert "SYSTEM$STREAM_HAS_DATA('\"SALES\".\"ORDERS__stream\"')" in commands[1]
    assert commands[2] == 'ALTER TASK "SALES"."ORDERS__merge_task" RESUME'
    merge = next(s for s in statements if isinstance(s, exp.Merge))  # the task's body, parsed on its own
    assert "ORDERS__stream" in {t.name for t in merge.find_all(exp.Table)}


def test_databricks_scd2_merge_end_dates_the_current_version() -> None:
    plan = warehouse_plan()
    files = files_of("databricks", plan)
    check_sql_bundle("databricks", files)
    history = next(t for t in plan.tables if t.source_table == "dim_customer")
    assert sorted(p for p in files if p.startswith("databricks/scd2/")) == [f"databricks/scd2/{history.slug}.sql"]
    merge = next(s for s in parse_sql(files[f"databricks/scd2/{history.slug}.sql"], "databricks")
                 if isinstance(s, exp.Merge))
    matched, not_matched = list(merge.find_all(exp.When))
    updates = {eq.this.name: eq.expression for eq in matched.args["then"].expressions}
    assert updates["EFFECTIVE_TO"].name == "EFFECTIVE_FROM" and updates["IS_CURRENT"].this is False
    assert {"CUSTOMER_NAME", "CITY"} <= identifiers([matched.args["condition"]])  # a changed attribute makes a new version
    assert isinstance(merge.args["using"].this, exp.Union)  # the changed rows again, with no merge key
    assert {c.target for c in history.columns} <= identifiers([not_matched])


def test_the_demo_history_gets_an_scd2_merge_that_parses() -> None:
    """The demo's customer_history is classified type 2 (customer_code versioned by valid_from/valid_to,
    is_current): Databricks gets its end-dating MERGE, which parses, keyed by the business key."""
    plan = demo_plan()
    history = next(t for t in plan.tables if t.source_table == "customer_history")
    assert history.scd2 is not None
    assert (history.scd2.business_key, history.scd2.valid_from, history.scd2.valid_to, history.scd2.current_flag,
            history.scd2.attributes) == (["CUSTOMER_CODE"], "VALID_FROM", "VALID_TO", "IS_CURRENT", ["REGION"])
    files = files_of("databricks", plan)
    parsed = check_sql_bundle("databricks", files)
    assert sorted(p for p in files if p.startswith("databricks/scd2/")) == [f"databricks/scd2/{history.slug}.sql"]
    merge = next(s for s in parsed[f"databricks/scd2/{history.slug}.sql"] if isinstance(s, exp.Merge))
    assert merge.this.name == "CUSTOMER_HISTORY"
    assert "CUSTOMER_CODE" in {c.name for c in merge.args["on"].find_all(exp.Column)}
    matched, _ = list(merge.find_all(exp.When))
    updates = {eq.this.name: eq.expression for eq in matched.args["then"].expressions}
    assert updates["VALID_TO"].name == "VALID_FROM" and updates["IS_CURRENT"].this is False
    assert "REGION" in identifiers([matched.args["condition"]])


def test_beam_pipeline_compiles_and_reads_and_writes_every_table() -> None:
    plan = demo_plan()
    tables = check_beam(files_of("beam", plan))
    assert [t["name"] for t in tables] == [t.slug for t in plan.tables]
    orders = next(t for t in tables if t["source_table"] == "sales.orders")
    query, statement = parse_sql(orders["query"], "postgres")[0], parse_sql(orders["statement"], "duckdb")[0]
    assert [c.name for c in query.expressions][:2] == ["order_id", "customer_id"]
    assert statement.this.this.name == "ORDERS" and len(list(statement.find_all(exp.Placeholder))) == 9


def test_dbt_project_models_sources_tests_and_snapshots() -> None:
    plan = demo_plan()
    found = check_dbt(files_of("dbt", plan))
    assert set(found["models"]) == {t.slug for t in plan.tables}
    assert set(found["sources"].values()) == {"customers", "products", "customer_history", "orders"}
    orders = found["models"][next(t.slug for t in plan.tables if t.source_table == "orders")]
    assert orders["columns"] == [{"name": "ORDER_ID", "quote": True, "data_tests": ["not_null", "unique"]}]
    # the demo's customer_history is type 2: a snapshot keeps its current versions by the business key
    history = next(t for t in plan.tables if t.source_table == "customer_history")
    assert found["snapshots"] == [f"dbt/snapshots/{history.slug}_snapshot.sql"]
    snapshot = files_of("dbt", plan)[f"dbt/snapshots/{history.slug}_snapshot.sql"]
    assert "unique_key='CUSTOMER_CODE'" in snapshot and "strategy='check'" in snapshot
    assert '"region" as "REGION"' in snapshot and 'where "is_current" = true' in snapshot
    plan = warehouse_plan()
    files = files_of("dbt", plan)
    found = check_dbt(files)
    assert found["snapshots"] == ["dbt/snapshots/dim_customer_snapshot.sql"]
    snapshot = files["dbt/snapshots/dim_customer_snapshot.sql"]
    assert "unique_key='CUSTOMER_ID'" in snapshot and "strategy='check'" in snapshot
    assert '"customer_name" as "CUSTOMER_NAME"' in snapshot and 'where "is_current" = true' in snapshot


def _hostile_plan():  # type: ignore[no-untyped-def]
    evil_table = 'we"ird tab`le\'; DROP TABLE x; --'
    columns = [ColumnInfo(name='id"key', data_type="integer", ordinal=1, nullable=False),
               ColumnInfo(name="na`me ü", data_type="varchar", ordinal=2, length=20),
               ColumnInfo(name="{{ evil() }}", data_type="varchar", ordinal=3, length=20),
               ColumnInfo(name="multi\nline", data_type="integer", ordinal=4)]
    catalog = Catalog(kind="postgres", schemas=["Sch ema"], tables=[
        TableInfo(schema_name="Sch ema", name=evil_table, columns=columns, primary_key=['id"key'])])
    approved = [ApprovedMapping(source_table=f"Sch ema.{evil_table}", target_table=f"TGT sch.{evil_table}",
                                columns={c.name: c.name for c in columns})]
    return build_plan("p1", approved, catalog, [], {}, target_kind="postgres"), evil_table, columns


def test_hostile_names_stay_inside_their_quotes_on_every_platform() -> None:
    plan, evil_table, columns = _hostile_plan()
    names = {c.name for c in columns}
    for platform in ("snowflake", "bigquery", "databricks"):
        parsed = check_sql_bundle(platform, files_of(platform, plan))
        statements = [s for group in parsed.values() for s in group]
        assert not [s for s in statements if isinstance(s, exp.Drop)], platform
        merge = next(s for s in statements if isinstance(s, exp.Merge))
        assert merge.this.name == evil_table and names <= identifiers([merge]), platform
    tables = check_beam(files_of("beam", plan))
    assert tables[0]["target_table"] == f"TGT sch.{evil_table}"
    insert = parse_sql(tables[0]["statement"], "postgres")[0]
    assert insert.this.this.name == evil_table and names <= identifiers([insert])
    files = files_of("dbt", plan)
    check_dbt(files)
    model = next(text for path, text in files.items() if path.startswith("dbt/models/") and path.endswith(".sql"))
    # dbt renders the model with Jinja: the hostile names must come out as text, never be evaluated
    rendered = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(model).render(
        config=lambda **kw: "", source=lambda s, t: f"SRC({s},{t})")
    assert '"{{ evil() }}" AS "{{ evil() }}"'.lower() in rendered.lower()
    assert '"multi\nline"' in rendered and "--" in rendered
    for line in rendered.splitlines():  # a line break in a name never ends a comment early
        if line.startswith("--"):
            assert "\n" not in line


def test_composite_key_and_no_key() -> None:
    columns = [ColumnInfo(name=n, data_type="integer", ordinal=i, nullable=False) for i, n in enumerate(["a", "b", "v"], 1)]
    catalog = Catalog(kind="postgres", tables=[
        TableInfo(schema_name="s", name="pair", columns=columns, primary_key=["a", "b"]),
        TableInfo(schema_name="s", name="heap", columns=columns)])
    approved = [ApprovedMapping(source_table="s.pair", target_table="t.pair"),
                ApprovedMapping(source_table="s.heap", target_table="t.heap")]
    plan = build_plan("p", approved, catalog, [], {}, target_kind="postgres")
    parsed = check_sql_bundle("bigquery", files_of("bigquery", plan))
    merge = next(s for s in parsed["bigquery/load/pair.sql"] if isinstance(s, exp.Merge))
    assert {c.name for c in merge.args["on"].find_all(exp.Column)} == {"a", "b"}
    heap = parsed["bigquery/load/heap.sql"]
    assert not [s for s in heap if isinstance(s, exp.Merge)] and isinstance(heap[0], exp.Insert)
    dbt = files_of("dbt", plan)
    check_dbt(dbt)
    assert "group by \"a\", \"b\"" in dbt["dbt/tests/pair_key_unique.sql"]
    # a person's key (keys.effective_keys) wins over the declared one
    plan = build_plan("p", approved, catalog, [], {"s.heap": ["v"]}, target_kind="postgres")
    assert [t.key for t in plan.tables] == [["a", "b"], ["v"]]


def test_unknown_platform_and_nothing_approved_are_refused() -> None:
    with pytest.raises(Invalid, match="unknown platform 'oracle'"):
        generate_code("oracle", demo_plan())
    empty = build_plan("p", [], Catalog(kind="postgres"), [], {})
    for platform in PLATFORMS:
        with pytest.raises(Invalid, match="approve table mappings first"):
            generate_code(platform, empty)


def test_databricks_scd2_merge_run_on_duckdb_versions_the_changed_rows() -> None:
    """The SCD2 MERGE, transpiled by sqlglot to DuckDB and run on rows: a changed customer's current
    version is end-dated and its new version inserted, an unchanged one is left alone, a new one added."""
    import duckdb
    import sqlglot

    sql = files_of("databricks", warehouse_plan())["databricks/scd2/dim_customer.sql"]
    columns = ('"CUSTOMER_SK" INT, "CUSTOMER_ID" VARCHAR, "CUSTOMER_NAME" VARCHAR, "CITY" VARCHAR, '
               '"EFFECTIVE_FROM" DATE, "EFFECTIVE_TO" DATE, "IS_CURRENT" BOOLEAN')
    with duckdb.connect() as db:
        db.execute('CREATE SCHEMA "SALES"')
        for name in ("DIM_CUSTOMER", "DIM_CUSTOMER__staging"):
            db.execute(f'CREATE TABLE "SALES"."{name}" ({columns})')
        db.execute("""INSERT INTO "SALES"."DIM_CUSTOMER" VALUES
            (1, 'C001', 'Ada', 'London', '2020-01-01', '2023-06-01', false),
            (2, 'C001', 'Ada', 'Paris', '2023-06-01', NULL, true),
            (3, 'C002', 'Bob', 'Berlin', '2020-01-01', NULL, true)""")
        db.execute("""INSERT INTO "SALES"."DIM_CUSTOMER__staging" VALUES
            (7, 'C001', 'Ada', 'Madrid', '2024-01-01', NULL, true),
            (8, 'C002', 'Bob', 'Berlin', '2024-01-01', NULL, true),
            (9, 'C009', 'Zed', 'Oslo', '2024-01-01', NULL, true)""")
        for statement in sqlglot.transpile(sql, read="databricks", write="duckdb"):
            db.execute(statement)
        rows = db.execute('SELECT "CUSTOMER_SK", "CITY", CAST("EFFECTIVE_TO" AS VARCHAR), "IS_CURRENT" '
                          'FROM "SALES"."DIM_CUSTOMER" ORDER BY 1').fetchall()
        staged = db.execute('SELECT count(*) FROM "SALES"."DIM_CUSTOMER__staging"').fetchone()
    assert rows == [(1, "London", "2023-06-01", False), (2, "Paris", "2024-01-01", False),
                    (3, "Berlin", None, True), (7, "Madrid", None, True), (9, "Oslo", None, True)]
    assert staged == (0,)


def test_merge_by_key_run_on_duckdb_updates_and_inserts() -> None:
    """The BigQuery load of the demo's products, transpiled by sqlglot to DuckDB and run: a staged row
    with a known key updates it, a new key is inserted, other rows stay, the staging table is emptied."""
    import duckdb
    import sqlglot

    plan = demo_plan()
    products = next(t for t in plan.tables if t.source_table == "products")
    sql = files_of("bigquery", plan)[f"bigquery/load/{products.slug}.sql"]
    with duckdb.connect() as db:
        db.execute('CREATE SCHEMA "SALES"')
        for name in ("PRODUCTS", "PRODUCTS__staging"):
            db.execute(f'CREATE TABLE "SALES"."{name}" ("PRODUCT_ID" INT, "SKU" VARCHAR, "CATEGORY" VARCHAR, '
                       '"PRICE" DECIMAL(10, 2))')
        db.execute("""INSERT INTO "SALES"."PRODUCTS" VALUES (1, 'SKU-1', 'Books', 8.99), (2, 'SKU-2', 'Games', 11.99)""")
        db.execute("""INSERT INTO "SALES"."PRODUCTS__staging" VALUES (2, 'SKU-2', 'Toys', 12.49),
                      (3, 'SKU-3', 'Tools', 14.99)""")
        for statement in sqlglot.transpile(sql, read="bigquery", write="duckdb"):
            db.execute(statement)
        rows = db.execute('SELECT "PRODUCT_ID", "CATEGORY", CAST("PRICE" AS VARCHAR) FROM "SALES"."PRODUCTS" '
                          'ORDER BY 1').fetchall()
        staged = db.execute('SELECT count(*) FROM "SALES"."PRODUCTS__staging"').fetchone()
    assert rows == [(1, "Books", "8.99"), (2, "Toys", "12.49"), (3, "Tools", "14.99")] and staged == (0,)

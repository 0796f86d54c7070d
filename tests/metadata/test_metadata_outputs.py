"""Catalog diff, target DDL generation and pipeline generation (pure parts)."""

from __future__ import annotations

import sqlglot
import yaml

from ombudsman.contracts.pipeline import load_pipeline
from ombudsman.metadata import classify, generate, relationships
from ombudsman.metadata.ddl import parse_ddl
from ombudsman.metadata.diff import diff_catalogs
from ombudsman.metadata.mapping import suggest
from ombudsman.metadata.target_ddl import TARGETS, generate_target_ddl
from tests.metadata.warehouse import SOURCE_DDL, TARGET_DDL

TSQL = """
CREATE TABLE dbo.DimCustomer (CustomerKey INT IDENTITY(1,1) NOT NULL PRIMARY KEY, CustomerID NVARCHAR(20) NOT NULL,
  Balance MONEY, Notes NVARCHAR(MAX), Created DATETIME2(7), Seen DATETIMEOFFSET, Active BIT, Tiny TINYINT,
  Ratio FLOAT, Guid UNIQUEIDENTIFIER, Doc XML, Blob VARBINARY(MAX), At TIME(7), Born DATE, Old DATETIME,
  Code CHAR(3), Wide DECIMAL(38,10));
CREATE TABLE dbo.FactSales (SaleID BIGINT NOT NULL PRIMARY KEY,
  CustomerKey INT NOT NULL REFERENCES dbo.DimCustomer (CustomerKey), Amount DECIMAL(12,2));
"""


def test_diff_reports_added_removed_and_retyped() -> None:
    before = parse_ddl("CREATE TABLE a (x INT, y VARCHAR(10), z INT NOT NULL); CREATE TABLE gone (x INT);", "postgres")
    after = parse_ddl("CREATE TABLE a (x BIGINT, y VARCHAR(20), w DATE, z INT); CREATE TABLE fresh (x INT);", "postgres")
    diff = diff_catalogs(before, after)
    assert diff.tables_added == ["public.fresh"] and diff.tables_removed == ["public.gone"]
    assert diff.columns_added == {"public.a": ["w"]} and diff.columns_removed == {}
    assert [(c.column, c.before, c.after) for c in diff.columns_retyped["public.a"]] == [
        ("x", "integer", "bigint"), ("y", "varchar(10)", "varchar(20)")]
    assert [(c.column, c.before, c.after) for c in diff.nullability_changed["public.a"]] == [("z", "not null", "null")]
    assert diff.summary() == {"first_extraction": False, "tables_added": 1, "tables_removed": 1, "columns_added": 1,
                              "columns_removed": 0, "columns_retyped": 2, "nullability_changed": 1}
    assert diff_catalogs(after, after).empty
    assert diff_catalogs(None, after).summary()["first_extraction"] is True


def test_target_ddl_for_every_target_parses_back_and_flags_lossy() -> None:
    catalog = parse_ddl(TSQL, "tsql")
    for target in TARGETS:
        ddl = generate_target_ddl(catalog, target)
        for statement in ddl.statements:
            sqlglot.parse_one(statement, read=target)  # valid in the target's dialect
        assert ddl.sql.count("CREATE TABLE") == 2
        for item in ddl.lossy:
            assert f"{item.compatibility.upper()}: " in ddl.sql
    snow = generate_target_ddl(catalog, "snowflake")  # the engine's type map: nothing lost on Snowflake
    assert snow.lossy == [] and '"DBO"."DIMCUSTOMER"' in snow.sql and '"SEEN" TIMESTAMPTZ(9)' in snow.sql
    assert "NOTE: xml kept as text" in snow.sql
    assert 'FOREIGN KEY ("CUSTOMERKEY") REFERENCES "DBO"."DIMCUSTOMER"' in snow.sql
    assert snow.sql.index('"DBO"."DIMCUSTOMER" (') < snow.sql.index('"DBO"."FACTSALES" (')  # parents first
    pg = {c.column: c for c in generate_target_ddl(catalog, "postgres").lossy}
    assert set(pg) == {"Created", "Seen", "At"}
    assert "7 to 6 digits" in pg["Created"].reason and pg["Created"].source_type == "datetime2(7)"
    assert "UTC offset is dropped" in pg["Seen"].reason
    # BigQuery and Databricks through the engine's type map too: the same words as every other target
    bq = {c.column: c for c in generate_target_ddl(catalog, "bigquery").lossy}
    assert set(bq) == {"Created", "Seen", "At"}
    assert "UTC offset is dropped" in bq["Seen"].reason and "7 to 6 digits" in bq["Seen"].reason
    bq_sql = generate_target_ddl(catalog, "bigquery").sql
    assert "`SaleID` INT64 NOT NULL" in bq_sql and "BIGNUMERIC(38, 10)" in bq_sql
    assert "`Doc` STRING, /* NOTE: xml kept as text" in bq_sql  # the XML's text is kept whole, as on Snowflake
    assert "`CustomerID` STRING(20) NOT NULL" in bq_sql and "`Code` STRING(3)" in bq_sql  # lengths kept
    dbx = {c.column: c for c in generate_target_ddl(catalog, "databricks").lossy}
    assert set(dbx) == {"Created", "Seen", "At"}
    assert dbx["At"].target_type == "STRING" and "time stored as text" in dbx["At"].reason


def test_target_ddl_schema_map_and_bad_target() -> None:
    import pytest

    from ombudsman.contracts.replies import Invalid

    catalog = parse_ddl(TSQL, "tsql")
    ddl = generate_target_ddl(catalog, "snowflake", schema_map={"dbo": "CORE"})
    assert ddl.table_names["dbo.FactSales"] == "CORE.FACTSALES"
    with pytest.raises(Invalid, match="unsupported target 'oracle'"):
        generate_target_ddl(catalog, "oracle")


def _warehouse_pipelines(fields=generate.engine_validator_fields):  # type: ignore[no-untyped-def]
    source, target = parse_ddl(SOURCE_DDL, "postgres"), parse_ddl(TARGET_DDL, "snowflake")
    rels = relationships.infer(source)
    classes = classify.classify(source, rels)
    approved = [
        generate.ApprovedMapping(source_table=t.source_table, target_table=t.target_table, columns=t.column_map())
        for t in suggest(source, target).tables
    ]
    return generate.generate_pipelines(approved, source, target, classes, rels, fields=fields), source, classes, rels


def test_pipelines_chosen_by_classification_validate_against_the_spec_and_engine() -> None:
    from ombudsman.engine.validators import get_validator

    pipelines, _, _, _ = _warehouse_pipelines()
    assert len(pipelines) == 12
    by_table = {p.source_table: p for p in pipelines}
    common = {"schema_columns", "schema_datatypes", "schema_nullability", "record_counts"}
    for pipeline in pipelines:
        spec = load_pipeline(pipeline.yaml)
        assert set(spec.connections) == {"source", "target"}
        assert common <= {s.validator for s in spec.steps}
        for step in spec.steps:  # every step's parameters are what its validator accepts
            get_validator(step.validator).Params.model_validate(step.parameters)
    customer = load_pipeline(by_table["sales.dim_customer"].yaml)
    scd2 = customer.step("scd2")
    assert scd2.parameters == {"business_key": ["customer_id"], "valid_from": "valid_from", "valid_to": "valid_to",
                               "current_flag": "is_current"}
    assert customer.step("dim_business_keys").parameters == {"business_key": ["customer_id"], "unique": False}
    assert customer.step("dim_surrogate_keys").parameters == {"surrogate_key": "customer_key"}
    assert customer.step("scd2").columns["valid_from"] == "EFFECTIVE_FROM"
    assert "scd2" in by_table["sales.dim_customer"].tags
    product = load_pipeline(by_table["sales.dim_product"].yaml)
    assert "scd2" not in {s.id for s in product.steps}
    assert product.step("dim_business_keys").parameters["unique"] is True
    sales = load_pipeline(by_table["sales.fact_sales"].yaml)
    # measures grouped by the date dimension's key, at most MAX_GROUPS groups one by one (then per bucket)
    assert sales.step("metric_sums").parameters == {"measures": ["quantity", "unit_price", "sales_amount"],
                                                   "group_by": ["date_key"], "max_groups": 1000, "buckets": 256}
    assert sales.step("metric_averages").parameters["measures"] == ["quantity", "unit_price", "sales_amount"]
    assert sales.step("nulls").parameters["columns"][:2] == ["sale_id", "date_key"]  # NOT NULL in the source
    late = sales.step("late_arriving_date_key")
    assert late.parameters == {"event_column": "date_key", "dimension": "sales.dim_date",
                               "target_dimension": "SALES.DIM_DATE", "fact_key": "date_key", "dim_key": "date_key",
                               "target_dim_key": "DATE_SK"}
    assert {"schema_constraints", "row_hash"} <= {s.validator for s in sales.steps}
    assert product.step("uniqueness_keys").parameters == {"columns": ["product_key", "product_code"],
                                                         "expect_unique": True}
    assert customer.step("uniqueness_keys").parameters["columns"] == ["customer_key"]  # SCD2: the business key repeats
    assert customer.step("domain_is_current").parameters["column"] == "is_current"
    dates = load_pipeline(by_table["sales.dim_date"].yaml)
    assert dates.step("continuity_full_date").parameters == {"time_column": "full_date", "grain": "day"}
    fk = sales.step("fk_customer_key")
    assert fk.validator == "foreign_keys" and fk.parameters["target_references"] == "SALES.DIM_CUSTOMER"
    assert fk.parameters["target_ref_columns"] == ["CUSTOMER_SK"]
    assert str(sales.steps[0].target_table) == "SALES.FCT_SALES"
    assert "dim_business_keys" not in {s.validator for s in sales.steps}
    staging = load_pipeline(by_table["sales.stg_sales_import"].yaml)
    assert {s.validator for s in staging.steps} <= common | {"row_hash"}
    # constraints are compared where the Snowflake target keeps them: its dimensions' primary keys
    assert "schema_constraints: the target table declares no constraint" in by_table["sales.stg_sales_import"].skipped
    assert product.step("schema_constraints").parameters == {"check_foreign_keys": False, "check_unique": False}


def test_missing_validators_are_left_out_and_said() -> None:
    installed = {"schema_columns": set(), "record_counts": set(), "row_hash": {"key_columns"}}
    pipelines, _, _, _ = _warehouse_pipelines(fields=lambda name: installed.get(name))
    sales = next(p for p in pipelines if p.source_table == "sales.fact_sales")
    assert sales.steps == ["schema_columns", "record_counts", "row_hash"]
    assert load_pipeline(sales.yaml).step("row_hash").parameters == {"key_columns": ["sale_id"]}
    assert "metric_sums: not installed" in sales.skipped


def test_dbt_sources_export() -> None:
    _, source, classes, rels = _warehouse_pipelines()
    doc = yaml.safe_load(generate.dbt_sources(source, classes, rels))
    [src] = doc["sources"]
    tables = {t["name"]: t for t in src["tables"]}
    sales_cols = {c["name"]: c.get("tests", []) for c in tables["fact_sales"]["columns"]}
    assert "not_null" in sales_cols["sale_id"] and "unique" in sales_cols["sale_id"]
    assert {"relationships": {"to": "source('sales', 'dim_customer')", "field": "customer_key"}} in sales_cols["customer_key"]
    customer_cols = {c["name"]: c.get("tests", []) for c in tables["dim_customer"]["columns"]}
    assert "unique" not in customer_cols["customer_id"]  # several versions per business key in an SCD2
    assert {"accepted_values": {"values": [True, False], "quote": False}} in customer_cols["is_current"]
    assert tables["fact_inventory"]["tests"][0]["dbt_utils.unique_combination_of_columns"][
        "combination_of_columns"] == ["date_key", "product_key", "store_key"]
    assert all("description" not in c for t in tables.values() for c in t["columns"])
    described = yaml.safe_load(generate.dbt_sources(source, classes, rels, descriptions={
        "sales.fact_sales": {"sale_id": "One sale, as the till recorded it."}}))
    [sale_id] = [c for t in described["sources"][0]["tables"] if t["name"] == "fact_sales"
                 for c in t["columns"] if c["name"] == "sale_id"]
    assert sale_id["description"] == "One sale, as the till recorded it."


def test_target_ddl_cycles_fall_back_to_alter_table() -> None:
    catalog = parse_ddl(
        "CREATE TABLE a (id INT PRIMARY KEY, b_id INT);"
        "CREATE TABLE b (id INT PRIMARY KEY, a_id INT REFERENCES a (id));"
        "ALTER TABLE a ADD CONSTRAINT a_b FOREIGN KEY (b_id) REFERENCES b (id);",
        "postgres",
    )
    ddl = generate_target_ddl(catalog, "postgres")
    alters = [s for s in ddl.statements if s.startswith("ALTER TABLE")]
    assert len(alters) == 1 and "FOREIGN KEY" in alters[0]
    assert sum("REFERENCES" in s for s in ddl.statements) == 2

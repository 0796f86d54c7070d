"""Generation per table class on the defect warehouse's DDL (tests/gateway/defect_warehouse.py: Kimball
and TPC-DS naming, no declared foreign key): which validators each class gets, on which columns,
and that every grouped step is bounded. Pure (catalogs parsed from DDL); the same pipelines run
against real databases in tests/gateway/test_gateway_defect_warehouse.py."""

from __future__ import annotations

from ombudsman.contracts.catalog import ColumnInfo
from ombudsman.contracts.pipeline import PipelineSpec, load_pipeline
from ombudsman.engine.validators import get_validator
from ombudsman.metadata import classify, generate, relationships
from ombudsman.metadata.ddl import parse_ddl
from ombudsman.metadata.generate_dimension import low_cardinality
from ombudsman.metadata.generate_steps import MAX_GROUPS
from ombudsman.metadata.mapping import suggest
from tests.gateway import defect_warehouse as wh


def _pipelines() -> tuple[dict[str, PipelineSpec], dict[str, generate.GeneratedPipeline]]:
    source, target = parse_ddl(wh.SOURCE_DDL, "postgres"), parse_ddl(wh.TARGET_DDL, "snowflake")
    rels = relationships.infer(source)
    classes = classify.classify(source, rels)
    approved = [
        generate.ApprovedMapping(source_table=t.source_table, target_table=t.target_table, columns=t.column_map())
        for t in suggest(source, target).tables
    ]
    generated = {p.source_table: p for p in generate.generate_pipelines(approved, source, target, classes, rels)}
    return {t: load_pipeline(p.yaml) for t, p in generated.items()}, generated


def _by_validator(spec: PipelineSpec, validator: str) -> list[dict[str, object]]:
    return [dict(s.parameters) for s in spec.steps if s.validator == validator]


def test_every_step_is_what_its_validator_accepts_and_grouped_steps_are_bounded() -> None:
    specs, _ = _pipelines()
    assert set(specs) == {t for t in wh.TARGET_NAMES}  # tpcds.promotion has no target: no pair
    for spec in specs.values():
        for step in spec.steps:
            get_validator(step.validator).Params.model_validate(step.parameters)
            if step.validator in ("metric_sums", "metric_averages"):
                assert step.parameters["max_groups"] == MAX_GROUPS and step.parameters["buckets"] <= 1024
            if step.validator == "domain_values":
                assert step.parameters["max_values"] <= MAX_GROUPS


def test_every_table_gets_schema_counts_nulls_on_not_null_columns_and_row_hash() -> None:
    specs, generated = _pipelines()
    for table, spec in specs.items():
        validators = {s.validator for s in spec.steps}
        assert {"schema_columns", "schema_datatypes", "schema_nullability", "record_counts", "row_hash"} <= validators
        # store_returns' target declares no constraint at all: nothing to compare, and said
        assert ("schema_constraints" in validators) == (table != "tpcds.store_returns"), table
    assert "schema_constraints: the target table declares no constraint" in generated["tpcds.store_returns"].skipped
    assert _by_validator(specs["dw.FactSales"], "nulls") == [{"columns": [
        "SalesOrderNumber", "LineNumber", "OrderDateKey", "CustomerKey", "ProductKey", "Quantity", "SalesAmount"]}]
    assert _by_validator(specs["dw.DimCustomer"], "nulls") == [{"columns": [
        "CustomerKey", "CustomerID", "ValidFrom", "IsCurrent"]}]  # Name, Email … are nullable in the source
    # row_hash leaves out the column the target dropped, so the rest is still compared
    assert "Weight" not in _by_validator(specs["dw.DimProduct"], "row_hash")[0]["columns"]
    # the target declares no foreign key: constraints compared without them
    assert _by_validator(specs["dw.FactSales"], "schema_constraints") == [{"check_foreign_keys": False}]


def test_dimensions_get_key_uniqueness_scd2_domains_and_date_continuity() -> None:
    specs, _ = _pipelines()
    customer = specs["dw.DimCustomer"]  # SCD2: the business key repeats across versions
    assert _by_validator(customer, "uniqueness") == [{"columns": ["CustomerKey"], "expect_unique": True}]
    assert _by_validator(customer, "dim_business_keys") == [{"business_key": ["CustomerID"], "unique": False}]
    assert _by_validator(customer, "scd2") == [{"business_key": ["CustomerID"], "valid_from": "ValidFrom",
                                                "valid_to": "ValidTo", "current_flag": "IsCurrent"}]
    domains = {p["column"] for p in _by_validator(customer, "domain_values")}
    assert domains == {"Segment", "CountryCode", "IsCurrent"}  # not Name, Email, keys or dates
    assert customer.step("domain_segment").columns["Segment"] == "CUSTOMERSEGMENT"  # the renamed column
    product = specs["dw.DimProduct"]
    assert _by_validator(product, "uniqueness") == [{"columns": ["ProductKey", "ProductCode"], "expect_unique": True}]
    assert {p["column"] for p in _by_validator(product, "domain_values")} == {"StatusCode"}
    assert _by_validator(specs["dw.DimDate"], "ts_continuity") == [{"time_column": "FullDate", "grain": "day"}]
    assert _by_validator(specs["tpcds.date_dim"], "ts_continuity") == [{"time_column": "d_date", "grain": "day"}]
    assert not _by_validator(specs["dw.FactSales"], "domain_values")  # facts: no domain steps


def test_facts_get_measures_by_date_late_arriving_facts_and_every_reference() -> None:
    specs, generated = _pipelines()
    sales = specs["dw.FactSales"]
    sums = _by_validator(sales, "metric_sums")[0]
    assert sums["measures"] == ["Quantity", "SalesAmount", "DiscountRate"]  # no key, no date
    assert sums["group_by"] == ["OrderDateKey"]  # the key into the date dimension
    assert _by_validator(sales, "metric_averages")[0]["measures"] == sums["measures"]
    late = _by_validator(sales, "late_arriving_facts")
    assert late == [{"event_column": "OrderDateKey", "dimension": "dw.DimDate", "target_dimension": "DW.DIMDATE",
                     "fact_key": "OrderDateKey", "dim_key": "DateKey", "target_dim_key": "DATEKEY"}]
    assert {(p["columns"][0], p["references"]) for p in _by_validator(sales, "foreign_keys")} == {
        ("OrderDateKey", "dw.DimDate"), ("CustomerKey", "dw.DimCustomer"), ("ProductKey", "dw.DimProduct")}
    store_sales = specs["tpcds.store_sales"]
    assert {(p["columns"][0], p["references"]) for p in _by_validator(store_sales, "foreign_keys")} == {
        ("ss_sold_date_sk", "tpcds.date_dim"), ("ss_customer_sk", "tpcds.customer"), ("ss_store_sk", "tpcds.store")}
    assert {p["fact_key"] for p in _by_validator(store_sales, "fact_dim_conformance")} == {
        "ss_sold_date_sk", "ss_customer_sk", "ss_store_sk"}
    store_sums = _by_validator(store_sales, "metric_sums")[0]
    assert store_sums["group_by"] == ["ss_sold_date_sk"]
    assert store_sums["measures"] == ["ss_quantity", "ss_sales_price", "ss_net_paid"]  # not ss_ticket_number
    assert "fact" in generated["tpcds.store_sales"].tags and "date" in generated["dw.DimDate"].tags


def test_low_cardinality_comes_from_type_and_name() -> None:
    def col(name: str, data_type: str, length: int | None = None) -> ColumnInfo:
        return ColumnInfo(name=name, data_type=data_type, ordinal=1, length=length)

    assert low_cardinality(col("IsActive", "boolean"), "postgres")
    assert low_cardinality(col("ca_state", "char", 2), "postgres")
    assert low_cardinality(col("order_status", "varchar", 20), "postgres")
    assert low_cardinality(col("PaymentType", "varchar", 10), "postgres")
    assert not low_cardinality(col("customer_name", "varchar", 40), "postgres")
    assert not low_cardinality(col("email", "text"), "postgres")
    assert not low_cardinality(col("amount", "numeric"), "postgres")


def test_a_column_referencing_two_tables_gets_a_step_for_each() -> None:
    from ombudsman.metadata.relationships import Relationship

    source, target = parse_ddl(wh.SOURCE_DDL, "postgres"), parse_ddl(wh.TARGET_DDL, "snowflake")
    rels = [*relationships.infer(source), Relationship(
        child_table="tpcds.store_sales", child_columns=["ss_customer_sk"], parent_table="dw.DimCustomer",
        parent_columns=["CustomerKey"], confidence=0.5)]
    classes = classify.classify(source, rels)
    approved = [generate.ApprovedMapping(source_table=t.source_table, target_table=t.target_table, columns=t.column_map())
                for t in suggest(source, target).tables]
    sales = next(p for p in generate.generate_pipelines(approved, source, target, classes, rels)
                 if p.source_table == "tpcds.store_sales")
    spec = load_pipeline(sales.yaml)
    assert {(s.id, s.parameters["references"]) for s in spec.steps if s.validator == "foreign_keys"
            and s.parameters["columns"] == ["ss_customer_sk"]} == {("fk_ss_customer_sk", "tpcds.customer"),
                                                                   ("fk_ss_customer_sk_2", "dw.DimCustomer")}

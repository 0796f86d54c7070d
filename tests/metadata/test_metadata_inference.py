"""Relationship inference and table classification on the warehouse catalogs."""

from __future__ import annotations

import pytest

from ombudsman.metadata import classify, relationships
from ombudsman.metadata.ddl import parse_ddl
from ombudsman.metadata.relationships import JoinPair
from tests.metadata.warehouse import SOURCE_DDL, TARGET_DDL


@pytest.fixture(scope="module")
def source():  # type: ignore[no-untyped-def]
    return parse_ddl(SOURCE_DDL, "postgres")


@pytest.fixture(scope="module")
def target():  # type: ignore[no-untyped-def]
    return parse_ddl(TARGET_DDL, "snowflake")


def _rel(rels, child, column):  # type: ignore[no-untyped-def]
    return next(r for r in rels if r.child_table == child and r.child_columns == [column])


def test_declared_and_named_relationships(source) -> None:  # type: ignore[no-untyped-def]
    rels = relationships.infer(source)
    declared = _rel(rels, "sales.fact_sales", "customer_key")
    assert declared.parent_table == "sales.dim_customer" and declared.confidence == 1.0
    assert "declared" in declared.kinds
    # fact_returns declares no FK: its keys are found by name, with less than full confidence
    named = _rel(rels, "sales.fact_returns", "product_key")
    assert (named.parent_table, named.parent_columns, named.kinds) == ("sales.dim_product", ["product_key"], ["name_pattern"])
    assert 0.5 < named.confidence < 1.0
    assert {r.child_table for r in rels if r.parent_table == "sales.dim_date"} == {
        "sales.fact_sales", "sales.fact_returns", "sales.fact_inventory"}
    assert not any(r.child_table == "sales.stg_sales_import" for r in rels)


def test_renamed_keys_found_by_name_in_target(target) -> None:  # type: ignore[no-untyped-def]
    rels = relationships.infer(target)
    rel = _rel(rels, "SALES.FCT_SALES", "CUSTOMER_SK")
    assert (rel.parent_table, rel.parent_columns) == ("SALES.DIM_CUSTOMER", ["CUSTOMER_SK"])


def test_camel_case_key_finds_dim_table_and_plural_table() -> None:
    catalog = parse_ddl(
        "CREATE TABLE dbo.DimCustomer (CustomerKey INT PRIMARY KEY, Name NVARCHAR(50));"
        "CREATE TABLE dbo.customers (id INT PRIMARY KEY);"
        "CREATE TABLE dbo.FactOrders (OrderID INT PRIMARY KEY, CustomerKey INT, customer_id INT, Qty INT);",
        "tsql",
    )
    rels = relationships.infer(catalog)
    assert _rel(rels, "dbo.FactOrders", "CustomerKey").parent_table == "dbo.DimCustomer"
    plural = _rel(rels, "dbo.FactOrders", "customer_id")
    assert (plural.parent_table, plural.parent_columns) == ("dbo.customers", ["id"])


def test_workload_joins_add_evidence_and_confidence(source) -> None:  # type: ignore[no-untyped-def]
    pairs = [
        JoinPair(left_table="sales.dim_product", left_column="product_key", right_table="sales.fact_returns",
                 right_column="product_key", executions=5000),
        JoinPair(left_table="fact_returns", left_column="return_qty", right_table="dim_store",
                 right_column="store_key", executions=3),
        JoinPair(left_table="sales.nope", left_column="x", right_table="sales.dim_store", right_column="store_key"),
    ]
    before = _rel(relationships.infer(source), "sales.fact_returns", "product_key")
    rels = relationships.infer(source, pairs)
    after = _rel(rels, "sales.fact_returns", "product_key")
    assert after.kinds == ["name_pattern", "workload"] and after.confidence > before.confidence
    # the key side is the parent, whatever side of the join it was written on
    assert after.parent_table == "sales.dim_product"
    odd = _rel(rels, "sales.fact_returns", "return_qty")
    assert odd.kinds == ["workload"] and odd.parent_table == "sales.dim_store" and odd.confidence < 0.6


def test_a_join_on_no_key_is_no_relationship(source) -> None:  # type: ignore[no-untyped-def]
    # returns matched to sales by customer and date (fact to fact, as TPC-DS q17 does): every returned
    # customer is a sales customer, so value inclusion would "confirm" it; neither column is a key
    pairs = [JoinPair(left_table="sales.fact_sales", left_column="customer_key", right_table="sales.fact_returns",
                      right_column="customer_key", executions=5000),
             JoinPair(left_table="sales.fact_returns", left_column="return_date", right_table="sales.fact_sales",
                      right_column="order_date", executions=5000)]
    assert relationships.from_workload(source, pairs) == []
    rels = relationships.infer(source, pairs, min_confidence=0.0)
    assert not [r for r in rels if {r.child_table, r.parent_table} == {"sales.fact_sales", "sales.fact_returns"}]
    # the same customer_key joined to the dimension's key is a reference
    to_dimension = JoinPair(left_table="sales.fact_returns", left_column="customer_key",
                            right_table="sales.dim_customer", right_column="customer_key", executions=5000)
    (found,) = relationships.from_workload(source, [to_dimension])
    assert (found.child_table, found.parent_table, found.kinds) == ("sales.fact_returns", "sales.dim_customer",
                                                                    ["workload"])


def test_inclusion_query_and_evidence(source) -> None:  # type: ignore[no-untyped-def]
    rel = _rel(relationships.infer(source), "sales.fact_returns", "product_key")
    sql = relationships.inclusion_query(rel, "tsql")
    assert 'NOT EXISTS' in sql.upper() and "[sales].[dim_product]" in sql
    confirmed = relationships.apply_inclusion(rel, child_values=100, orphans=0)
    assert confirmed.confidence > rel.confidence and "data" in confirmed.kinds
    refuted = relationships.apply_inclusion(rel, child_values=100, orphans=60)
    assert refuted.confidence < 0.5 * rel.confidence


def test_classification(source, target) -> None:  # type: ignore[no-untyped-def]
    classes = {c.table: c for c in classify.classify(source, relationships.infer(source))}
    roles = {name: c.role for name, c in classes.items()}
    assert {n for n, r in roles.items() if r == "fact"} == {"sales.fact_sales", "sales.fact_returns", "sales.fact_inventory"}
    assert roles["sales.bridge_customer_promotion"] == "bridge"
    assert roles["sales.stg_sales_import"] == "staging"
    assert {n for n, r in roles.items() if r == "dimension"} == {
        f"sales.dim_{x}" for x in ("date", "category", "product", "customer", "store", "employee", "promotion")}
    customer = classes["sales.dim_customer"]
    assert customer.surrogate_key == ["customer_key"] and customer.business_key == ["customer_id"]
    assert customer.scd2 is not None
    assert (customer.scd2.valid_from, customer.scd2.valid_to, customer.scd2.current_flag) == ("valid_from", "valid_to", "is_current")
    assert any("validity start column valid_from" in e for e in customer.evidence)
    assert classes["sales.dim_product"].business_key == ["product_code"] and classes["sales.dim_product"].scd2 is None
    sales = classes["sales.fact_sales"]
    assert sales.measures == ["quantity", "unit_price", "sales_amount"] and sales.date_columns == ["order_date"]
    assert set(sales.foreign_keys) == {"date_key", "customer_key", "product_key", "store_key"}
    assert classify.counts(list(classes.values())) == {"bridge": 1, "dimension": 7, "fact": 3, "staging": 1, "scd2": 1}
    # the target, without any declared key but the primary keys, reads the same
    target_classes = {c.table: c for c in classify.classify(target, relationships.infer(target))}
    assert target_classes["SALES.FCT_SALES"].role == "fact"
    t_customer = target_classes["SALES.DIM_CUSTOMER"]
    assert t_customer.role == "dimension" and t_customer.scd2 is not None
    assert t_customer.scd2.valid_from == "EFFECTIVE_FROM" and t_customer.business_key == ["CUSTOMER_ID"]


def test_scd2_needs_two_signals() -> None:
    catalog = parse_ddl(
        "CREATE TABLE d1 (k INT PRIMARY KEY, effective_date DATE, expiry_date DATE);"
        "CREATE TABLE d2 (k INT PRIMARY KEY, start_date DATE, current_flag CHAR(1));"
        "CREATE TABLE d3 (k INT PRIMARY KEY, valid_from DATE);"
        "CREATE TABLE d4 (k INT PRIMARY KEY, is_current BOOLEAN, name VARCHAR(3));",
        "postgres",
    )
    found = {t.name: classify.detect_scd2(t, "postgres") for t in catalog.tables}
    assert found["d1"] is not None and (found["d1"].valid_from, found["d1"].valid_to) == ("effective_date", "expiry_date")
    assert found["d2"] is not None and found["d2"].current_flag == "current_flag"
    assert found["d3"] is None and found["d4"] is None


def test_one_named_parent_per_column() -> None:
    catalog = parse_ddl(
        "CREATE TABLE dbo.DimCustomer (CustomerKey INT PRIMARY KEY);"
        "CREATE TABLE dbo.customers (id INT PRIMARY KEY);"
        "CREATE TABLE dbo.FactOrders (OrderID INT PRIMARY KEY, CustomerKey INT);",
        "tsql",
    )
    rels = [r for r in relationships.infer(catalog) if r.child_table == "dbo.FactOrders"]
    assert [(r.child_columns, r.parent_table) for r in rels] == [(["CustomerKey"], "dbo.DimCustomer")]

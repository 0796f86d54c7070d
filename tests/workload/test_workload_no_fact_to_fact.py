"""The suggester never proposes fact_dim_conformance along a join it cannot afford (issue 24): a
fact-to-fact join (neither column unique) or a join whose parent's uniqueness the catalog does not
know gets no conformance step; a fact joined to its dimension's key still does."""

from __future__ import annotations

import json

from ombudsman.contracts.catalog import Catalog
from ombudsman.workload.analysis import CatalogIndex
from ombudsman.workload.model import QueryGroups, build_model
from ombudsman.workload.suggest import suggest
from ombudsman.workload.upload import read_text
from tests.workload.workload_gen import _table, catalog

FACT_TO_FACT = (
    "SELECT s.OrderDate, SUM(r.Amount) FROM sales.Returns r JOIN dbo.FactSales s ON s.CustomerKey = r.CustomerKey "
    "GROUP BY s.OrderDate"
)
FACT_TO_DIM = (
    "SELECT c.Region, SUM(f.Amount) FROM dbo.FactSales f JOIN dbo.DimCustomer c ON c.CustomerKey = f.CustomerKey "
    "GROUP BY c.Region"
)


def _catalog_with_returns_customer() -> Catalog:
    base = catalog()
    tables = [t for t in base.tables if t.name != "Returns"]
    tables.append(_table("sales", "Returns", [("ReturnID", "int"), ("SalesID", "bigint"), ("CustomerKey", "int"),
                                              ("Amount", "decimal")], ["ReturnID"]))
    return base.model_copy(update={"tables": tables})


def _suggestions(catalog_: Catalog | None, *queries: str) -> list:
    rows = [{"query_sql_text": text, "count_executions": 50} for text in queries]
    groups = QueryGroups().extend(read_text(json.dumps(rows), "w.json"))
    index = CatalogIndex(catalog_)
    return suggest(build_model(list(groups.groups.values()), index), index)


def test_fact_to_fact_join_gets_no_conformance() -> None:
    found = _suggestions(_catalog_with_returns_customer(), FACT_TO_FACT, FACT_TO_DIM)
    conformance = [(s.table, s.parameters["dimension"]) for s in found if s.validator == "fact_dim_conformance"]
    assert conformance == [("dbo.FactSales", "dbo.DimCustomer")]


def test_unique_constraint_counts_as_a_key() -> None:
    cat = catalog()
    for t in cat.tables:
        if t.name == "DimCustomer":
            t.primary_key = ["Name"]
            t.unique_constraints = [["CustomerKey"]]
    found = _suggestions(cat, FACT_TO_DIM)
    assert [s.parameters["dimension"] for s in found if s.validator == "fact_dim_conformance"] == ["dbo.DimCustomer"]


def test_without_a_catalog_no_conformance_is_proposed() -> None:
    found = _suggestions(None, FACT_TO_DIM)
    assert any(s.validator == "foreign_keys" for s in found)
    assert not [s for s in found if s.validator == "fact_dim_conformance"]

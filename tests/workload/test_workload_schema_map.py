"""The schema map (source schema -> target schema) applied when a pipeline is generated, pure: table
steps get their mapped target table, parameters naming a second table get their target name, and
a replay's target SQL has its schema qualifiers rewritten by sqlglot (CTE names, temp tables and
unmapped schemas left alone, names written as `transpile_select` writes them)."""

from __future__ import annotations

import pytest
import sqlglot
from pydantic import ValidationError
from sqlglot import exp

from ombudsman.contracts.pipeline import load_pipeline
from ombudsman.workload.analysis import (
    CatalogIndex,
    UnparsableQuery,
    map_schemas,
    schema_lookup,
    transpile_select,
)
from ombudsman.workload.model import QueryGroups, build_model
from ombudsman.workload.suggest import (
    PipelineOptions,
    Suggestion,
    SuggestOptions,
    fold_table,
    map_table,
    pipeline_yaml,
    suggest,
    to_pipeline,
)
from ombudsman.workload.upload import read_text
from tests.workload.workload_gen import catalog, to_csv, workload

# a CTE, a join, bracketed identifiers, NOLOCK (both spellings), an unqualified table (default
# schema dbo), a table in another schema and a name that needs quotes
REPORT = (
    "WITH recent AS (SELECT f.[CustomerKey], SUM(f.[Amount]) AS amt FROM [dbo].[FactSales] f WITH (NOLOCK) "
    "WHERE f.[OrderDate] >= '2024-01-01' GROUP BY f.[CustomerKey]) "
    "SELECT c.[Region], SUM(r.amt) AS total, COUNT(x.[ReturnID]) AS returns FROM recent r "
    "JOIN DimCustomer c (NOLOCK) ON c.[CustomerKey] = r.[CustomerKey] "
    "LEFT JOIN [sales].[Returns] x ON x.[SalesID] = r.[CustomerKey] GROUP BY c.[Region]"
)


def tables_of(sql: str, dialect: str) -> set[str]:
    return {f"{t.db}.{t.name}" if t.db else t.name for t in sqlglot.parse_one(sql, read=dialect).find_all(exp.Table)}


def test_replay_sql_for_snowflake_gets_the_mapped_schema() -> None:
    target = transpile_select(REPORT, "snowflake")
    assert "DBO.FACTSALES" in target and "NOLOCK" not in target.upper()
    mapped = map_schemas(target, "snowflake", {"DBO": "Analytics"})  # key and SQL differ in case
    assert mapped == (
        "WITH RECENT AS (SELECT F.CUSTOMERKEY, SUM(F.AMOUNT) AS AMT FROM ANALYTICS.FACTSALES AS F "
        "WHERE F.ORDERDATE >= '2024-01-01' GROUP BY F.CUSTOMERKEY) "
        "SELECT C.REGION, SUM(R.AMT) AS TOTAL, COUNT(X.RETURNID) AS RETURNS FROM RECENT AS R "
        "JOIN ANALYTICS.DIMCUSTOMER AS C ON C.CUSTOMERKEY = R.CUSTOMERKEY "
        "LEFT JOIN SALES.RETURNS AS X ON X.SALESID = R.CUSTOMERKEY GROUP BY C.REGION"
    )
    # the CTE stays a CTE, the unmapped schema stays
    assert tables_of(mapped, "snowflake") == {"ANALYTICS.FACTSALES", "ANALYTICS.DIMCUSTOMER", "SALES.RETURNS", "RECENT"}


def test_replay_sql_for_postgres_gets_the_mapped_schema_in_lower_case() -> None:
    mapped = map_schemas(transpile_select(REPORT, "postgres"), "postgres", {"dbo": "Public"})
    assert tables_of(mapped, "postgres") == {"public.factsales", "public.dimcustomer", "sales.returns", "recent"}
    assert "dbo" not in mapped and "FROM recent AS r" in mapped and '"' not in mapped


def test_columns_qualified_by_schema_and_names_needing_quotes() -> None:
    text = ("SELECT [dbo].[FactSales].[Amount], o.[Line No] FROM [dbo].[FactSales] "
            "JOIN [dbo].[Order Lines] o ON o.[SalesID] = [dbo].[FactSales].[SalesID]")
    mapped = map_schemas(transpile_select(text, "snowflake"), "snowflake", {"dbo": "edw"})
    assert mapped == ('SELECT EDW.FACTSALES.AMOUNT, O."Line No" FROM EDW.FACTSALES '
                      'JOIN EDW."Order Lines" AS O ON O.SALESID = EDW.FACTSALES.SALESID')
    spaced = map_schemas(transpile_select(text, "snowflake"), "snowflake", {"dbo": "Sales Mart"})
    assert 'FROM "Sales Mart".FACTSALES' in spaced and '"Sales Mart".FACTSALES.AMOUNT' in spaced


def test_temp_tables_ctes_and_unmapped_schemas_are_left_alone() -> None:
    # T-SQL (a SQL Server target): #temp tables, and a CTE named like a catalog table
    text = ("WITH FactSales AS (SELECT SalesID FROM dbo.FactSales) "
            "SELECT t.amt FROM #big t JOIN FactSales f ON f.SalesID = t.id JOIN staging.Load l ON l.id = t.id")
    mapped = map_schemas(text, "tsql", {"DBO": "dw"})
    assert mapped == ("WITH FactSales AS (SELECT SalesID AS SalesID FROM dw.FactSales) SELECT t.amt FROM #big AS t "
                      "JOIN FactSales AS f ON f.SalesID = t.id JOIN staging.Load AS l ON l.id = t.id")
    # nothing mapped: the text comes back exactly as it was (not even re-rendered)
    snow = transpile_select(REPORT, "snowflake")
    assert map_schemas(snow, "snowflake", {"staging": "stg"}) is snow
    assert map_schemas(snow, "snowflake", {}) is snow
    with pytest.raises(UnparsableQuery):
        map_schemas("SELECT 1; SELECT 2", "snowflake", {"dbo": "x"})


def test_source_schemas_match_case_insensitively_and_must_not_conflict() -> None:
    assert schema_lookup({"DBO": "analytics", "Sales": "SALES_DW"}) == {"dbo": "analytics", "sales": "SALES_DW"}
    assert schema_lookup({"dbo": "a", "DBO": "a"}) == {"dbo": "a"}
    with pytest.raises(ValueError, match="mapped twice"):
        schema_lookup({"dbo": "a", "DBO": "b"})
    with pytest.raises(ValidationError, match="mapped twice"):
        PipelineOptions(schema_map={"dbo": "a", "Dbo": "b"})
    with pytest.raises(ValidationError):
        PipelineOptions(schema_map={"": "a"})
    with pytest.raises(ValidationError):
        PipelineOptions(schema_map={f"s{i}": "t" for i in range(1001)})
    assert map_table("DBO.FactSales", {"dbo": "analytics"}) == "analytics.FactSales"
    assert map_table("Sales.dbo.FactSales", {"Dbo": "edw"}) == "Sales.edw.FactSales"  # database kept
    assert map_table("sales.Returns", {"dbo": "analytics"}) == "sales.Returns"
    assert map_table("FactSales", {"dbo": "analytics"}) == "FactSales"  # no schema: nothing to map
    assert map_table("dbo.FactSales", {"dbo": "my.schema"}) == '"my.schema".FactSales'
    assert fold_table("analytics.DimCustomer", "upper") == "ANALYTICS.DIMCUSTOMER"
    assert fold_table("Analytics.DimCustomer", "lower") == "analytics.dimcustomer"


@pytest.fixture(scope="module")
def suggestions() -> list[Suggestion]:
    groups = QueryGroups().extend(read_text(to_csv(workload(500, seed=21)), "export.csv"))
    index = CatalogIndex(catalog())
    return suggest(build_model(list(groups.groups.values()), index), index, SuggestOptions(top_queries=6))


def test_generated_steps_read_the_mapped_schema_on_the_target(suggestions: list[Suggestion]) -> None:
    from ombudsman.engine.pipeline import validate_pipeline

    spec = to_pipeline(suggestions, PipelineOptions(schema_map={"DBO": "analytics"}, target_identifier_case="upper"))
    validate_pipeline(spec)
    steps = {s.id: s for s in spec.steps}
    by_id = {s.id: s for s in suggestions}
    table_steps = [s for s in spec.steps if s.validator != "custom_query"]
    assert table_steps
    for step in table_steps:
        source = by_id[step.id].table
        assert source is not None and step.source_table is not None and step.target_table is not None
        assert str(step.source_table) == source
        if source.startswith("dbo."):
            assert step.table is None and str(step.target_table) == "analytics." + source.removeprefix("dbo.")
        else:  # sales.Returns: not mapped, the same table on both sides
            assert source.startswith("sales.") and str(step.table) == source
    # the second table of a step: the target's own name, folded as the target folds the step's table
    fks = {(str(s.source_table), s.parameters["references"]): s.parameters for s in spec.steps
           if s.validator == "foreign_keys"}
    assert fks[("dbo.FactSales", "dbo.DimCustomer")]["target_references"] == "ANALYTICS.DIMCUSTOMER"
    assert fks[("sales.Returns", "dbo.FactSales")]["target_references"] == "ANALYTICS.FACTSALES"
    conformance = {s.parameters["dimension"]: s.parameters for s in spec.steps if s.validator == "fact_dim_conformance"}
    assert conformance["dbo.DimCustomer"]["target_dimension"] == "ANALYTICS.DIMCUSTOMER"
    replays = [s for s in spec.steps if s.validator == "custom_query"]
    assert len(replays) == 6
    for step in replays:
        original = by_id[step.id].parameters
        assert step.parameters["source_sql"] == original["source_sql"]  # the source keeps its schemas
        target_sql = step.parameters["target_sql"]
        assert "DBO." not in target_sql and "ANALYTICS." in target_sql
        assert target_sql == map_schemas(original["target_sql"], "snowflake", {"dbo": "analytics"})
        mapped_tables = tables_of(target_sql, "snowflake")
        assert {t.replace("ANALYTICS.", "DBO.") for t in mapped_tables} == tables_of(original["target_sql"], "snowflake")
    assert any("WITH MONTHLY AS" in s.parameters["target_sql"] and "FROM MONTHLY" in s.parameters["target_sql"]
               for s in replays)  # the CTE kept its name
    # the YAML says the same and reads back the same
    text = pipeline_yaml(spec)
    assert "target: analytics.FactSales" in text and "source: dbo.FactSales" in text
    again = load_pipeline(text)
    assert [(str(s.source_table), str(s.target_table), s.parameters) for s in again.steps] == [
        (str(s.source_table), str(s.target_table), s.parameters) for s in spec.steps]
    assert steps[replays[0].id].tables is None and steps[replays[0].id].table is None


def test_without_a_schema_map_the_pipeline_is_as_before(suggestions: list[Suggestion]) -> None:
    for schema_map in (None, {}, {"staging": "stg"}):
        spec = to_pipeline(suggestions, PipelineOptions(schema_map=schema_map))
        by_id = {s.id: s for s in suggestions}
        for step in spec.steps:
            assert step.tables is None
            assert step.parameters == by_id[step.id].parameters
            assert (str(step.table) if step.table else None) == by_id[step.id].table


def test_a_replay_suggested_for_postgres_is_mapped_in_postgres() -> None:
    groups = QueryGroups().extend(read_text(to_csv(workload(200, seed=21)), "export.csv"))
    index = CatalogIndex(catalog())
    found = suggest(build_model(list(groups.groups.values()), index), index,
                    SuggestOptions(top_queries=2, target_dialect="postgres"))
    replays = [s for s in found if s.validator == "custom_query"]
    assert replays and all(s.target_dialect == "postgres" for s in replays)
    spec = to_pipeline(found, PipelineOptions(suggestion_ids=[s.id for s in replays], schema_map={"dbo": "public"}))
    for step in spec.steps:
        catalog_tables = {t for t in tables_of(step.parameters["target_sql"], "postgres") if "." in t}
        assert catalog_tables and all(t.startswith(("public.", "sales.")) for t in catalog_tables), catalog_tables
        assert "public.factsales" in catalog_tables

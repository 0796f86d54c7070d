"""The pure workload pipeline on a generated, realistic T-SQL workload: reading every export format,
fingerprints, sqlglot analysis against the catalog, the Workload Data model and the suggestions."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from ombudsman.contracts.replies import Invalid
from ombudsman.workload.analysis import CatalogIndex, UnparsableQuery, analyze, transpile_select
from ombudsman.workload.fingerprint import fingerprint
from ombudsman.workload.model import QueryGroups, WorkloadModel, build_model
from ombudsman.workload.suggest import PipelineOptions, SuggestOptions, pipeline_yaml, suggest, to_pipeline
from ombudsman.workload.upload import read_file, read_records, read_text
from tests.workload.workload_gen import TEMPLATES, catalog, to_csv, to_json, to_jsonl, workload

ROWS = list(workload(600, seed=11))
EXPORT_SQL = Path(__file__).resolve().parents[2] / "deploy" / "sql" / "query_store_export.sql"


def executions_of(*templates: str) -> int:
    return sum(r["count_executions"] for r in ROWS if r["_template"] in templates)


def rows_of(*templates: str) -> int:
    return sum(1 for r in ROWS if r["_template"] in templates)


@pytest.fixture(scope="module")
def model() -> WorkloadModel:
    groups = QueryGroups().extend(read_text(to_csv(iter(ROWS)), "export.csv"))
    return build_model(list(groups.groups.values()), CatalogIndex(catalog()))


# --- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_every_export_format_reads_the_same_queries(tmp_path: Path, fmt: str) -> None:
    text = {"csv": to_csv, "json": to_json, "jsonl": to_jsonl}[fmt](iter(ROWS))
    path = tmp_path / f"export.{fmt}"
    path.write_text(text)
    records = list(read_file(path))
    assert len(records) == len(ROWS)
    assert [r.text for r in records] == [r["query_sql_text"] for r in ROWS]
    assert sum(r.executions for r in records) == sum(r["count_executions"] for r in ROWS)
    first = records[0]
    assert first.query_id == "1" and first.first_execution_time is not None
    assert first.total_duration == pytest.approx(ROWS[0]["avg_duration"] * ROWS[0]["count_executions"])


def test_json_is_read_incrementally_from_a_stream() -> None:
    """ijson pulls items from the stream as they are consumed: the first query comes before the end is read."""
    data = to_json(iter(ROWS)).encode()

    class Counting(io.RawIOBase):
        def __init__(self) -> None:
            self.pos = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
            chunk = data[self.pos:self.pos + min(len(buffer), 4096)]
            buffer[:len(chunk)] = chunk
            self.pos += len(chunk)
            return len(chunk)

    raw = Counting()
    records = read_records(io.BufferedReader(raw, 4096), "big.json")
    next(records)
    assert raw.pos < len(data) / 4


def test_sql_files_split_on_statements_and_go_batches() -> None:
    script = (
        "-- nightly report\nSELECT a FROM dbo.t WHERE b = 'x;y';\nSELECT c FROM dbo.u\nGO\n"
        "/* only a comment */\nGO\nUPDATE dbo.t SET a = 1 WHERE b = 2;\n"
    )
    records = list(read_text(script, "queries.sql"))
    assert [r.text.splitlines()[-1] for r in records] == [
        "SELECT a FROM dbo.t WHERE b = 'x;y';", "SELECT c FROM dbo.u", "UPDATE dbo.t SET a = 1 WHERE b = 2;"]
    assert all(r.executions == 1 for r in records)


def test_bad_uploads_say_what_is_wrong() -> None:
    with pytest.raises(Invalid, match="no query text column"):
        list(read_text("id,sql\n1,SELECT 1\n", "x.csv"))
    with pytest.raises(Invalid, match=r"x\.csv line 3: count_executions: not a number"):
        list(read_text("query_sql_text,count_executions\nSELECT 1,4\nSELECT 2,many\n", "x.csv"))
    with pytest.raises(Invalid, match=r"x\.jsonl line 2: not valid JSON"):
        list(read_text('{"query_sql_text": "SELECT 1"}\n{oops\n', "x.jsonl"))
    with pytest.raises(Invalid, match="first_execution_time: not an ISO 8601 time"):
        list(read_text('[{"query_sql_text": "SELECT 1", "first_execution_time": "yesterday"}]', "x.json"))
    with pytest.raises(Invalid, match="more than 5 queries"):
        list(read_text(to_csv(iter(ROWS[:6])), "x.csv", limit=5))
    with pytest.raises(Invalid, match="unknown upload format"):
        list(read_text("hello", "notes.txt"))


def test_the_export_script_is_valid_tsql_whose_select_yields_the_columns_read() -> None:
    script = EXPORT_SQL.read_text()
    statements = [s for s in sqlglot.parse(script, read="tsql") if s is not None]
    selects = [s for s in statements if isinstance(s, exp.Select)]
    assert selects, "the export script has no SELECT"
    final = selects[-1]
    names = {e.alias_or_name.lower() for e in final.expressions}
    assert {"query_id", "query_sql_text", "count_executions", "avg_duration", "total_duration", "avg_cpu_time",
            "avg_logical_io_reads", "first_execution_time", "last_execution_time"} <= names
    tables = {t.name.lower() for t in final.find_all(exp.Table)}
    assert {"query_store_query", "query_store_query_text", "query_store_runtime_stats"} <= tables


# --- fingerprints ----------------------------------------------------------------------------


def test_the_same_query_with_other_literals_has_one_fingerprint() -> None:
    a = fingerprint("SELECT TOP 5 x FROM [dbo].[T] WITH (NOLOCK) WHERE s = 'A' AND k IN (1, 2, 3) -- note")
    b = fingerprint("select top 10 x\n  from dbo.t with (nolock)\n where s = N'B' and k in (7)")
    c = fingerprint("SELECT TOP 5 x FROM dbo.T WHERE s <> 'A'")
    assert a.digest == b.digest != c.digest
    assert a.filters == [("s", "A"), ("k", "1"), ("k", "2"), ("k", "3")] and b.filters == [("s", "B"), ("k", "7")]


def test_every_template_is_one_distinct_query(model: WorkloadModel) -> None:
    used = {r["_template"] for r in ROWS}
    assert model.totals.distinct_queries == len(used) == len(TEMPLATES)
    assert model.totals.queries == len(ROWS)
    assert model.totals.executions == sum(r["count_executions"] for r in ROWS)


# --- analysis --------------------------------------------------------------------------------


def test_tables_resolve_to_the_catalog_with_default_schema(model: WorkloadModel) -> None:
    by_name = {t.table: t for t in model.tables}
    assert set(by_name) == {"dbo.FactSales", "dbo.DimCustomer", "dbo.DimProduct", "dbo.DimDate", "dbo.DimStore",
                            "sales.Returns"}
    assert all(t.in_catalog for t in model.tables)
    fact_templates = ["sales_by_region", "top_products", "monthly_cte", "latest_per_customer", "temp_table_etl",
                      "discount_by_country", "returns_by_reason", "price_range_implicit_join"]
    assert by_name["dbo.FactSales"].executions == executions_of(*fact_templates)
    assert by_name["dbo.FactSales"].queries == len(fact_templates)
    # `customer_lookup` names DimCustomer without a schema: dbo is assumed
    assert by_name["dbo.DimCustomer"].executions == executions_of("sales_by_region", "customer_lookup",
                                                                  "segment_update")
    # the CTE `monthly` and the temp table #big_customers are not tables
    assert "dbo.monthly" not in by_name and not any("big_customers" in t for t in by_name)


def test_join_pairs_with_their_columns_and_weights(model: WorkloadModel) -> None:
    joins = {(j.left_table, j.left_column, j.right_table, j.right_column): j for j in model.joins}
    assert set(joins) == {
        ("dbo.DimCustomer", "CustomerKey", "dbo.FactSales", "CustomerKey"),
        ("dbo.DimProduct", "ProductKey", "dbo.FactSales", "ProductKey"),
        ("dbo.DimDate", "DateKey", "dbo.FactSales", "DateKey"),
        ("dbo.DimStore", "StoreKey", "dbo.FactSales", "StoreKey"),
        ("dbo.FactSales", "SalesID", "sales.Returns", "SalesID"),
    }
    product = joins[("dbo.DimProduct", "ProductKey", "dbo.FactSales", "ProductKey")]
    # one ANSI join and one implicit join in WHERE
    assert product.queries == 2 and product.executions == executions_of("top_products", "price_range_implicit_join")
    fact = next(t for t in model.tables if t.table == "dbo.FactSales")
    assert fact.join_partners["dbo.DimCustomer"] == executions_of("sales_by_region")
    assert set(fact.join_partners) == {"dbo.DimCustomer", "dbo.DimProduct", "dbo.DimDate", "dbo.DimStore",
                                       "sales.Returns"}


def test_columns_by_usage_operators_aggregates_and_date_filters(model: WorkloadModel) -> None:
    fact = next(t for t in model.tables if t.table == "dbo.FactSales")
    amount = fact.column("Amount")
    assert amount is not None and amount.aggregates == {
        "SUM": executions_of("sales_by_region", "monthly_cte", "temp_table_etl")}
    order_date = fact.column("OrderDate")
    assert order_date is not None and order_date.date_filter
    assert order_date.operators == {">=": executions_of("sales_by_region"), "BETWEEN": executions_of("temp_table_etl")}
    assert order_date.usages["order_by"] == executions_of("latest_per_customer")  # window ORDER BY
    status = fact.column("Status")
    assert status is not None and status.usages == {"where": executions_of("latest_per_customer")}
    assert set(status.literal_values) == {"shipped", "open", "cancelled"}
    customer_key = fact.column("CustomerKey")
    assert customer_key is not None and customer_key.usages["group_by"] == executions_of(
        "latest_per_customer", "temp_table_etl")  # PARTITION BY and GROUP BY
    region = next(t for t in model.tables if t.table == "dbo.DimCustomer").column("Region")
    assert region is not None and set(region.usages) == {"select", "group_by"}
    year = next(t for t in model.tables if t.table == "dbo.DimDate").column("Year")
    assert year is not None and year.literal_values == ["2023", "2024"]  # filtered through the CTE `monthly`
    assert year.usages["where"] == executions_of("monthly_cte")
    returns = next(t for t in model.tables if t.table == "sales.Returns")
    assert returns.column("ReturnDate").date_filter  # DATEADD(day, -n, GETDATE())
    product = next(t for t in model.tables if t.table == "dbo.DimProduct")
    assert product.column("Price").aggregates == {"MIN": executions_of("price_range_implicit_join"),
                                                  "MAX": executions_of("price_range_implicit_join")}
    segment = next(t for t in model.tables if t.table == "dbo.DimCustomer").column("Segment")
    assert segment.usages == {"select": executions_of("customer_lookup"), "set": executions_of("segment_update")}


def test_unparsable_queries_are_counted_and_listed_with_the_reason(model: WorkloadModel) -> None:
    unparsed = {q.fingerprint: q for q in model.queries if q.status == "unparsed"}
    assert model.totals.unparsed == 2 and model.totals.unparsed_queries == rows_of("broken", "proc_call")
    reasons = sorted(q.error or "" for q in unparsed.values())
    assert reasons[0].startswith("not analysed: EXEC statement") and reasons[1].startswith("parse error")
    assert model.totals.parsed == len(TEMPLATES) - 2


def test_date_range_and_heaviest_first(model: WorkloadModel) -> None:
    firsts = sorted(r["first_execution_time"] for r in ROWS)
    lasts = sorted(r["last_execution_time"] for r in ROWS)
    assert model.totals.first_execution_time.isoformat() == firsts[0]
    assert model.totals.last_execution_time.isoformat() == lasts[-1]
    durations = [q.total_duration for q in model.queries]
    assert durations == sorted(durations, reverse=True)
    assert "sales_by_region" == next(r["_template"] for r in ROWS if fingerprint(r["query_sql_text"]).digest
                                     == model.queries[0].fingerprint)


def test_analysis_details() -> None:
    index = CatalogIndex(catalog())
    cte = analyze("WITH x AS (SELECT CustomerKey FROM FactSales) SELECT * FROM x JOIN #tmp t ON t.k = x.CustomerKey",
                  index)
    assert set(cte.tables) == {"dbo.FactSales"} and cte.ctes == {"x"} and cte.temp_tables == {"#tmp"}
    assert not cte.replayable
    through_cte = analyze(
        "WITH r AS (SELECT CustomerKey AS ck, SUM(Amount) AS s FROM FactSales GROUP BY CustomerKey) "
        "SELECT c.Region, AVG(r.s) FROM r JOIN DimCustomer c ON c.CustomerKey = r.ck WHERE r.ck > 10", index)
    assert through_cte.joins == {("dbo.DimCustomer", "CustomerKey", "dbo.FactSales", "CustomerKey")}
    assert through_cte.columns[("dbo.FactSales", "CustomerKey")].usages == {"select", "group_by", "join", "where"}
    derived = analyze("SELECT x.st FROM (SELECT f.Status AS st FROM dbo.FactSales f) x WHERE x.st = 'open'", index)
    assert derived.literal_filters == {"x.st": ("dbo.FactSales", "Status")}
    unknown = analyze("SELECT a FROM staging.Orders", index)
    assert unknown.tables == {"staging.orders": False} and not unknown.replayable
    with pytest.raises(UnparsableQuery, match="not analysed: DBCC"):
        analyze("DBCC FREEPROCCACHE", index)
    with pytest.raises(UnparsableQuery, match="parse error"):
        analyze("SELECT (((", index)


def test_transpiled_replays_run_on_other_dialects() -> None:
    text = "SELECT TOP 3 c.[Region], SUM(f.Amount) AS total FROM [dbo].[FactSales] f WITH (NOLOCK) JOIN dbo.DimCustomer c ON c.CustomerKey = f.CustomerKey GROUP BY c.[Region] ORDER BY total DESC"
    snow = transpile_select(text, "snowflake")
    pg = transpile_select(text, "postgres")
    assert "NOLOCK" not in snow.upper() and "LIMIT 3" in snow and '"' not in snow and "[" not in snow
    assert "LIMIT 3" in pg and '"' not in pg


# --- suggestions -----------------------------------------------------------------------------


def test_suggestions_with_their_evidence(model: WorkloadModel) -> None:
    found = suggest(model, CatalogIndex(catalog()), SuggestOptions(top_queries=3))
    by_validator: dict[str, list] = {}
    for s in found:
        by_validator.setdefault(s.validator, []).append(s)
    fks = {(s.table, s.parameters["columns"][0], s.parameters["references"]) for s in by_validator["foreign_keys"]}
    assert fks == {("dbo.FactSales", "CustomerKey", "dbo.DimCustomer"), ("dbo.FactSales", "ProductKey", "dbo.DimProduct"),
                   ("dbo.FactSales", "DateKey", "dbo.DimDate"), ("dbo.FactSales", "StoreKey", "dbo.DimStore"),
                   ("sales.Returns", "SalesID", "dbo.FactSales")}
    customer_fk = next(s for s in by_validator["foreign_keys"] if s.parameters["references"] == "dbo.DimCustomer")
    assert customer_fk.evidence.executions == executions_of("sales_by_region")
    assert len(customer_fk.evidence.fingerprints) == 1
    conformance = {s.parameters["dimension"]: s.parameters for s in by_validator["fact_dim_conformance"]}
    assert conformance["dbo.DimCustomer"] == {"dimension": "dbo.DimCustomer", "fact_key": "CustomerKey",
                                              "dim_key": "CustomerKey", "measure": "Amount", "attribute": "Region"}
    sums = {s.table: s.parameters for s in by_validator["metric_sums"]}
    assert set(sums["dbo.FactSales"]["measures"]) == {"Amount", "Quantity"}
    assert sums["dbo.FactSales"]["group_by"] == ["CustomerKey"]
    assert sums["sales.Returns"] == {"measures": ["Amount"], "group_by": ["Reason"]}
    averages = {s.table: s.parameters for s in by_validator["metric_averages"]}
    assert averages == {"dbo.FactSales": {"measures": ["Discount"], "group_by": ["CustomerKey"]}}
    ts = {(s.table, s.parameters["time_column"]) for s in by_validator["ts_continuity"]}
    assert ts == {("dbo.FactSales", "OrderDate"), ("sales.Returns", "ReturnDate")}
    domains = {(s.table, s.parameters["column"]) for s in by_validator["domain_values"]}
    assert {("dbo.FactSales", "Status"), ("dbo.DimProduct", "Category"), ("dbo.DimStore", "Country")} <= domains
    assert ("dbo.DimCustomer", "CustomerKey") not in domains  # a key compared with ids is not a domain
    replays = by_validator["custom_query"]
    assert len(replays) == 3
    assert "dbo.FactSales" in replays[0].reason and "DBO.DIMCUSTOMER" in replays[0].parameters["target_sql"]
    assert all("INTO" not in s.parameters["source_sql"].upper() for s in replays)  # SELECT … INTO #t is no replay
    assert len({s.id for s in found}) == len(found)


def test_suggestions_become_a_valid_pipeline(model: WorkloadModel) -> None:
    from ombudsman.engine.pipeline import validate_pipeline

    found = suggest(model, CatalogIndex(catalog()))
    spec = to_pipeline(found, PipelineOptions(name="sales workload"))
    validate_pipeline(spec)
    assert len(spec.steps) == len(found)
    text = pipeline_yaml(spec)
    from ombudsman.contracts.pipeline import load_pipeline

    again = load_pipeline(text)
    assert [s.id for s in again.steps] == [s.id for s in found] and "table: dbo.FactSales" in text
    chosen = to_pipeline(found, PipelineOptions(suggestion_ids=[found[0].id]))
    assert [s.id for s in chosen.steps] == [found[0].id]
    with pytest.raises(Invalid, match="unknown suggestions"):
        to_pipeline(found, PipelineOptions(suggestion_ids=["nope"]))


def test_executions_weigh_usage_not_rows() -> None:
    rows = [{"query_sql_text": "SELECT SUM(Amount) FROM dbo.FactSales WHERE Status = 'open'", "count_executions": 1000},
            {"query_sql_text": "SELECT SUM(Amount) FROM dbo.FactSales WHERE Status = 'shipped'", "count_executions": 1}]
    import json

    groups = QueryGroups().extend(read_text(json.dumps(rows), "w.json"))
    model = build_model(list(groups.groups.values()), CatalogIndex(catalog()))
    assert model.totals.distinct_queries == 1 and model.totals.queries == 2
    status = model.table("dbo.FactSales").column("Status")
    assert status.executions == 1001 and status.literal_values == ["open", "shipped"]
    assert Counter(status.operators) == Counter({"=": 1001})


def test_format_json_accepts_json_lines_too() -> None:
    """The gateway says `json` for both forms: an object first means JSON Lines."""
    records = list(read_text(to_jsonl(iter(ROWS[:5])), "upload", fmt="json"))
    assert [r.text for r in records] == [r["query_sql_text"] for r in ROWS[:5]]


def test_up_to_100000_queries_per_upload(tmp_path: Path) -> None:
    from ombudsman.workload.upload import MAX_QUERIES

    path = tmp_path / "big.csv"
    line = '{},"SELECT SUM(Amount) FROM dbo.FactSales WHERE Status = \'s{}\'",2\n'
    with path.open("w") as handle:
        handle.write("query_id,query_sql_text,count_executions\n")
        handle.writelines(line.format(i, i % 7) for i in range(MAX_QUERIES))
    groups = QueryGroups().extend(read_file(path))
    assert groups.records == MAX_QUERIES and len(groups.groups) == 1
    only = next(iter(groups.groups.values()))
    assert only.executions == 2 * MAX_QUERIES and only.filter_values == {"status": {f"s{i}" for i in range(7)}}
    with path.open("a") as handle:
        handle.write(line.format(MAX_QUERIES, 0))
    with pytest.raises(Invalid, match="more than 100000 queries in one upload"):
        QueryGroups().extend(read_file(path))

"""One case per validator over the sample warehouse (ombudsman.engine.pipeline.sample): the step's
configuration, the status the defective target must get, and what the result must show."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ombudsman.contracts.pipeline import TableRef, Tolerance
from ombudsman.contracts.results import StepResult
from ombudsman.engine.connectors import connect
from ombudsman.engine.validators import ValidationContext, get_validator, run_validator


@dataclass
class Case:
    id: str
    validator: str
    table: str | None
    params: dict[str, Any]
    check: Callable[[StepResult], bool]  # what the defect run must show besides its status
    expect: str = "failed"
    target_columns: dict[str, str] = field(default_factory=dict)  # mapping for the defective target
    tolerance: Tolerance = field(default_factory=Tolerance)
    target_filter: str | None = None


def sample_values(result: StepResult, key: str) -> list[Any]:
    return [row.get(key) for row in result.sample]


def _days(first: int, last: int) -> list[str]:
    return [f"2024-02-{day:02d}" for day in range(first, last + 1)]


# What the injected defects (ombudsman.engine.pipeline.sample.target_data) do to the checks below.
# Returned orders' quantities (2, 5 and 8) came over negative: histogram buckets (9 over -8..9) the
# source never fills, holding the 109-111 negated rows of each value.
NEGATED_QUANTITY_BUCKETS = {-8.0: 111, -6.1111: 110, -2.3333: 109}
# Average amount per (status, product): the groups holding a lost 2024-02-10 order, an order whose
# amount rose 10%, the 250000.00 outlier (order 123: shipped, product 20) or the twice-loaded order 500.
AVERAGE_GROUPS = {("pending", p) for p in (1, 3, 4, 6, 9, 11, 13)} | {
    ("returned", p) for p in (1, 2, 5, 8, 11, 19)} | {("shipped", p) for p in (4, 7, 10, 16, 20)}
# discount / amount per status, difference in %: the outlier (shipped) swamps its group; the lost
# day and the 10% higher amounts move the two others by a quarter of a percent.
RATIO_DIFFERENCE_PCT = {"pending": 0.25, "returned": 0.23, "shipped": 83.29}
# 7-day rolling amount: the windows holding the outlier (2024-02-02), the lost day (2024-02-10) and
# order 679 / 776 (2024-02-12 / 2024-02-18, 10% higher) drift by more than 0.5%.
DRIFTING_DAYS = _days(2, 8) + _days(10, 21)
# Monthly amount and its change: February holds the outlier and lost 2024-02-10; March's change
# differs because February's total does; January (the first period) has no change to compare.
MONTHLY_CHANGES = {"2024-02": (59392.98, 307251.8), "2024-03": (64117.02, 64136.51)}
MISSING_CONSTRAINTS = [
    {"constraint": "primary key", "source": ["order_id"], "target": []},
    {"constraint": "foreign key", "source": "(customer_id) -> customers", "target": None},
    {"constraint": "foreign key", "source": "(product_id) -> products", "target": None},
]


def _monthly(result: StepResult) -> dict[str, tuple[float, float]]:
    return {s["period"][:7]: (round(float(s["source_value"]), 2), round(float(s["target_value"]), 2)) for s in result.sample}


CUSTOM_SQL = "SELECT status, COUNT(*) AS n, SUM(amount) AS total FROM {schema}.orders GROUP BY status ORDER BY status"

CASES: list[Case] = [
    Case("record_counts", "record_counts", "orders", {},
         lambda r: r.source["row_count"] == 1000 and r.target["row_count"] == 990),
    Case("nulls", "nulls", "customers", {"columns": ["email", "region"]},
         lambda r: r.target["nulls"]["email"] == 4 and r.source["nulls"]["email"] == 0 and r.affected_columns == ["email"],
         target_columns={"email": "email_address"}),
    Case("uniqueness", "uniqueness", "orders", {"columns": ["order_id", "customer_id"]},
         lambda r: r.target["duplicates"]["order_id"] == 1 and r.affected_columns == ["order_id"] and 500 in sample_values(r, "value")),
    Case("statistics", "statistics", "orders", {"columns": ["amount", "quantity"]},
         lambda r: r.target["amount"]["max"] == 250000 and "amount" in r.affected_columns and "quantity" in r.affected_columns,
         tolerance=Tolerance(percentage=0.0)),
    Case("distribution_categorical", "distribution", "customers", {"column": "segment"},
         lambda r: r.details["p_value"] < 0.01 and r.details["max_share_difference"] > 20),
    Case("distribution_numeric", "distribution", "orders", {"column": "quantity", "kind": "numeric", "bins": 9},
         lambda r: r.details["kind"] == "numeric" and r.source == {"rows": 1000, "buckets": 5}
         and r.target == {"rows": 990, "buckets": 8}
         and {round(s["bucket"], 4): s["target"] for s in r.sample if s["source"] == 0} == NEGATED_QUANTITY_BUCKETS
         # the CDFs part most after bucket 4 (value 1): 111 of 1000 source rows, 440 of 990 target rows
         and round(r.details["ks_statistic"], 6) == round(440 / 990 - 111 / 1000, 6)),
    Case("outliers", "outliers", "orders", {"columns": ["amount"], "threshold": 3},
         lambda r: r.target["outliers"]["amount"] > r.source["outliers"]["amount"] and 250000 in sample_values(r, "value")),
    Case("domain_values_allowed", "domain_values", "customers",
         {"column": "region", "allowed": ["North", "South", "East", "West"]},
         lambda r: r.target["outside"] == 1 and sample_values(r, "value") == ["Nort"]),
    Case("domain_values_sets", "domain_values", "customers", {"column": "region"},
         lambda r: {"value": "Nort", "target_rows": 1, "issue": "not in source"} in r.sample),
    Case("regex_patterns", "regex_patterns", "customers", {"column": "customer_code", "pattern": "C[0-9]{5}"},
         lambda r: r.target["violations"] == 1 and sample_values(r, "value") == ["c-0042"]),
    Case("column_aggregates", "column_aggregates", "orders", {"columns": ["amount", "order_date", "status"]},
         lambda r: {"amount", "status"} <= set(r.affected_columns) and r.source["amount"]["count"] == 1000),
    Case("custom_query", "custom_query", None, {"source_sql": CUSTOM_SQL, "key_columns": ["status"]},
         lambda r: r.source["rows"] == 3 and len(r.sample) == 3),
    Case("foreign_keys", "foreign_keys", "orders",
         {"columns": ["customer_id"], "references": "{schema}.customers", "ref_columns": ["customer_id"]},
         lambda r: r.target["orphans"] == 1 and r.source["orphans"] == 0 and sample_values(r, "customer_id") == [9999]),
    Case("fact_dim_conformance", "fact_dim_conformance", "orders",
         {"dimension": "{schema}.customers", "fact_key": "customer_id", "dim_key": "customer_id", "attribute": "region",
          "measure": "amount"},
         lambda r: r.target["unmatched_facts"] == 1 and r.source["unmatched_facts"] == 0),
    Case("dim_business_keys", "dim_business_keys", "customers", {"business_key": ["customer_code"], "unique": True},
         lambda r: r.target["duplicate_keys"] == 1 and sample_values(r, "customer_code") == ["C00061"]),
    Case("dim_surrogate_keys", "dim_surrogate_keys", "customer_history", {"surrogate_key": "customer_sk"},
         lambda r: r.target["duplicate_keys"] == 1 and sample_values(r, "customer_sk") == [3]),
    Case("composite_keys", "composite_keys", "orders", {"columns": ["order_id", "customer_id"]},
         lambda r: r.target["duplicate_keys"] == 1 and r.target["duplicate_rows"] == 2),
    Case("scd1", "scd1", "customers", {"business_key": ["customer_code"], "attributes": ["region", "segment"]},
         lambda r: r.target["duplicate_keys"] == 1 and "region" in r.affected_columns and "segment" in r.affected_columns),
    Case("scd2", "scd2", "customer_history",
         {"business_key": ["customer_code"], "valid_from": "valid_from", "valid_to": "valid_to", "current_flag": "is_current"},
         lambda r: r.target["overlaps"] >= 1 and r.target["keys_with_several_current"] == 1 and r.source["overlaps"] == 0
         and "C00005" in sample_values(r, "customer_code")),
    Case("late_arriving_facts", "late_arriving_facts", "orders",
         {"event_column": "order_date", "load_column": "loaded_at", "max_lag_days": 2, "dimension": "{schema}.customers",
          "fact_key": "customer_id", "dim_key": "customer_id"},
         lambda r: r.source["late_facts"] == 100 and r.target["late_facts"] > 100 and r.target["facts_without_dimension"] == 1),
    Case("metric_sums", "metric_sums", "orders", {"measures": ["amount", "quantity"], "group_by": ["status"]},
         lambda r: r.details["differing_groups"] == 3 and "amount" in r.affected_columns),
    Case("metric_averages", "metric_averages", "orders", {"measures": ["amount"], "group_by": ["status", "product_id"]},
         lambda r: r.details["differing_groups"] == len(AVERAGE_GROUPS) == len(r.sample)
         and {(s["status"], s["product_id"]) for s in r.sample} == AVERAGE_GROUPS,
         tolerance=Tolerance(percentage=0.01)),
    Case("ratios", "ratios", "orders", {"numerator": "discount", "denominator": "amount", "group_by": ["status"]},
         lambda r: r.details["differing_groups"] == 3
         and {s["status"]: round(s["ratio"]["difference_pct"], 2) for s in r.sample} == RATIO_DIFFERENCE_PCT,
         tolerance=Tolerance(percentage=0.01)),
    Case("ts_continuity", "ts_continuity", "orders", {"time_column": "order_date", "grain": "day"},
         lambda r: [s["period"][:10] for s in r.sample] == ["2024-02-10"] and r.source["missing_periods"] == 0),
    Case("ts_duplicates", "ts_duplicates", "orders", {"time_column": "loaded_at", "key_columns": ["order_id"]},
         lambda r: r.target["duplicate_keys"] == 1 and sample_values(r, "order_id") == [500]),
    Case("ts_rolling_drift", "ts_rolling_drift", "orders",
         {"time_column": "order_date", "grain": "day", "measure": "amount", "window": 7},
         lambda r: sorted(s["period"][:10] for s in r.sample) == DRIFTING_DAYS
         and r.message.startswith(f"rolling 7-period average drifts in {len(DRIFTING_DAYS)} of 91 periods"),
         tolerance=Tolerance(percentage=0.5)),
    Case("period_over_period", "period_over_period", "orders",
         {"time_column": "order_date", "grain": "month", "measure": "amount"},
         lambda r: _monthly(r) == MONTHLY_CHANGES and r.source == r.target == {"periods": 3},
         tolerance=Tolerance(absolute=0.5)),
    Case("schema_columns", "schema_columns", "customers", {},
         lambda r: [(s["column"].lower(), s["issue"]) for s in r.sample] == [("migrated_at", "extra in target")],
         target_columns={"email": "email_address"}),
    Case("schema_datatypes", "schema_datatypes", "products", {"strict": False},
         lambda r: [s["column"].lower() for s in r.sample] == ["price"], expect="warning"),
    Case("schema_datatypes_lossy_fails", "schema_datatypes", "products", {},
         lambda r: [s["column"].lower() for s in r.sample] == ["price"] and r.sample[0]["reason"]
         and "price" in r.message.lower() and r.details["columns"] == [r.sample[0]["column"]], expect="failed"),
    Case("schema_nullability", "schema_nullability", "customers", {},
         lambda r: [c.lower() for c in r.affected_columns] == ["name"], target_columns={"email": "email_address"}),
    Case("schema_constraints", "schema_constraints", "orders", {},
         lambda r: r.sample == MISSING_CONSTRAINTS and r.target == {"primary_key": [], "unique": [], "foreign_keys": 0}),
]


def format_params(params: dict[str, Any], schema: str) -> dict[str, Any]:
    """Put the schema name into parameters that name tables or hold SQL."""
    return {k: (v.replace("{schema}", schema) if isinstance(v, str) else v) for k, v in params.items()}


async def run_case(
    case: Case, source_url: str, target_url: str, *, source_schema: str, target_schema: str, defective: bool,
    render_also: tuple[str, ...] = (),
) -> tuple[StepResult, ValidationContext]:
    """Run one case between two real databases (the defective target's mapping and filter when asked)."""
    params = format_params(case.params, source_schema)
    if case.validator == "custom_query":
        params["target_sql"] = CUSTOM_SQL.format(schema=target_schema)
    for key in ("references", "dimension"):
        if key in params:
            params["target_" + key] = f"{target_schema}.{params[key].split('.')[-1]}"
    async with connect(source_url) as source, connect(target_url) as target:
        ctx = ValidationContext(
            source=source, target=target,
            source_table=TableRef(schema_name=source_schema, name=case.table) if case.table else None,
            target_table=TableRef(schema_name=target_schema, name=case.table) if case.table else None,
            column_map=case.target_columns if defective else {}, tolerance=case.tolerance,
            target_filter=case.target_filter if defective else None, step_id=case.id, render_also=render_also,
        )
        result = await run_validator(get_validator(case.validator), ctx, params)
    return result, ctx

"""The steps generated for a dimension: uniqueness of its surrogate and business keys,
dim_business_keys, dim_surrogate_keys, scd2 where versioned, domain_values on low-cardinality
attributes, and ts_continuity on a date dimension's date column. Pure.

Low cardinality: the catalog keeps no per-column statistics (only a table's row count), so an
attribute is taken as low-cardinality from its type and name: a boolean, a string of declared length
at most 3 (CHAR(1) gender, CHAR(2) state, CHAR(3) currency), or a name whose last word says it is a
flag, indicator, status, type, code, level, tier, class, segment, priority or gender.
"""

from __future__ import annotations

from typing import Any

from ombudsman.contracts.catalog import ColumnInfo, TableInfo
from ombudsman.metadata import naming
from ombudsman.metadata.classify import TableClass
from ombudsman.metadata.generate_steps import MAX_DOMAIN_VALUES, StepPlan, step_suffix
from ombudsman.metadata.types import type_info

LOW_CARDINALITY_WORDS = frozenset({"flag", "flg", "ind", "indicator", "status", "type", "code", "cd", "level", "tier",
                                   "class", "segment", "priority", "gender", "sex", "yn"})
SHORT_STRING = 3  # CHAR(n) / VARCHAR(n) with n at most this holds few distinct values


def low_cardinality(column: ColumnInfo, kind: str) -> bool:
    """Whether an attribute likely holds few distinct values (see the module's docstring)."""
    family = type_info(column, kind).family
    if family == "boolean":
        return True
    words = naming.tokens(column.name)
    if family == "string" and column.length is not None and 0 < column.length <= SHORT_STRING:
        return True
    return family in ("string", "integer") and bool(words) and words[-1] in LOW_CARDINALITY_WORDS


def domain_columns(table: TableInfo, cls: TableClass, kind: str) -> list[str]:
    """A dimension's attributes (and current flag) whose set of values is compared: low-cardinality ones."""
    roles = {"attribute", "current_flag"}
    return [
        c.name for c in table.columns
        if cls.columns.get(c.name, "attribute") in roles and low_cardinality(c, kind)
    ]


def add_dimension_steps(plan: StepPlan, table: TableInfo, cls: TableClass, kind: str) -> None:
    """The dimension's key, SCD2, domain and continuity steps (only over mapped columns)."""
    scd2 = cls.scd2
    business = [c for c in cls.business_key if plan.is_mapped(c)]
    surrogate = [c for c in cls.surrogate_key if plan.is_mapped(c)]
    unique = surrogate[:1] if len(surrogate) == 1 else []
    if len(business) == 1 and scd2 is None:
        unique.append(business[0])
    if unique:
        plan.add("uniqueness_keys", "uniqueness", {"columns": unique, "expect_unique": True})
    if business and len(business) == len(cls.business_key):
        plan.add("dim_business_keys", "dim_business_keys", {"business_key": business, "unique": scd2 is None})
    if len(surrogate) == 1:
        plan.add("dim_surrogate_keys", "dim_surrogate_keys", {"surrogate_key": surrogate[0]})
    if scd2 and business and scd2.valid_from and scd2.valid_to:
        params: dict[str, Any] = {"business_key": business, "valid_from": scd2.valid_from, "valid_to": scd2.valid_to}
        if scd2.current_flag:
            params["current_flag"] = scd2.current_flag
        if all(plan.is_mapped(c) for c in (scd2.valid_from, scd2.valid_to, scd2.current_flag) if c):
            plan.add("scd2", "scd2", params)
        else:
            plan.skipped.append("scd2: a validity or current-flag column is not mapped")
    for column in domain_columns(table, cls, kind):
        if plan.is_mapped(column):
            plan.add(f"domain_{step_suffix([column])}", "domain_values",
                     _domain_params(plan, column))
    if cls.date_dimension:
        date_column = next((c for c in cls.date_columns if plan.is_mapped(c)), None)
        if date_column:
            plan.add(f"continuity_{step_suffix([date_column])}", "ts_continuity",
                     {"time_column": date_column, "grain": "day"})


def _domain_params(plan: StepPlan, column: str) -> dict[str, Any]:
    params: dict[str, Any] = {"column": column}
    if plan.accepts("domain_values", {"max_values": MAX_DOMAIN_VALUES}):
        params["max_values"] = MAX_DOMAIN_VALUES
    return params

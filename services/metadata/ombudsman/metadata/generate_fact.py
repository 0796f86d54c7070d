"""The steps generated from relationships and for a fact: foreign_keys (every classified table) and
fact_dim_conformance (facts) per confirmed single- or multi-column reference; metric_sums and
metric_averages on the fact's measures grouped by its date (a date dimension's key, else a date
column) with bounded groups; late_arriving_facts against the date dimension. Pure.

A dimension key renamed on the target goes into `target_dim_key`; the fact's own key is renamed by
the step's `columns`; an installed validator without `target_dim_key` gets the step only when the
key keeps its name, otherwise the skip is said.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ombudsman.contracts.catalog import TableInfo
from ombudsman.metadata.classify import TableClass
from ombudsman.metadata.generate_steps import StepPlan, step_suffix
from ombudsman.metadata.relationships import Relationship
from ombudsman.metadata.types import type_info

if TYPE_CHECKING:
    from ombudsman.metadata.generate import ApprovedMapping


def outgoing(table: TableInfo, relationships: list[Relationship]) -> list[Relationship]:
    """The table's references to other tables (and to itself: hierarchies), in its column order."""
    name = table.qualified_name.lower()
    order = {c.name.lower(): i for i, c in enumerate(table.columns)}
    found = [r for r in relationships if r.child_table.lower() == name]
    return sorted(found, key=lambda r: min(order.get(c.lower(), 1 << 20) for c in r.child_columns))


def date_key(table: TableInfo, relationships: list[Relationship], classes: dict[str, TableClass],
             plan: StepPlan) -> Relationship | None:
    """The fact's first mapped single-column reference to a date dimension (role-playing: the first one)."""
    for rel in outgoing(table, relationships):
        parent = classes.get(rel.parent_table.lower())
        if parent and parent.date_dimension and len(rel.child_columns) == 1 and plan.is_mapped(rel.child_columns[0]):
            return rel
    return None


def date_grouping(table: TableInfo, kind: str, cls: TableClass, key: Relationship | None, plan: StepPlan) -> list[str]:
    """Group a fact's measures by its date: the date dimension's key, else a date column, else a
    reference whose parent is named like a date table, else any date-typed column."""
    if key is not None:
        return list(key.child_columns)
    for column in cls.date_columns:
        if plan.is_mapped(column):
            return [column]
    for column in table.columns:
        if type_info(column, kind).family == "date" and plan.is_mapped(column.name):
            return [column.name]
    return []


def add_relationship_steps(plan: StepPlan, table: TableInfo, cls: TableClass, relationships: list[Relationship],
                           approved: dict[str, ApprovedMapping]) -> None:
    """foreign_keys for each reference of the table; fact_dim_conformance too when the table is a fact."""
    conformance = plan.fields("fact_dim_conformance") or set()
    for rel in outgoing(table, relationships):
        parent = approved.get(rel.parent_table.lower())
        if parent is None:
            plan.skipped.append(f"foreign_keys {rel.child_columns} → {rel.parent_table}: parent table not mapped")
            continue
        unmapped = [c for c in rel.child_columns if not plan.is_mapped(c)]
        if unmapped:
            plan.skipped.append(f"foreign_keys {rel.child_columns} → {rel.parent_table}: column(s) {unmapped} not mapped")
            continue
        parent_map = {c.lower(): t for c, t in parent.columns.items()}
        target_ref_columns = [parent_map.get(c.lower(), c) for c in rel.parent_columns]
        suffix = step_suffix(rel.child_columns)
        plan.add(f"fk_{suffix}", "foreign_keys", {
            "columns": rel.child_columns,
            "references": rel.parent_table,
            "ref_columns": rel.parent_columns,
            "target_references": parent.target_table,
            "target_ref_columns": target_ref_columns,
        })
        if cls.role != "fact" or len(rel.child_columns) != 1:
            continue
        # the dimension's key as the target names it (the parent's approved column map)
        same_key = target_ref_columns == rel.parent_columns
        if same_key or "target_dim_key" in conformance:
            conf: dict[str, Any] = {
                "dimension": rel.parent_table,
                "target_dimension": parent.target_table,
                "fact_key": rel.child_columns[0],
                "dim_key": rel.parent_columns[0],
            }
            if not same_key:
                conf["target_dim_key"] = target_ref_columns[0]
            plan.add(f"conformance_{suffix}", "fact_dim_conformance", conf)
        else:
            plan.skipped.append(
                f"fact_dim_conformance {rel.child_columns[0]} → {rel.parent_table}: the dimension key is named "
                "differently on the target and the installed validator cannot map it"
            )


def add_fact_steps(plan: StepPlan, table: TableInfo, kind: str, cls: TableClass, relationships: list[Relationship],
                   classes: dict[str, TableClass], approved: dict[str, ApprovedMapping]) -> None:
    """A fact's metric steps (measures only, grouped by date, bounded groups) and late-arriving facts."""
    key = date_key(table, relationships, classes, plan)
    group_by = date_grouping(table, kind, cls, key, plan)
    measures = [m for m in cls.measures
                if cls.columns.get(m, "measure") == "measure" and m not in group_by and plan.is_mapped(m)]
    if measures:
        plan.add("metric_sums", "metric_sums", plan.bounded("metric_sums", {"measures": measures, "group_by": group_by}))
        plan.add("metric_averages", "metric_averages",
                 plan.bounded("metric_averages", {"measures": measures, "group_by": group_by}))
    dimension = approved.get(key.parent_table.lower()) if key is not None else None
    if key is not None and dimension is not None:
        parent_map = {c.lower(): t for c, t in dimension.columns.items()}
        dim_key = key.parent_columns[0]
        params: dict[str, Any] = {
            "event_column": key.child_columns[0],
            "dimension": key.parent_table,
            "target_dimension": dimension.target_table,
            "fact_key": key.child_columns[0],
            "dim_key": dim_key,
        }
        target_dim_key = parent_map.get(dim_key.lower(), dim_key)
        if target_dim_key != dim_key:
            params["target_dim_key"] = target_dim_key
        plan.add(f"late_arriving_{step_suffix(key.child_columns)}", "late_arriving_facts", params)

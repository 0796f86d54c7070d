"""Validation suggestions learned from a workload, each with its evidence, and the pipeline they make.

| what the workload shows | suggestion |
|---|---|
| a join pair used often | `foreign_keys` (child -> parent), and `fact_dim_conformance` when the child's measures are aggregated |
| SUM / AVG of a column | `metric_sums` / `metric_averages` grouped by the table's most used GROUP BY columns |
| a column filtered by dates | `ts_continuity` (daily) |
| a column compared (=, IN) with few distinct literals | `domain_values` |
| the heaviest SELECTs (total duration) | `custom_query` replaying the query on both sides, transpiled from T-SQL |

Pure: no I/O. The parent of a join pair is the side whose column is its table's primary key or a
single-column unique constraint (from the catalog), else the side named like `<table>id` / `id`,
else the right-hand side. `fact_dim_conformance` is proposed only when the catalog says the parent
column is unique there and the child column is not (a fact joined to its dimension, never two
facts, never when uniqueness is unknown): its join must not multiply rows.

Suggestions name source tables. `to_pipeline` applies the project's schema map (source schema ->
target schema) to the target side: see `map_step`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from ombudsman.contracts.commands.workload import PipelineOptions, schema_lookup
from ombudsman.contracts.pipeline import IdentifierCase, PipelineSpec, TableRef, parse_pipeline
from ombudsman.workload.analysis import (
    CatalogIndex,
    UnparsableQuery,
    map_schemas,
    parse_statements,
    transpile_select,
)
from ombudsman.workload.model import ColumnUsage, JoinUsage, TableUsage, WorkloadModel

Dialect = Literal["tsql", "snowflake", "postgres", "duckdb"]
DEFAULT_TARGET_DIALECT: Dialect = "snowflake"
_STEP_CHARS = re.compile(r"[^A-Za-z0-9_.\-]+")
_KEYISH = re.compile(r"(id|key|code|no|number|num)$", re.IGNORECASE)


class SuggestOptions(BaseModel):
    """Thresholds of `suggest`."""

    min_executions: int = Field(default=1, ge=0, description="evidence below this many executions is ignored")
    max_domain_values: int = Field(default=20, ge=1, le=1000, description="at most this many literals: low cardinality")
    top_queries: int = Field(default=5, ge=0, le=100, description="custom_query steps for the N heaviest SELECTs")
    max_group_by: int = Field(default=2, ge=0, le=5)
    source_dialect: Dialect = "tsql"
    target_dialect: Dialect = DEFAULT_TARGET_DIALECT
    default_schema: str = Field(default="dbo", min_length=1, max_length=128, description="schema of unqualified names")


class Evidence(BaseModel):
    fingerprints: list[str]
    queries: int
    executions: int


class Suggestion(BaseModel):
    """One proposed validation step and why."""

    id: str
    validator: str
    table: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    reason: str
    evidence: Evidence
    target_dialect: Dialect | None = Field(
        default=None, description="the dialect parameters.target_sql is written in (custom_query)")


def _step_id(*parts: str) -> str:
    text = _STEP_CHARS.sub("_", "_".join(p for p in parts if p)).strip("_.-")
    return text[:120] or "step"


def _evidence(item: ColumnUsage | JoinUsage | TableUsage) -> Evidence:
    return Evidence(fingerprints=list(item.evidence), queries=item.queries, executions=item.executions)


def unique_key(index: CatalogIndex, table: str, column: str) -> bool | None:
    """Whether `column` alone is unique in `table` (its primary key or a unique constraint);
    None when the catalog does not know the table."""
    info = index.table(table)
    if info is None:
        return None
    wanted = [column.lower()]
    keys = [info.primary_key, *info.unique_constraints]
    return any([c.lower() for c in key] == wanted for key in keys if key)


def _parent_side(join: JoinUsage, index: CatalogIndex) -> tuple[str, str, str, str]:
    """(child table, child column, parent table, parent column) of a join pair."""
    left = (join.left_table, join.left_column)
    right = (join.right_table, join.right_column)

    def is_key(table: str, column: str) -> bool:
        return bool(unique_key(index, table, column))

    def named_key(table: str, column: str) -> bool:
        short = table.split(".")[-1].lower().removeprefix("dim_").removeprefix("dim").rstrip("s")
        return column.lower() in ("id", f"{short}id", f"{short}_id", f"{short}key", f"{short}_key")

    for test in (is_key, named_key):
        l_key, r_key = test(*left), test(*right)
        if l_key != r_key:
            parent, child = (left, right) if l_key else (right, left)
            return child[0], child[1], parent[0], parent[1]
    return left[0], left[1], right[0], right[1]


def _ranked(columns: list[ColumnUsage], key: str, name: str, minimum: int) -> list[ColumnUsage]:
    hits = [c for c in columns if getattr(c, key).get(name, 0) >= max(minimum, 1)]
    return sorted(hits, key=lambda c: (-getattr(c, key)[name], c.column))


def suggest(model: WorkloadModel, index: CatalogIndex, options: SuggestOptions | None = None) -> list[Suggestion]:
    """Every suggestion the workload supports, strongest evidence first within each kind."""
    options = options or SuggestOptions()
    out: list[Suggestion] = []
    used: set[str] = set()

    def add(suggestion: Suggestion) -> None:
        base, n = suggestion.id, 2
        while suggestion.id in used:
            suggestion.id = f"{base}_{n}"
            n += 1
        used.add(suggestion.id)
        out.append(suggestion)

    # without a catalog every table counts; with one, only the tables it holds
    tables = {t.table: t for t in model.tables if t.in_catalog or index.catalog is None}
    # referential: frequent join pairs between two catalog tables
    for join in model.joins:
        if join.executions < options.min_executions or join.left_table == join.right_table:
            continue
        if join.left_table not in tables or join.right_table not in tables:
            continue
        child, child_col, parent, parent_col = _parent_side(join, index)
        add(Suggestion(
            id=_step_id("fk", child.split(".")[-1], child_col, parent.split(".")[-1]), validator="foreign_keys",
            table=child, parameters={"columns": [child_col], "references": parent, "ref_columns": [parent_col]},
            reason=f"{child}.{child_col} joins {parent}.{parent_col} in {join.queries} queries "
                   f"({join.executions} executions)",
            evidence=_evidence(join),
        ))
        child_usage = tables[child]
        measures = _ranked(child_usage.columns, "aggregates", "SUM", options.min_executions)
        # conformance joins facts to a dimension: only along a key the catalog says is unique on the
        # parent (never fact-to-fact, many-to-many; unknown uniqueness: not proposed)
        if measures and unique_key(index, parent, parent_col) and not unique_key(index, child, child_col):
            parent_usage = tables[parent]
            attributes = [c for c in _ranked(parent_usage.columns, "usages", "group_by", options.min_executions)
                          if c.column != parent_col]
            parameters: dict[str, Any] = {"dimension": parent, "fact_key": child_col, "dim_key": parent_col,
                                          "measure": measures[0].column}
            if attributes:
                parameters["attribute"] = attributes[0].column
            add(Suggestion(
                id=_step_id("conformance", child.split(".")[-1], parent.split(".")[-1]),
                validator="fact_dim_conformance", table=child, parameters=parameters,
                reason=f"{child} (its {measures[0].column} is summed) joins dimension {parent} on {child_col}",
                evidence=_evidence(join),
            ))
    for table in tables.values():
        group_by = _ranked(table.columns, "usages", "group_by", options.min_executions)
        for validator, func in (("metric_sums", "SUM"), ("metric_averages", "AVG")):
            measures = _ranked(table.columns, "aggregates", func, options.min_executions)
            if not measures:
                continue
            names = [m.column for m in measures]
            dims = [g.column for g in group_by if g.column not in names][: options.max_group_by]
            strongest = measures[0]
            add(Suggestion(
                id=_step_id(validator.split("_")[1], table.table.split(".")[-1]), validator=validator,
                table=table.table, parameters={"measures": names, "group_by": dims},
                reason=f"{func} of {', '.join(names)} on {table.table}"
                       + (f" grouped by {', '.join(dims)}" if dims else "")
                       + f" ({strongest.aggregates[func]} executions)",
                evidence=Evidence(fingerprints=list(strongest.evidence), queries=strongest.queries,
                                  executions=strongest.aggregates[func]),
            ))
        for column in table.columns:
            if column.date_filter and column.executions >= options.min_executions:
                add(Suggestion(
                    id=_step_id("ts", table.table.split(".")[-1], column.column), validator="ts_continuity",
                    table=table.table, parameters={"time_column": column.column, "grain": "day"},
                    reason=f"{table.table}.{column.column} filters by date in {column.queries} queries",
                    evidence=_evidence(column),
                ))
        for column in table.columns:
            if _low_cardinality_filter(column, table, index, options):
                add(Suggestion(
                    id=_step_id("domain", table.table.split(".")[-1], column.column), validator="domain_values",
                    table=table.table, parameters={"column": column.column},
                    reason=f"{table.table}.{column.column} is compared with {len(column.literal_values)} distinct "
                           f"values ({', '.join(column.literal_values[:5])}{', …' if len(column.literal_values) > 5 else ''})",
                    evidence=_evidence(column),
                ))
    out.extend(_replays(model, options, used))
    return out


def _low_cardinality_filter(column: ColumnUsage, table: TableUsage, index: CatalogIndex,
                            options: SuggestOptions) -> bool:
    if not column.literal_values or column.literal_values_capped or column.date_filter:
        return False
    if len(column.literal_values) > options.max_domain_values or column.executions < options.min_executions:
        return False
    if "join" in column.usages:
        return False
    info = index.table(table.table)
    if info is not None and column.column.lower() in [c.lower() for c in info.primary_key]:
        return False
    # numeric identifiers compared with a few ids are not a domain
    return not (_KEYISH.search(column.column) and all(v.replace(".", "", 1).isdigit() for v in column.literal_values))


def _deterministic(text: str) -> bool:
    """False for TOP without ORDER BY (its rows differ run to run)."""

    try:
        statement = parse_statements(text)[0]
    except UnparsableQuery:
        return False
    return not (statement.args.get("limit") is not None and statement.args.get("order") is None)


def _replays(model: WorkloadModel, options: SuggestOptions, used: set[str]) -> list[Suggestion]:
    out: list[Suggestion] = []
    for query in model.queries:  # heaviest first
        if len(out) >= options.top_queries:
            break
        if query.status != "parsed" or query.kind != "select" or not query.replayable:
            continue
        if query.executions < options.min_executions or not _deterministic(query.text):
            continue
        try:
            source_sql = transpile_select(query.text, options.source_dialect, options.default_schema)
            target_sql = transpile_select(query.text, options.target_dialect, options.default_schema)
        except Exception as exc:  # sqlglot cannot render it for a dialect: not a replay candidate
            del exc
            continue
        step = _step_id("replay", query.fingerprint)
        used.add(step)
        out.append(Suggestion(
            id=step, validator="custom_query", table=None, target_dialect=options.target_dialect,
            parameters={"source_sql": source_sql, "target_sql": target_sql},
            reason=f"one of the heaviest queries: {query.executions} executions, "
                   f"{query.total_duration / 1000:.1f} ms in total, over {', '.join(query.tables)}",
            evidence=Evidence(fingerprints=[query.fingerprint], queries=query.queries, executions=query.executions),
        ))
    return out


# Validators whose parameters name a second table (source name, and the target's own name when it
# differs). Each has a separate target parameter, which the engine uses exactly as written
# (`ombudsman.engine.validators.referential.parent_ref`); without it, the engine reads the source
# name on the target too (folded by the target's identifier case).
TABLE_PARAMETERS: dict[str, tuple[str, str]] = {
    "foreign_keys": ("references", "target_references"),
    "fact_dim_conformance": ("dimension", "target_dimension"),
    "late_arriving_facts": ("dimension", "target_dimension"),
}


def _part(text: str) -> str:
    return f'"{text}"' if "." in text else text  # TableRef.parse keeps a quoted part whole


def _ref_text(ref: TableRef) -> str:
    """`db.schema.table` as people write it (and as `TableRef.parse` reads it back)."""
    return ".".join(_part(p) for p in (ref.database, ref.schema_name, ref.name) if p)


def map_table(name: str, schema_map: Mapping[str, str]) -> str:
    """A `schema.table` (or `db.schema.table`) name with its schema mapped (matched case-insensitively);
    the name unchanged when its schema is not in the map or it has none."""
    lookup = schema_lookup(schema_map)
    ref = TableRef.parse(name)
    target = lookup.get(ref.schema_name.lower()) if ref.schema_name else None
    if target is None:
        return name
    return _ref_text(TableRef(name=ref.name, schema_name=target, database=ref.database))


def fold_table(name: str, case: IdentifierCase) -> str:
    """A table name folded part by part as the engine folds names on a side (`ValidationContext.fold_ref`)."""
    ref = TableRef.parse(name)

    def fold(part: str) -> str:
        return part.upper() if case == "upper" else part.lower() if case == "lower" else part

    return _ref_text(TableRef(name=fold(ref.name), schema_name=fold(ref.schema_name) if ref.schema_name else None,
                              database=fold(ref.database) if ref.database else None))


def map_step(suggestion: Suggestion, schema_map: Mapping[str, str],
             target_case: IdentifierCase = "preserve") -> dict[str, Any]:
    """The table and parameter fields of a suggestion's step, with the target side's schemas mapped.

    - The step's table: `table` when its schema is not mapped (the same name on both sides), else
      `tables: {source: <source table>, target: <mapped table>}`. The engine folds both names by
      their side's identifier case, as it does `table`.
    - A second table in the parameters (`foreign_keys`' `references`, `fact_dim_conformance`'s
      `dimension`, see `TABLE_PARAMETERS`): every such validator takes a separate target name (none
      takes one name for both sides; left alone, the engine would read the unmapped source name on
      the target), so the mapped name goes there (`target_references`, `target_dimension`) unless the suggestion set
      one. The engine uses a `target_*` name exactly as written (it folds only names it derives from
      the source), so the mapped name is folded here by `target_case`, the pipeline's target
      identifier case, to reach the same table the step's own target name reaches.
    - `custom_query`: `target_sql` is parsed in the dialect it was written for
      (`Suggestion.target_dialect`), its schema qualifiers mapped (`analysis.map_schemas`) and
      re-rendered in that dialect; `source_sql` stays as it is.
    """
    fields: dict[str, Any] = {}
    parameters = dict(suggestion.parameters)
    if suggestion.table:
        target = map_table(suggestion.table, schema_map)
        if target != suggestion.table:
            fields["tables"] = {"source": suggestion.table, "target": target}
        else:
            fields["table"] = suggestion.table
    names = TABLE_PARAMETERS.get(suggestion.validator)
    if names is not None:
        source_key, target_key = names
        source_name = parameters.get(source_key)
        if isinstance(source_name, str) and not parameters.get(target_key):
            mapped = map_table(source_name, schema_map)
            if mapped != source_name:
                parameters[target_key] = fold_table(mapped, target_case)
    if suggestion.validator == "custom_query" and isinstance(parameters.get("target_sql"), str):
        dialect = suggestion.target_dialect or DEFAULT_TARGET_DIALECT
        try:
            parameters["target_sql"] = map_schemas(parameters["target_sql"], dialect, schema_map)
        except UnparsableQuery as exc:
            from ombudsman.contracts.replies import Invalid

            raise Invalid(f"suggestion {suggestion.id}: target_sql cannot be mapped: {exc}",
                          {"field": "schema_map", "suggestion": suggestion.id}) from None
    fields["parameters"] = parameters
    return fields


def to_pipeline(suggestions: list[Suggestion], options: PipelineOptions) -> PipelineSpec:
    """A pipeline spec with one step per chosen suggestion (checked structurally); the target side's
    tables and SQL go through `options.schema_map` (see `map_step`)."""
    chosen = suggestions
    if options.suggestion_ids is not None:
        by_id = {s.id: s for s in suggestions}
        missing = [i for i in options.suggestion_ids if i not in by_id]
        if missing:
            from ombudsman.contracts.replies import Invalid

            raise Invalid(f"suggestion_ids: unknown suggestions {missing[:10]}", {"field": "suggestion_ids"})
        chosen = [by_id[i] for i in options.suggestion_ids]
    if not chosen:
        from ombudsman.contracts.replies import Invalid

        raise Invalid("no suggestions to turn into a pipeline", {"field": "suggestion_ids"})
    steps = []
    for s in chosen:
        step: dict[str, Any] = {"id": s.id, "validator": s.validator, "description": s.reason,
                                **map_step(s, options.schema_map or {}, options.target_identifier_case)}
        steps.append(step)
    data: dict[str, Any] = {
        "name": options.name,
        "description": options.description or "generated from a SQL Server Query Store workload",
        "connections": {"source": options.source_url, "target": options.target_url},
        "defaults": {"source_identifier_case": options.source_identifier_case,
                     "target_identifier_case": options.target_identifier_case},
        "steps": steps,
    }
    return parse_pipeline(data)


def pipeline_yaml(spec: PipelineSpec) -> str:
    """The spec as YAML (only fields that differ from their defaults)."""
    data = spec.model_dump(mode="json", exclude_defaults=True, exclude_none=True)
    for raw, step in zip(data["steps"], spec.steps, strict=True):
        if step.table is not None:
            raw["table"] = _ref_text(step.table)  # `schema.table`, as people write it
        if step.tables is not None:
            raw["tables"] = {side: _ref_text(ref)
                             for side, ref in (("source", step.tables.source), ("target", step.tables.target)) if ref}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)

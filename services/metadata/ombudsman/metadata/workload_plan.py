"""Workload suggestions merged into automate's plan: steps added to the generated pipeline of the
table they concern, through the approved table and column mappings (issue 15 item 8).

What the workload service learned reaches metadata in the `model` details of each analysis
(`WorkloadDetailsRecorded`, consumed in workload_joins.py): items of type `table` (how each column
is used: aggregates, GROUP BY, date filters, with execution counts) and `replay` (the heaviest
SELECTs' SQL and dialect, published only without personal literals). This module keeps only what
generation needs (`usage_doc`, `replay_doc`: never a literal value a query compared a column with)
and turns it into steps (`merge`).

Strong evidence only: a column counts when its aggregate, GROUP BY or date filter ran at least
`MIN_EXECUTIONS` times (summed over the project's workloads), and a query is replayed when it ran at
least that often.
- `metric_sums` / `metric_averages` (step ids `workload_sums`, `workload_averages`) on columns the
  workload SUMs / AVGs, only those classified as measures (classify.py `TableClass.columns`: never a
  surrogate, foreign or business key, a date or a flag), grouped by at most `MAX_GROUP_BY` columns it
  filters by date or groups by (dates and attributes, never a measure), `max_groups` bounded; left
  out when the generated pipeline has the same check already.
- `custom_query` (`workload_replay_<fingerprint>`) per heavy query, in the pipeline of the first
  table it reads: parsed in the workload's dialect, tables and columns resolved against the source
  catalog (a workload analysed before the catalog existed is resolved now: a schema-less name
  defaulted to `dbo` matches a table of that name in any schema when it is the only one), every
  table approved and every column mapped or the query is skipped (saying why). The source SQL names
  the source catalog's tables and columns and is rendered in the source's dialect; the target SQL
  names the approved target table and the mapped target columns and is rendered in the target's
  dialect. Names are quoted as the catalogs spell them; output columns get lower-case aliases, and
  the non-aggregated ones of a GROUP BY query are the step's `key_columns`, so rows are compared by
  key with the engine's normalisation and tolerance.
Pure, except `load_plan` (reads the read model).
"""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlglot import exp
from sqlglot.errors import SqlglotError

from ombudsman.contracts.catalog import Catalog, TableInfo
from ombudsman.contracts.pipeline import load_pipeline, safe_dump_yaml, safe_load_yaml
from ombudsman.engine.dialects import DIALECT_BY_KIND
from ombudsman.metadata.classify import TableClass
from ombudsman.metadata.generate import (
    ApprovedMapping,
    GeneratedPipeline,
    ValidatorFields,
    engine_validator_fields,
)
from ombudsman.metadata.relationships import JoinPair

USAGE_KIND = "workload_usage"
REPLAY_KIND = "workload_replay"
MIN_EXECUTIONS = 10
MAX_GROUP_BY = 2
MAX_GROUPS = 1000  # groups compared one by one; past it the engine compares hash buckets
DEFAULT_SCHEMA = "dbo"  # how SQL Server resolves a schema-less name (the workload's default)
GROUPABLE = frozenset({"attribute", "date", "foreign_key"})  # never an order number: one group per row
_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")
_STEP = re.compile(r"[^A-Za-z0-9_]+")


# --- what the read model keeps ------------------------------------------------------------------


def usage_doc(workload_id: str, item: dict[str, Any]) -> dict[str, Any] | None:
    """A `table` model item without anything but what generation needs (no literal values)."""
    columns = []
    for column in item.get("columns") or []:
        aggregates = {k: int(v) for k, v in (column.get("aggregates") or {}).items() if k in ("SUM", "AVG")}
        group_by = int((column.get("usages") or {}).get("group_by") or 0)
        date_filter = bool(column.get("date_filter"))
        if aggregates or group_by or date_filter:
            columns.append({"column": str(column["column"]), "aggregates": aggregates, "group_by": group_by,
                            "date_filter": date_filter, "executions": int(column.get("executions") or 0)})
    if not columns or not item.get("table"):
        return None
    return {"workload_id": workload_id, "table": str(item["table"]), "in_catalog": bool(item.get("in_catalog")),
            "executions": int(item.get("executions") or 0), "columns": columns}


def replay_doc(workload_id: str, item: dict[str, Any]) -> dict[str, Any] | None:
    """A `replay` model item as kept (its SQL, dialect, executions and tables)."""
    if not item.get("sql") or not item.get("fingerprint"):
        return None
    return {"workload_id": workload_id, "fingerprint": str(item["fingerprint"]), "sql": str(item["sql"]),
            "dialect": str(item.get("dialect") or "tsql"), "executions": int(item.get("executions") or 0),
            "total_duration": float(item.get("total_duration") or 0.0), "tables": list(item.get("tables") or [])}


class ColumnUse(BaseModel):
    column: str
    aggregates: dict[str, int] = Field(default_factory=dict)
    group_by: int = 0
    date_filter: bool = False
    executions: int = 0


class TableUse(BaseModel):
    table: str
    columns: list[ColumnUse] = Field(default_factory=list)


class Replay(BaseModel):
    fingerprint: str
    sql: str
    dialect: str = "tsql"
    executions: int = 0
    total_duration: float = 0.0
    tables: list[str] = Field(default_factory=list)


class WorkloadPlan(BaseModel):
    """What the project's analysed workloads say, summed over them."""

    tables: list[TableUse] = Field(default_factory=list)
    replays: list[Replay] = Field(default_factory=list)
    workloads: int = 0

    @property
    def empty(self) -> bool:
        return not self.tables and not self.replays


def plan_from_docs(usages: list[dict[str, Any]], replays: list[dict[str, Any]]) -> WorkloadPlan:
    """Usage summed per (table, column) and replays per fingerprint over every workload."""
    tables: dict[str, dict[str, ColumnUse]] = {}
    names: dict[str, str] = {}
    for doc in usages:
        key = doc["table"].lower()
        names.setdefault(key, doc["table"])
        columns = tables.setdefault(key, {})
        for c in doc.get("columns") or []:
            use = columns.setdefault(c["column"].lower(), ColumnUse(column=c["column"]))
            for name, n in (c.get("aggregates") or {}).items():
                use.aggregates[name] = use.aggregates.get(name, 0) + int(n)
            use.group_by += int(c.get("group_by") or 0)
            use.date_filter = use.date_filter or bool(c.get("date_filter"))
            use.executions += int(c.get("executions") or 0)
    by_print: dict[str, Replay] = {}
    for doc in replays:
        found = by_print.get(doc["fingerprint"])
        if found is None:
            by_print[doc["fingerprint"]] = Replay.model_validate(doc)
        else:
            found.executions += int(doc.get("executions") or 0)
            found.total_duration += float(doc.get("total_duration") or 0.0)
    workloads = {d["workload_id"] for d in [*usages, *replays]}
    return WorkloadPlan(
        tables=[TableUse(table=names[k], columns=list(v.values())) for k, v in sorted(tables.items())],
        replays=sorted(by_print.values(), key=lambda r: (-r.total_duration, -r.executions, r.fingerprint)),
        workloads=len(workloads),
    )


async def load_plan(conn: AsyncConnection, project: str) -> WorkloadPlan:
    """The project's workload plan from the read model."""
    from ombudsman.metadata.projections import _docs

    return plan_from_docs(await _docs(conn, project, USAGE_KIND), await _docs(conn, project, REPLAY_KIND))


# --- names ---------------------------------------------------------------------------------------


class Resolver:
    """Workload table names to source catalog tables (case-insensitively). A name whose schema is
    missing or the default one and not in the catalog matches the only table of that name."""

    def __init__(self, catalog: Catalog, default_schema: str = DEFAULT_SCHEMA):
        self.by_qualified = {t.qualified_name.lower(): t for t in catalog.tables}
        self.by_name: dict[str, list[TableInfo]] = {}
        for t in catalog.tables:
            self.by_name.setdefault(t.name.lower(), []).append(t)
        self.default_schema = default_schema.lower()

    def table(self, schema: str | None, name: str) -> TableInfo | None:
        found = self.by_qualified.get(f"{(schema or self.default_schema).lower()}.{name.lower()}")
        if found is not None:
            return found
        if schema is None or schema.lower() == self.default_schema:
            candidates = self.by_name.get(name.lower(), [])
            return candidates[0] if len(candidates) == 1 else None
        return None

    def qualified(self, name: str) -> TableInfo | None:
        parts = name.split(".")
        return self.table(parts[-2] if len(parts) > 1 else None, parts[-1])


def resolve_pairs(pairs: list[JoinPair], catalog: Catalog) -> list[JoinPair]:
    """Join pairs with their tables and columns spelled as the catalog has them (a workload analysed
    before the catalog existed named them with the default schema); unresolvable pairs unchanged."""
    resolver = Resolver(catalog)
    out = []
    for pair in pairs:
        left, right = resolver.qualified(pair.left_table), resolver.qualified(pair.right_table)
        if left is None or right is None:
            out.append(pair)
            continue
        out.append(JoinPair(left_table=left.qualified_name, left_column=_column(left, pair.left_column) or pair.left_column,
                            right_table=right.qualified_name,
                            right_column=_column(right, pair.right_column) or pair.right_column,
                            executions=pair.executions))
    return out


def _column(table: TableInfo, name: str) -> str | None:
    lowered = name.lower()
    return next((c.name for c in table.columns if c.name.lower() == lowered), None)


def _mapped(mapping: ApprovedMapping, column: str) -> str | None:
    """The target name of a source column (its own name when the mapping names no columns)."""
    if not mapping.columns:
        return column
    lowered = column.lower()
    return next((t for s, t in mapping.columns.items() if s.lower() == lowered), None)


# --- merge ---------------------------------------------------------------------------------------


class MergeReport(BaseModel):
    """What automate says of the workload: steps added per pipeline, what was left out and why."""

    workloads: int = 0
    steps: dict[str, list[str]] = Field(default_factory=dict)  # pipeline id -> added step ids
    skipped: list[str] = Field(default_factory=list)
    min_executions: int = MIN_EXECUTIONS

    def summary(self) -> dict[str, Any]:
        return {"workloads": self.workloads, "steps": sum(len(s) for s in self.steps.values()),
                "pipelines": len(self.steps), "skipped": self.skipped[:50], "min_executions": self.min_executions}


def merge(
    pipelines: list[GeneratedPipeline],
    plan: WorkloadPlan,
    approved: list[ApprovedMapping],
    source: Catalog,
    target: Catalog,
    classes: list[TableClass],
    *,
    min_executions: int = MIN_EXECUTIONS,
    fields: ValidatorFields = engine_validator_fields,
) -> MergeReport:
    """Add the plan's steps to the generated pipelines (in place); what was added and skipped."""
    report = MergeReport(workloads=plan.workloads, min_executions=min_executions)
    if plan.empty:
        return report
    resolver = Resolver(source)
    by_source = {m.source_table.lower(): m for m in approved}
    by_pipeline = {p.source_table.lower(): p for p in pipelines}
    by_class = {c.table.lower(): c for c in classes}
    added: dict[str, list[dict[str, Any]]] = {}
    for use in plan.tables:
        table = resolver.qualified(use.table)
        if table is None:
            report.skipped.append(f"{use.table}: not in the source catalog")
            continue
        pipeline, mapping = by_pipeline.get(table.qualified_name.lower()), by_source.get(table.qualified_name.lower())
        if pipeline is None or mapping is None:
            continue  # not mapped: coverage reports the table
        steps = _metric_steps(use, table, mapping, by_class.get(table.qualified_name.lower()), pipeline,
                              min_executions, fields, report)
        added.setdefault(pipeline.pipeline_id, []).extend(steps)
    target_dialect = DIALECT_BY_KIND.get(target.kind, target.kind)
    source_dialect = DIALECT_BY_KIND.get(source.kind, source.kind)
    replay_fields = fields("custom_query")
    for replay in plan.replays:
        if replay.executions < min_executions:
            continue
        if replay_fields is None:
            report.skipped.append("custom_query: not installed")
            break
        try:
            first, step = replay_step(replay, resolver, by_source, target, source_dialect, target_dialect)
        except ReplaySkipped as exc:
            report.skipped.append(f"replay {replay.fingerprint[:12]}: {exc}")
            continue
        pipeline = by_pipeline.get(first.lower())
        if pipeline is None:
            report.skipped.append(f"replay {replay.fingerprint[:12]}: no pipeline for {first}")
            continue
        added.setdefault(pipeline.pipeline_id, []).append(step)
    for pipeline in pipelines:
        extra = added.get(pipeline.pipeline_id)
        if extra:
            _append_steps(pipeline, extra)
            report.steps[pipeline.pipeline_id] = [s["id"] for s in extra]
    return report


def _metric_steps(use: TableUse, table: TableInfo, mapping: ApprovedMapping, cls: TableClass | None,
                  pipeline: GeneratedPipeline, minimum: int, fields: ValidatorFields,
                  report: MergeReport) -> list[dict[str, Any]]:
    roles = {k.lower(): v for k, v in (cls.columns if cls else {}).items()}
    measures_by_class = {m.lower() for m in (cls.measures if cls else [])}

    def is_measure(name: str) -> bool:
        return roles.get(name.lower()) == "measure" if roles else name.lower() in measures_by_class

    resolved: list[tuple[str, ColumnUse]] = []
    for c in use.columns:
        name = _column(table, c.column)
        if name is None:
            report.skipped.append(f"{table.qualified_name}.{c.column}: not a column of the source table")
        elif _mapped(mapping, name) is None:
            report.skipped.append(f"{table.qualified_name}.{name}: not mapped to the target")
        else:
            resolved.append((name, c))
    group_by = [n for n, c in sorted(resolved, key=lambda nc: (not nc[1].date_filter, -nc[1].group_by, nc[0]))
                if ((c.date_filter and c.executions >= minimum) or c.group_by >= minimum)
                and not is_measure(n) and (roles.get(n.lower(), "attribute") in GROUPABLE)][:MAX_GROUP_BY]
    existing = _existing_checks(pipeline)
    steps: list[dict[str, Any]] = []
    for validator, func, step_id in (("metric_sums", "SUM", "workload_sums"), ("metric_averages", "AVG",
                                                                                "workload_averages")):
        candidates = [(n, c) for n, c in resolved if c.aggregates.get(func, 0) >= minimum]
        measures = [n for n, _ in candidates if is_measure(n)]
        for n, _ in candidates:
            if not is_measure(n):
                report.skipped.append(f"{table.qualified_name}.{n}: {func} in the workload, but not a measure "
                                      f"({roles.get(n.lower(), 'unclassified')})")
        if not measures or fields(validator) is None:
            continue
        if (validator, tuple(sorted(m.lower() for m in measures)), tuple(g.lower() for g in group_by)) in existing:
            continue
        executions = max(c.aggregates.get(func, 0) for n, c in candidates if n in measures)
        step: dict[str, Any] = {
            "id": step_id, "validator": validator,
            "description": f"the workload's {func} of {', '.join(measures)}"
                           + (f" by {', '.join(group_by)}" if group_by else "") + f" ({executions} executions)",
            "tables": {"source": mapping.source_table, "target": mapping.target_table},
        }
        if mapping.columns:
            step["columns"] = dict(mapping.columns)
        step["parameters"] = {"measures": measures, "group_by": list(group_by), "max_groups": MAX_GROUPS}
        steps.append(step)
    return steps


def _existing_checks(pipeline: GeneratedPipeline) -> set[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    data = safe_load_yaml(pipeline.yaml)
    found = set()
    for step in data.get("steps") or []:
        params = step.get("parameters") or {}
        if step.get("validator") in ("metric_sums", "metric_averages"):
            found.add((step["validator"], tuple(sorted(m.lower() for m in params.get("measures") or [])),
                       tuple(g.lower() for g in params.get("group_by") or [])))
    return found




def _append_steps(pipeline: GeneratedPipeline, steps: list[dict[str, Any]]) -> None:
    data = safe_load_yaml(pipeline.yaml)
    taken = {s["id"] for s in data.get("steps") or []}
    for step in steps:
        base, n = step["id"], 2
        while step["id"] in taken:
            step["id"] = f"{base}_{n}"
            n += 1
        taken.add(step["id"])
        data["steps"].append(step)
    text = safe_dump_yaml(data)
    load_pipeline(text)  # still a loadable pipeline
    pipeline.yaml = text
    pipeline.steps = [s["id"] for s in data["steps"]]
    if "workload" not in pipeline.tags:
        pipeline.tags.append("workload")


# --- replays -------------------------------------------------------------------------------------


class ReplaySkipped(ValueError):
    """Why a heavy query is not replayed."""


def _quoted(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _table_node(schema: str, name: str, alias: exp.Expr | None) -> exp.Table:
    node = exp.Table(this=_quoted(name), db=_quoted(schema))
    if alias is not None:
        node.set("alias", alias.copy())
    return node


def _target_name(mapping: ApprovedMapping, target: Catalog) -> tuple[str, str]:
    """(schema, table) of a mapping's target, spelled as the target catalog has it."""
    schema, name = mapping.target_table.rsplit(".", 1)
    info = target.table(schema, name)
    return (info.schema_name, info.name) if info is not None else (schema, name)


def replay_step(replay: Replay, resolver: Resolver, approved: dict[str, ApprovedMapping], target: Catalog,
                source_dialect: str, target_dialect: str) -> tuple[str, dict[str, Any]]:
    """(source table of its pipeline, custom_query step) of one heavy query; `ReplaySkipped` says why not."""
    try:
        parsed = [s for s in sqlglot.parse(replay.sql, read=replay.dialect) if s is not None]
    except SqlglotError as exc:
        raise ReplaySkipped(f"cannot parse it as {replay.dialect}: {str(exc).splitlines()[0][:200]}") from None
    if len(parsed) != 1 or not isinstance(parsed[0], exp.Select):
        raise ReplaySkipped("not one SELECT")
    source_tree = parsed[0]
    for hint in list(source_tree.find_all(exp.WithTableHint)):
        hint.pop()
    outputs = _alias_outputs(source_tree)
    ctes = {cte.alias_or_name.lower() for cte in source_tree.find_all(exp.CTE)}
    tables: dict[int, tuple[TableInfo, ApprovedMapping]] = {}
    aliases: dict[str, TableInfo] = {}
    unaliased: dict[str, tuple[TableInfo, ApprovedMapping]] = {}  # qualifiers that are table names
    for node in source_tree.find_all(exp.Table):
        if not node.name or (not node.db and node.name.lower() in ctes):
            continue
        info = resolver.table(node.db or None, node.name)
        if info is None:
            raise ReplaySkipped(f"table {node.sql(dialect=replay.dialect)} is not in the source catalog")
        mapping = approved.get(info.qualified_name.lower())
        if mapping is None:
            raise ReplaySkipped(f"table {info.qualified_name} is not mapped to the target")
        tables[id(node)] = (info, mapping)
        aliases[(node.alias or node.name).lower()] = info
        if not node.alias:
            unaliased[node.name.lower()] = (info, mapping)
    if not tables:
        raise ReplaySkipped("it reads no catalog table")
    first_from = source_tree.args.get("from_") or source_tree.args.get("from")
    first_node = first_from.this if first_from is not None else None
    if not isinstance(first_node, exp.Table) or id(first_node) not in tables:
        raise ReplaySkipped("its FROM is not a catalog table")
    first = tables[id(first_node)][0].qualified_name
    columns: dict[int, tuple[str, str]] = {}  # column node -> (source name, target name)
    for column in source_tree.find_all(exp.Column):
        if not column.name or isinstance(column.this, exp.Star):
            continue
        owner = aliases.get(column.table.lower()) if column.table else _only_owner(column.name, aliases)
        if owner is None:
            if column.table or column.name.lower() not in outputs:
                raise ReplaySkipped(f"column {column.sql(dialect=replay.dialect)} cannot be resolved to one table")
            continue  # an output alias (ORDER BY total)
        name = _column(owner, column.name)
        if name is None:
            raise ReplaySkipped(f"{owner.qualified_name} has no column {column.name}")
        target_name = _mapped(approved[owner.qualified_name.lower()], name)
        if target_name is None:
            raise ReplaySkipped(f"{owner.qualified_name}.{name} is not mapped to the target")
        columns[id(column)] = (name, target_name)
    target_tree = source_tree.copy()
    # copy() keeps the tree's shape: pair each source node with its target twin, then rename both
    twins = list(zip(source_tree.walk(), target_tree.walk(), strict=True))
    for src_node, tgt_node in twins:
        if isinstance(src_node, exp.Table) and id(src_node) in tables:
            info, mapping = tables[id(src_node)]
            alias = src_node.args.get("alias")
            src_node.replace(_table_node(info.schema_name, info.name, alias))
            tgt_node.replace(_table_node(*_target_name(mapping, target), alias))
        elif isinstance(src_node, exp.Column) and id(src_node) in columns:
            source_name, target_name = columns[id(src_node)]
            src_node.set("this", _quoted(source_name))
            tgt_node.set("this", _quoted(target_name))
            owner = unaliased.get(src_node.table.lower()) if src_node.table else None
            if owner is not None:  # qualified by the table's own name: each side's name
                src_node.set("table", _quoted(owner[0].name))
                tgt_node.set("table", _quoted(_target_name(owner[1], target)[1]))
            for side_node in (src_node, tgt_node):
                side_node.set("db", None)
                side_node.set("catalog", None)
    keys = _key_columns(source_tree)
    source_sql = source_tree.sql(dialect=source_dialect)
    target_sql = target_tree.sql(dialect=target_dialect)
    for sql, dialect in ((source_sql, source_dialect), (target_sql, target_dialect)):
        try:
            sqlglot.parse_one(sql, read=dialect)
        except SqlglotError as exc:
            raise ReplaySkipped(f"its {dialect} rendering does not parse: {str(exc).splitlines()[0][:200]}") from None
    parameters: dict[str, Any] = {"source_sql": source_sql, "target_sql": target_sql}
    if keys:
        parameters["key_columns"] = keys
    step_id = "workload_replay_" + _STEP.sub("_", replay.fingerprint)[:16]
    names = sorted({info.qualified_name for info, _ in tables.values()})
    return first, {"id": step_id, "validator": "custom_query",
                   "description": f"one of the workload's heaviest queries ({replay.executions} executions, "
                                  f"{replay.total_duration / 1000:.1f} ms in total) over {', '.join(names)}, "
                                  f"replayed from {replay.dialect} on both sides",
                   "parameters": parameters}


def _only_owner(column: str, aliases: dict[str, TableInfo]) -> TableInfo | None:
    owners = {t.qualified_name: t for t in aliases.values() if _column(t, column) is not None}
    return next(iter(owners.values())) if len(owners) == 1 else None


def _alias_outputs(select: exp.Select) -> set[str]:
    """Give every output column of the SELECT a quoted lower-case alias (the same on both sides, so
    the results' column names and `key_columns` agree whatever each database folds); their names."""
    taken: set[str] = set()
    for i, projection in enumerate(list(select.expressions)):
        if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)):
            raise ReplaySkipped("SELECT * (its columns differ by side)")
        name = projection.alias_or_name.lower()
        if not _PLAIN.match(name) or name in taken:
            name = f"c{i + 1}"
        taken.add(name)
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        projection.replace(exp.Alias(this=inner.copy(), alias=_quoted(name)))
    return {p.alias.lower() for p in select.expressions}


def _key_columns(select: exp.Select) -> list[str]:
    """The output names of a GROUP BY query's non-aggregated columns (none without GROUP BY)."""
    if not select.args.get("group"):
        return []
    return [p.alias for p in select.expressions if not list(p.find_all(exp.AggFunc))]

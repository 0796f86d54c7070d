"""The Workload Data model: queries grouped by fingerprint, then folded into per-table usage.

`QueryGroups` takes export records one at a time (memory bounded by the distinct fingerprints, not
by the number of queries); `build_model` analyses each distinct query once (sqlglot) and weighs
what it learns by the group's executions. Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ombudsman.workload.analysis import CatalogIndex, QueryAnalysis, UnparsableQuery, analyze
from ombudsman.workload.fingerprint import fingerprint
from ombudsman.workload.upload import QueryRecord

MAX_TEXT_CHARS = 8_000  # kept per distinct query (the full text is only needed to analyse it)
MAX_VALUES = 50  # distinct literal values remembered per filter identifier
MAX_EVIDENCE = 10  # fingerprints named as evidence per item
MAX_QUERY_IDS = 20


@dataclass(slots=True)
class QueryGroup:
    """Every query of an upload sharing one fingerprint, with summed runtime statistics."""

    fingerprint: str
    text: str
    queries: int = 0
    executions: int = 0
    total_duration: float = 0.0  # microseconds, summed over executions
    total_cpu_time: float = 0.0
    total_logical_reads: float = 0.0
    first_execution_time: datetime | None = None
    last_execution_time: datetime | None = None
    query_ids: list[str] = field(default_factory=list)
    filter_values: dict[str, set[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "text": self.text, "queries": self.queries,
            "executions": self.executions, "total_duration": round(self.total_duration, 3),
            "total_cpu_time": round(self.total_cpu_time, 3), "total_logical_reads": round(self.total_logical_reads, 3),
            "first_execution_time": self.first_execution_time.isoformat() if self.first_execution_time else None,
            "last_execution_time": self.last_execution_time.isoformat() if self.last_execution_time else None,
            "query_ids": list(self.query_ids),
            "filter_values": {k: sorted(v) for k, v in sorted(self.filter_values.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueryGroup:
        def when(value: Any) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(
            fingerprint=data["fingerprint"], text=data["text"], queries=int(data["queries"]),
            executions=int(data["executions"]), total_duration=float(data.get("total_duration", 0.0)),
            total_cpu_time=float(data.get("total_cpu_time", 0.0)),
            total_logical_reads=float(data.get("total_logical_reads", 0.0)),
            first_execution_time=when(data.get("first_execution_time")),
            last_execution_time=when(data.get("last_execution_time")),
            query_ids=list(data.get("query_ids", [])),
            filter_values={k: set(v) for k, v in data.get("filter_values", {}).items()},
        )


class QueryGroups:
    """Export records grouped by fingerprint as they stream in."""

    def __init__(self) -> None:
        self.groups: dict[str, QueryGroup] = {}
        self.records = 0
        self._by_text: dict[str, str] = {}  # exact text -> fingerprint (Query Store repeats texts per plan)

    def add(self, record: QueryRecord) -> QueryGroup:
        """Count one record into its group (tokenising the text once per distinct text)."""
        self.records += 1
        digest = self._by_text.get(record.text)
        print_ = None
        if digest is None:
            print_ = fingerprint(record.text)
            digest = print_.digest
            if len(self._by_text) < 200_000:
                self._by_text[record.text] = digest
        group = self.groups.get(digest)
        if group is None:
            group = self.groups[digest] = QueryGroup(digest, record.text[:MAX_TEXT_CHARS]
                                                     if len(record.text) > MAX_TEXT_CHARS else record.text)
        if print_ is not None:
            for identifier, value in print_.filters:
                values = group.filter_values.setdefault(identifier, set())
                if len(values) <= MAX_VALUES:
                    values.add(value[:200])
        group.queries += 1
        group.executions += record.executions
        group.total_duration += record.total_duration
        group.total_cpu_time += record.avg_cpu_time * record.executions
        group.total_logical_reads += record.avg_logical_io_reads * record.executions
        if record.query_id is not None and len(group.query_ids) < MAX_QUERY_IDS:
            group.query_ids.append(record.query_id)
        first, last = record.first_execution_time, record.last_execution_time
        if first is not None and (group.first_execution_time is None or first < group.first_execution_time):
            group.first_execution_time = first
        if last is not None and (group.last_execution_time is None or last > group.last_execution_time):
            group.last_execution_time = last
        return group

    def extend(self, records: Iterable[QueryRecord]) -> QueryGroups:
        for record in records:
            self.add(record)
        return self


# --- the model -------------------------------------------------------------------------------


class ColumnUsage(BaseModel):
    column: str
    queries: int = 0  # distinct queries (fingerprints) using it
    executions: int = 0
    usages: dict[str, int] = Field(default_factory=dict)  # usage -> executions
    operators: dict[str, int] = Field(default_factory=dict)
    aggregates: dict[str, int] = Field(default_factory=dict)
    date_filter: bool = False
    literal_values: list[str] = Field(default_factory=list)  # values it was compared with (=, IN), capped
    literal_values_capped: bool = False
    evidence: list[str] = Field(default_factory=list)  # fingerprints, heaviest first


class TableUsage(BaseModel):
    table: str
    in_catalog: bool
    queries: int = 0
    executions: int = 0
    join_partners: dict[str, int] = Field(default_factory=dict)  # table -> executions
    columns: list[ColumnUsage] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)

    def column(self, name: str) -> ColumnUsage | None:
        return next((c for c in self.columns if c.column == name), None)


class JoinUsage(BaseModel):
    left_table: str
    left_column: str
    right_table: str
    right_column: str
    queries: int = 0
    executions: int = 0
    evidence: list[str] = Field(default_factory=list)


class QuerySummary(BaseModel):
    fingerprint: str
    text: str
    status: str  # parsed | unparsed
    error: str | None = None
    kind: str | None = None
    queries: int
    executions: int
    total_duration: float
    total_cpu_time: float
    total_logical_reads: float
    tables: list[str] = Field(default_factory=list)
    features: list[str] = Field(default_factory=list)
    replayable: bool = False


class Totals(BaseModel):
    queries: int = 0
    distinct_queries: int = 0
    executions: int = 0
    parsed: int = 0  # distinct queries analysed
    unparsed: int = 0  # distinct queries that could not be
    unparsed_queries: int = 0  # queries (rows) behind them
    tables: int = 0
    joins: int = 0
    first_execution_time: datetime | None = None
    last_execution_time: datetime | None = None
    total_duration: float = 0.0


class WorkloadModel(BaseModel):
    """What a workload reads and how often: the basis of every suggestion."""

    totals: Totals
    tables: list[TableUsage] = Field(default_factory=list)
    joins: list[JoinUsage] = Field(default_factory=list)
    queries: list[QuerySummary] = Field(default_factory=list)

    def table(self, name: str) -> TableUsage | None:
        lowered = name.lower()
        return next((t for t in self.tables if t.table.lower() == lowered), None)


def analyze_groups(groups: Iterable[QueryGroup], index: CatalogIndex) -> dict[str, QueryAnalysis | str]:
    """Each group's analysis, or the reason it could not be analysed (never raises for bad SQL)."""
    results: dict[str, QueryAnalysis | str] = {}
    for group in groups:
        try:
            results[group.fingerprint] = analyze(group.text, index)
        except UnparsableQuery as exc:
            results[group.fingerprint] = str(exc)
    return results


def _heaviest(weights: Counter[str]) -> list[str]:
    return [fp for fp, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_EVIDENCE]]


def build_model(groups: list[QueryGroup], index: CatalogIndex,
                analyses: dict[str, QueryAnalysis | str] | None = None) -> WorkloadModel:
    """Fold every group's analysis, weighted by executions, into the Workload Data model."""
    analyses = analyses if analyses is not None else analyze_groups(groups, index)
    totals = Totals()
    tables: dict[str, dict[str, Any]] = {}
    columns: dict[tuple[str, str], dict[str, Any]] = {}
    joins: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    summaries: list[QuerySummary] = []
    for group in groups:
        totals.queries += group.queries
        totals.distinct_queries += 1
        totals.executions += group.executions
        totals.total_duration += group.total_duration
        if group.first_execution_time and (totals.first_execution_time is None
                                           or group.first_execution_time < totals.first_execution_time):
            totals.first_execution_time = group.first_execution_time
        if group.last_execution_time and (totals.last_execution_time is None
                                          or group.last_execution_time > totals.last_execution_time):
            totals.last_execution_time = group.last_execution_time
        result = analyses.get(group.fingerprint, "not analysed")
        base: dict[str, Any] = {"fingerprint": group.fingerprint, "text": group.text, "queries": group.queries,
                "executions": group.executions, "total_duration": round(group.total_duration, 3),
                "total_cpu_time": round(group.total_cpu_time, 3),
                "total_logical_reads": round(group.total_logical_reads, 3)}
        if isinstance(result, str):
            totals.unparsed += 1
            totals.unparsed_queries += group.queries
            summaries.append(QuerySummary(status="unparsed", error=result, **base))
            continue
        totals.parsed += 1
        summaries.append(QuerySummary(status="parsed", kind=result.kind, tables=sorted(result.tables),
                                      features=sorted(result.features), replayable=result.replayable, **base))
        weight = group.executions
        for name, known in result.tables.items():
            entry = tables.setdefault(name, {"in_catalog": known, "queries": 0, "executions": 0,
                                             "partners": Counter(), "evidence": Counter()})
            entry["queries"] += 1
            entry["executions"] += weight
            entry["evidence"][group.fingerprint] += weight
        values_by_column: dict[tuple[str, str], set[str]] = {}
        for identifier, target in result.literal_filters.items():
            values_by_column.setdefault(target, set()).update(group.filter_values.get(identifier, ()))
        for key, use in result.columns.items():
            entry = columns.setdefault(key, {"queries": 0, "executions": 0, "usages": Counter(), "operators": Counter(),
                                             "aggregates": Counter(), "date": False, "values": set(),
                                             "evidence": Counter()})
            entry["queries"] += 1
            entry["executions"] += weight
            for usage in use.usages:
                entry["usages"][usage] += weight
            for operator in use.operators:
                entry["operators"][operator] += weight
            for aggregate in use.aggregates:
                entry["aggregates"][aggregate] += weight
            if key in result.date_filters:
                entry["date"] = True
            if key in values_by_column and len(entry["values"]) <= MAX_VALUES:
                entry["values"].update(values_by_column[key])
            entry["evidence"][group.fingerprint] += weight
        for join in result.joins:
            entry = joins.setdefault(join, {"queries": 0, "executions": 0, "evidence": Counter()})
            entry["queries"] += 1
            entry["executions"] += weight
            entry["evidence"][group.fingerprint] += weight
            left, right = join[0], join[2]
            if left != right:
                for a, b in ((left, right), (right, left)):
                    if a in tables:
                        tables[a]["partners"][b] += weight
    usage_by_table: dict[str, list[ColumnUsage]] = {}
    for (table, column), entry in sorted(columns.items()):
        values = sorted(entry["values"])
        usage_by_table.setdefault(table, []).append(ColumnUsage(
            column=column, queries=entry["queries"], executions=entry["executions"],
            usages=dict(sorted(entry["usages"].items())), operators=dict(sorted(entry["operators"].items())),
            aggregates=dict(sorted(entry["aggregates"].items())), date_filter=entry["date"],
            literal_values=values[:MAX_VALUES], literal_values_capped=len(values) > MAX_VALUES,
            evidence=_heaviest(entry["evidence"]),
        ))
    model_tables = [
        TableUsage(table=name, in_catalog=entry["in_catalog"], queries=entry["queries"], executions=entry["executions"],
                   join_partners=dict(sorted(entry["partners"].items())), columns=usage_by_table.get(name, []),
                   evidence=_heaviest(entry["evidence"]))
        for name, entry in sorted(tables.items(), key=lambda kv: (-kv[1]["executions"], kv[0]))
    ]
    model_joins = [
        JoinUsage(left_table=k[0], left_column=k[1], right_table=k[2], right_column=k[3], queries=e["queries"],
                  executions=e["executions"], evidence=_heaviest(e["evidence"]))
        for k, e in sorted(joins.items(), key=lambda kv: (-kv[1]["executions"], kv[0]))
    ]
    totals.tables = len(model_tables)
    totals.joins = len(model_joins)
    totals.total_duration = round(totals.total_duration, 3)
    summaries.sort(key=lambda s: (-s.total_duration, -s.executions, s.fingerprint))
    return WorkloadModel(totals=totals, tables=model_tables, joins=model_joins, queries=summaries)

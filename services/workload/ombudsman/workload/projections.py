"""Read models of the workload service (schema `workload`), fed by its own events, rebuildable by replay.

- `workload.workloads`: one row per workload (file, status, totals, counts);
- `workload.queries`: one row per distinct query (fingerprint): text, counts, runtime sums, and after
  analysis its kind, tables, features, status (parsed / unparsed) and the reason;
- `workload.table_usage`: per table: access counts, join partners, columns with usage types,
  operators, aggregates and evidence;
- `workload.joins`: join pairs with their columns, counts and evidence;
- `workload.suggestions`, `workload.pipelines`.

Rows are written from event data only, with times from the envelope, so a rebuild is identical; the
first chunk of a details batch replaces the rows of that kind.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.registry import UnknownEventType, decode
from ombudsman.contracts.subjects import events_filter
from ombudsman.eventstore.migrations import create_schema_sql
from ombudsman.eventstore.projections import Projection

SCHEMA = "workload"
WORKLOAD_EVENTS = frozenset({"WorkloadUploaded", "WorkloadAnalyzed", "ValidationsSuggested",
                             "WorkloadDetailsRecorded", "WorkloadPipelineGenerated"})


def ddl(schema: str = SCHEMA) -> list[str]:
    """The read model's tables (idempotent)."""
    return [
        create_schema_sql(schema),
        f"""CREATE TABLE IF NOT EXISTS {schema}.workloads (
            workload_id text PRIMARY KEY,
            project_id text NOT NULL,
            filename text NOT NULL,
            status text NOT NULL,
            queries integer NOT NULL DEFAULT 0,
            distinct_queries integer NOT NULL DEFAULT 0,
            unparsed integer NOT NULL DEFAULT 0,
            tables integer NOT NULL DEFAULT 0,
            suggestions integer NOT NULL DEFAULT 0,
            totals jsonb NOT NULL DEFAULT '{{}}'::jsonb,
            uploaded_by text NOT NULL DEFAULT '',
            uploaded_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        f"CREATE INDEX IF NOT EXISTS workloads_project ON {schema}.workloads (project_id, uploaded_at)",
        f"""CREATE TABLE IF NOT EXISTS {schema}.queries (
            workload_id text NOT NULL,
            fingerprint text NOT NULL,
            text text NOT NULL,
            queries integer NOT NULL,
            executions bigint NOT NULL,
            total_duration double precision NOT NULL,
            total_cpu_time double precision NOT NULL,
            total_logical_reads double precision NOT NULL,
            first_execution_time timestamptz,
            last_execution_time timestamptz,
            query_ids jsonb NOT NULL DEFAULT '[]'::jsonb,
            status text NOT NULL DEFAULT 'uploaded',
            error text,
            kind text,
            tables jsonb NOT NULL DEFAULT '[]'::jsonb,
            features jsonb NOT NULL DEFAULT '[]'::jsonb,
            replayable boolean NOT NULL DEFAULT false,
            PRIMARY KEY (workload_id, fingerprint)
        )""",
        f"""CREATE TABLE IF NOT EXISTS {schema}.table_usage (
            workload_id text NOT NULL,
            table_name text NOT NULL,
            in_catalog boolean NOT NULL,
            queries integer NOT NULL,
            executions bigint NOT NULL,
            join_partners jsonb NOT NULL,
            columns jsonb NOT NULL,
            evidence jsonb NOT NULL,
            PRIMARY KEY (workload_id, table_name)
        )""",
        f"""CREATE TABLE IF NOT EXISTS {schema}.joins (
            workload_id text NOT NULL,
            left_table text NOT NULL,
            left_column text NOT NULL,
            right_table text NOT NULL,
            right_column text NOT NULL,
            queries integer NOT NULL,
            executions bigint NOT NULL,
            evidence jsonb NOT NULL,
            PRIMARY KEY (workload_id, left_table, left_column, right_table, right_column)
        )""",
        f"""CREATE TABLE IF NOT EXISTS {schema}.suggestions (
            workload_id text NOT NULL,
            suggestion_id text NOT NULL,
            position integer NOT NULL,
            validator text NOT NULL,
            table_name text,
            body jsonb NOT NULL,
            PRIMARY KEY (workload_id, suggestion_id)
        )""",
        f"""CREATE TABLE IF NOT EXISTS {schema}.pipelines (
            workload_id text NOT NULL,
            pipeline_id text NOT NULL,
            name text NOT NULL,
            yaml text NOT NULL,
            steps integer NOT NULL,
            saved boolean NOT NULL,
            generated_at timestamptz NOT NULL,
            PRIMARY KEY (workload_id, pipeline_id)
        )""",
    ]


_TABLES = ("workloads", "queries", "table_usage", "joins", "suggestions", "pipelines")


class WorkloadProjection(Projection):
    """Every workload read model, fed synchronously by this service's own events."""

    name = "workload_tables"
    event_types = WORKLOAD_EVENTS

    async def setup(self, conn: AsyncConnection) -> None:
        for statement in ddl():
            await conn.execute(text(statement))

    async def reset(self, conn: AsyncConnection) -> None:
        for table in _TABLES:
            await conn.execute(text(f"DELETE FROM {SCHEMA}.{table}"))

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        try:
            event = decode(envelope)
        except UnknownEventType:
            return
        at = envelope.occurred_at
        if isinstance(event, ev.WorkloadUploaded):
            await conn.execute(text(
                f"INSERT INTO {SCHEMA}.workloads (workload_id, project_id, filename, status, queries, uploaded_by, "
                "uploaded_at, updated_at) VALUES (:w, :p, :f, 'uploaded', :q, :by, :at, :at) ON CONFLICT DO NOTHING"),
                {"w": event.workload_id, "p": event.project_id, "f": event.filename, "q": event.queries,
                 "by": envelope.actor.name, "at": at})
        elif isinstance(event, ev.WorkloadAnalyzed):
            await conn.execute(text(
                f"UPDATE {SCHEMA}.workloads SET status = 'analyzed', unparsed = :u, tables = :t, updated_at = :at "
                "WHERE workload_id = :w"), {"w": event.workload_id, "u": event.unparsed, "t": event.tables, "at": at})
        elif isinstance(event, ev.ValidationsSuggested):
            await conn.execute(text(
                f"UPDATE {SCHEMA}.workloads SET status = 'suggested', suggestions = :s, updated_at = :at "
                "WHERE workload_id = :w"), {"w": event.workload_id, "s": event.suggestions, "at": at})
        elif isinstance(event, ev.WorkloadPipelineGenerated):
            await conn.execute(text(
                f"INSERT INTO {SCHEMA}.pipelines (workload_id, pipeline_id, name, yaml, steps, saved, generated_at) "
                "VALUES (:w, :id, :n, :y, :s, :saved, :at) ON CONFLICT DO NOTHING"),
                {"w": event.workload_id, "id": event.pipeline_id, "n": event.name, "y": event.yaml, "s": event.steps,
                 "saved": event.saved, "at": at})
        elif isinstance(event, ev.WorkloadDetailsRecorded):
            await _details(conn, event)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def _details(conn: AsyncConnection, event: ev.WorkloadDetailsRecorded) -> None:
    w = event.workload_id
    if event.kind == "queries":
        if event.chunk == 1:
            await conn.execute(text(f"DELETE FROM {SCHEMA}.queries WHERE workload_id = :w"), {"w": w})
        rows = [{"w": w, "fp": g["fingerprint"], "text": g["text"], "q": g["queries"], "e": g["executions"],
                 "d": g["total_duration"], "c": g["total_cpu_time"], "r": g["total_logical_reads"],
                 "first": _when(g.get("first_execution_time")), "last": _when(g.get("last_execution_time")),
                 "ids": json.dumps(g.get("query_ids", []))} for g in event.items]
        if rows:
            await conn.execute(text(
                f"INSERT INTO {SCHEMA}.queries (workload_id, fingerprint, text, queries, executions, total_duration, "
                "total_cpu_time, total_logical_reads, first_execution_time, last_execution_time, query_ids) VALUES "
                "(:w, :fp, :text, :q, :e, :d, :c, :r, :first, :last, "
                "CAST(:ids AS jsonb)) ON CONFLICT DO NOTHING"), rows)
            await conn.execute(text(
                f"UPDATE {SCHEMA}.workloads SET distinct_queries = distinct_queries + :n WHERE workload_id = :w"),
                {"w": w, "n": len(rows)})
    elif event.kind == "model":
        if event.chunk == 1:
            for table in ("table_usage", "joins"):
                await conn.execute(text(f"DELETE FROM {SCHEMA}.{table} WHERE workload_id = :w"), {"w": w})
        await _model_items(conn, w, event.items)
    elif event.kind == "suggestions":
        if event.chunk == 1:
            await conn.execute(text(f"DELETE FROM {SCHEMA}.suggestions WHERE workload_id = :w"), {"w": w})
        start = (await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.suggestions WHERE workload_id = :w"),
                                    {"w": w})).scalar_one()
        rows = [{"w": w, "id": s["id"], "pos": start + i, "v": s["validator"], "t": s.get("table"),
                 "b": json.dumps(s)} for i, s in enumerate(event.items)]
        if rows:
            await conn.execute(text(
                f"INSERT INTO {SCHEMA}.suggestions (workload_id, suggestion_id, position, validator, table_name, body) "
                "VALUES (:w, :id, :pos, :v, :t, CAST(:b AS jsonb))"), rows)


async def _model_items(conn: AsyncConnection, w: str, items: list[dict[str, Any]]) -> None:
    tables, joins, queries = [], [], []
    for item in items:
        kind = item.get("type")
        if kind == "totals":
            body = {k: v for k, v in item.items() if k != "type"}
            await conn.execute(text(
                f"UPDATE {SCHEMA}.workloads SET totals = CAST(:t AS jsonb) WHERE workload_id = :w"),
                {"w": w, "t": json.dumps(body)})
        elif kind == "table":
            tables.append({"w": w, "t": item["table"], "c": item["in_catalog"], "q": item["queries"],
                           "e": item["executions"], "p": json.dumps(item["join_partners"]),
                           "cols": json.dumps(item["columns"]), "ev": json.dumps(item["evidence"])})
        elif kind == "join":
            joins.append({"w": w, "lt": item["left_table"], "lc": item["left_column"], "rt": item["right_table"],
                          "rc": item["right_column"], "q": item["queries"], "e": item["executions"],
                          "ev": json.dumps(item["evidence"])})
        elif kind == "query":
            queries.append({"w": w, "fp": item["fingerprint"], "s": item["status"], "err": item.get("error"),
                            "k": item.get("kind"), "t": json.dumps(item.get("tables", [])),
                            "f": json.dumps(item.get("features", [])), "r": bool(item.get("replayable"))})
    if tables:
        await conn.execute(text(
            f"INSERT INTO {SCHEMA}.table_usage (workload_id, table_name, in_catalog, queries, executions, join_partners, "
            "columns, evidence) VALUES (:w, :t, :c, :q, :e, CAST(:p AS jsonb), CAST(:cols AS jsonb), CAST(:ev AS jsonb))"),
            tables)
    if joins:
        await conn.execute(text(
            f"INSERT INTO {SCHEMA}.joins (workload_id, left_table, left_column, right_table, right_column, queries, "
            "executions, evidence) VALUES (:w, :lt, :lc, :rt, :rc, :q, :e, CAST(:ev AS jsonb))"), joins)
    if queries:
        await conn.execute(text(
            f"UPDATE {SCHEMA}.queries SET status = :s, error = :err, kind = :k, tables = CAST(:t AS jsonb), "
            "features = CAST(:f AS jsonb), replayable = :r WHERE workload_id = :w AND fingerprint = :fp"), queries)


class ProjectCleanup(Projection):
    """Drops a deleted project's workload rows (the projects service's ProjectDeleted, via JetStream).
    The events stay: the audit trail keeps them."""

    name = "workload_project_cleanup"
    event_types = frozenset({"ProjectDeleted"})
    replay_source = "stream"
    replay_filter = events_filter("project", "*", "ProjectDeleted")

    async def setup(self, conn: AsyncConnection) -> None:
        for statement in ddl():
            await conn.execute(text(statement))

    async def reset(self, conn: AsyncConnection) -> None:
        return None  # it only deletes: a rebuild of the tables replays the deletions after them

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        project = envelope.data.get("project_id")
        if not project:
            return
        ids = text(f"SELECT workload_id FROM {SCHEMA}.workloads WHERE project_id = :p")
        for table in ("queries", "table_usage", "joins", "suggestions", "pipelines"):
            await conn.execute(text(f"DELETE FROM {SCHEMA}.{table} WHERE workload_id IN ({ids.text})"), {"p": project})
        await conn.execute(text(f"DELETE FROM {SCHEMA}.workloads WHERE project_id = :p"), {"p": project})


def all_projections() -> list[Projection]:
    """For `ombudsman replay workload`."""
    return [WorkloadProjection(), ProjectCleanup()]


# --- reads ----------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _row(row: Any) -> dict[str, Any]:
    out = {}
    for key, value in row._mapping.items():
        out[key] = value.isoformat() if hasattr(value, "isoformat") else _json(value) if key in (
            "totals", "query_ids", "tables", "features", "join_partners", "columns", "evidence", "body") else value
    return out


async def list_workloads(conn: AsyncConnection, project_id: str | None, limit: int, offset: int) -> dict[str, Any]:
    where = "WHERE project_id = :p" if project_id else ""
    params = {"p": project_id, "l": limit, "o": offset}
    total = (await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.workloads {where}"), params)).scalar_one()
    rows = await conn.execute(text(
        f"SELECT * FROM {SCHEMA}.workloads {where} ORDER BY uploaded_at DESC, workload_id LIMIT :l OFFSET :o"), params)
    return {"items": [_row(r) for r in rows], "total": total}


async def get_workload(conn: AsyncConnection, workload_id: str, top: int) -> dict[str, Any] | None:
    row = (await conn.execute(text(f"SELECT * FROM {SCHEMA}.workloads WHERE workload_id = :w"),
                              {"w": workload_id})).first()
    if row is None:
        return None
    result = _row(row)
    params = {"w": workload_id, "l": top}
    result["tables_used"] = [_row(r) for r in await conn.execute(text(
        f"SELECT table_name, in_catalog, queries, executions, join_partners, columns, evidence FROM {SCHEMA}.table_usage "
        "WHERE workload_id = :w ORDER BY executions DESC, table_name"), params)]
    result["joins"] = [_row(r) for r in await conn.execute(text(
        f"SELECT left_table, left_column, right_table, right_column, queries, executions, evidence FROM {SCHEMA}.joins "
        "WHERE workload_id = :w ORDER BY executions DESC, left_table, left_column, right_table, right_column"), params)]
    result["top_queries"] = [_row(r) for r in await conn.execute(text(
        f"SELECT fingerprint, text, queries, executions, total_duration, total_cpu_time, total_logical_reads, status, "
        f"error, kind, tables, features FROM {SCHEMA}.queries WHERE workload_id = :w "
        "ORDER BY total_duration DESC, fingerprint LIMIT :l"), params)]
    result["unparsed_queries"] = [_row(r) for r in await conn.execute(text(
        f"SELECT fingerprint, text, queries, executions, error FROM {SCHEMA}.queries WHERE workload_id = :w "
        "AND status = 'unparsed' ORDER BY executions DESC, fingerprint LIMIT :l"), params)]
    result["pipelines"] = [_row(r) for r in await conn.execute(text(
        f"SELECT pipeline_id, name, steps, saved, generated_at FROM {SCHEMA}.pipelines WHERE workload_id = :w "
        "ORDER BY generated_at, pipeline_id"), params)]
    return result


async def list_suggestions(conn: AsyncConnection, workload_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(text(
        f"SELECT body FROM {SCHEMA}.suggestions WHERE workload_id = :w ORDER BY position"), {"w": workload_id})
    return [_json(r.body) for r in rows]


async def project_join_pairs(conn: AsyncConnection, project_id: str) -> list[dict[str, Any]]:
    """Join pairs over every analysed workload of a project, executions summed (metadata's JoinPair shape)."""
    rows = await conn.execute(text(
        f"SELECT j.left_table, j.left_column, j.right_table, j.right_column, sum(j.executions) AS executions, "
        f"sum(j.queries) AS queries FROM {SCHEMA}.joins j JOIN {SCHEMA}.workloads w USING (workload_id) "
        "WHERE w.project_id = :p GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC, 1, 2, 3, 4"), {"p": project_id})
    return [{"left_table": r.left_table, "left_column": r.left_column, "right_table": r.right_table,
             "right_column": r.right_column, "executions": int(r.executions), "queries": int(r.queries)} for r in rows]

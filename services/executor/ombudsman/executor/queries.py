"""The executor's queries: read the projections (runs, steps, batches, schedules, discrepancies),
the private store (full results, differences) and render exports; return JSON-ready data."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from ombudsman.contracts.commands.executor import (
    BatchRef,
    DifferencesQuery,
    ExportQuery,
    Paging,
    RunRef,
    RunsQuery,
    StepRef,
)
from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.replies import Invalid, NotFound
from ombudsman.eventstore.db import read_connection
from ombudsman.eventstore.files import file_reply
from ombudsman.eventstore.rpc import REPLY_BUDGET
from ombudsman.eventstore.runtime import ServiceContext
from ombudsman.executor import comparison, domain, exports, private, reports
from ombudsman.executor.projections import SCHEMA
from ombudsman.executor.runs import Runs
from ombudsman.executor.settings import ExecutorSettings


def _row(record: Any) -> dict[str, Any]:
    out = dict(record._mapping)
    for key, value in out.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif key in ("result", "pipelines", "runs", "columns", "sample") and isinstance(value, str):
            out[key] = json.loads(value)
    return out



class Queries:
    """The read side of the executor's bus API (the handlers register these by name)."""

    def __init__(self, ctx: ServiceContext, settings: ExecutorSettings, runs: Runs) -> None:
        self.ctx = ctx
        self.settings = settings
        self.runs_writer = runs  # a report reads the run's pipeline from its stream

    async def _all(self, sql: str, **params: Any) -> list[Any]:
        async with read_connection(self.ctx.engine) as conn:
            return list((await conn.execute(text(sql), params)).all())

    async def _one(self, sql: str, **params: Any) -> Any:
        rows = await self._all(sql, **params)
        return rows[0] if rows else None

    async def runs(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        q = RunsQuery.model_validate(payload)
        where, args = ["true"], {}
        for column in ("project_id", "pipeline_id", "batch_id", "status"):
            value = getattr(q, column)
            if value is not None:
                args[column] = value
                where.append(f"{column} = :{column}")
        if q.since:
            args["since"] = q.since
            where.append("queued_at >= :since")
        if q.until:
            args["until"] = q.until
            where.append("queued_at < :until")
        clause = " AND ".join(where)
        # the page with the filter's total beside each row; only a page past the end counts apart
        rows = await self._all(f"SELECT *, count(*) OVER () AS total_matching FROM {SCHEMA}.runs WHERE {clause}"
                               f" ORDER BY queued_at DESC, run_id OFFSET {q.offset} LIMIT {q.limit}", **args)
        if rows:
            total = rows[0].total_matching
        elif q.offset:
            total = (await self._one(f"SELECT count(*) AS n FROM {SCHEMA}.runs WHERE {clause}", **args)).n
        else:
            total = 0
        items = [{k: v for k, v in _row(r).items() if k != "total_matching"} for r in rows]
        return {"items": items, "total": total, "offset": q.offset, "limit": q.limit}

    async def _run_row(self, run_id: str) -> dict[str, Any]:
        row = await self._one(f"SELECT * FROM {SCHEMA}.runs WHERE run_id=:r", r=run_id)
        if row is None:
            raise NotFound(f"run {run_id} not found", {"run_id": run_id})
        return _row(row)

    async def steps(self, payload: dict[str, Any], meta: Metadata) -> list[dict[str, Any]]:
        """A run's steps, sized for one bus message (see `run`)."""
        run_id = RunRef.model_validate(payload).run_id
        return domain.fit_steps(await self._steps(run_id, await self._run_row(run_id)), REPLY_BUDGET)

    async def _steps(self, run_id: str, run: dict[str, Any]) -> list[dict[str, Any]]:
        # each step with its full result (unmasked sample) while the private store keeps it: one statement
        rows = [_row(r) for r in await self._all(
            f"""SELECT s.*, p.result AS full_result FROM {SCHEMA}.steps s
                LEFT JOIN {SCHEMA}.step_samples p ON p.run_id = s.run_id AND p.step = s.step
                WHERE s.run_id=:r ORDER BY s.position""", r=run_id)]
        if run["archived"]:
            archive = await self._one(f"SELECT content FROM {SCHEMA}.archive WHERE run_id=:r", r=run_id)
            if archive is not None and archive.content:
                import gzip

                archived = json.loads(gzip.decompress(archive.content))
                for r in rows:
                    r["result"] = archived.get(r["step"])
        # the full results (unmasked samples) while the private store keeps them; else the event's copy
        for r in rows:
            full = r.pop("full_result")
            if full is not None:
                r["result"] = json.loads(full) if isinstance(full, str) else full
        return rows

    async def run(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """The run with its steps, sized for one bus message (the largest samples left out first:
        the `step` query has one step whole)."""
        run = await self._full_run(RunRef.model_validate(payload).run_id, meta)
        head = len(json.dumps({k: v for k, v in run.items() if k != "steps"}, default=str))
        run["steps"] = domain.fit_steps(run["steps"], REPLY_BUDGET - head)
        return run

    async def _full_run(self, run_id: str, meta: Metadata) -> dict[str, Any]:
        run = await self._run_row(run_id)
        run["snapshots"] = await self._snapshots(run_id)
        run["steps"] = await self._steps(run_id, run)
        return run

    async def _snapshots(self, run_id: str) -> dict[str, Any]:
        """How each connection of the run was pinned (its `RunSnapshotsPinned` event; {} before it or
        for a pipeline pinned per step)."""
        row = await self._one(f"SELECT data FROM {SCHEMA}.events WHERE stream_id=:r AND event_type='RunSnapshotsPinned' "
                              "ORDER BY version LIMIT 1", r=run_id)
        if row is None:
            return {}
        data = json.loads(row.data) if isinstance(row.data, str) else row.data
        return dict(data.get("snapshots") or {})

    async def step(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """One step of a run, its result whole (at most 256 KiB: results are bounded when recorded)."""
        body = StepRef.model_validate(payload)
        run = await self._run_row(body.run_id)
        found = [s for s in await self._steps(body.run_id, run) if s["step"] == body.step]
        if not found:
            raise NotFound(f"run {body.run_id} has no step {body.step!r}", {"run_id": body.run_id, "step": body.step})
        return found[0]

    async def differences(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """A page of every difference a step found (one line per differing column: kind, key,
        column, source_value, target_value, counts), while the private store keeps them."""
        q = DifferencesQuery.model_validate(payload)
        await self._run_row(q.run_id)
        if await self._one(f"SELECT 1 FROM {SCHEMA}.steps WHERE run_id=:r AND step=:s", r=q.run_id, s=q.step) is None:
            raise NotFound(f"run {q.run_id} has no step {q.step!r}", {"run_id": q.run_id, "step": q.step})
        async with self.ctx.engine.connect() as conn:
            items, total, columns = await private.differences_page(conn, q.run_id, q.step, q.offset, q.limit,
                                                                   q.kind, q.column)
        return {"items": items, "total": total, "offset": q.offset, "limit": q.limit, "columns": columns}

    async def history(self, payload: dict[str, Any], meta: Metadata) -> list[dict[str, Any]]:
        project_id, pipeline_id = payload.get("project_id"), payload.get("pipeline_id")
        if not pipeline_id and not payload.get("pipeline_name"):
            raise Invalid("pipeline_id: required (or pipeline_name for inline pipelines)", {"field": "pipeline_id"})
        if pipeline_id:
            rows = await self._all(
                f"SELECT * FROM {SCHEMA}.runs WHERE pipeline_id=:pl AND (CAST(:p AS text) IS NULL OR project_id=:p)"
                " ORDER BY queued_at DESC LIMIT 200", pl=pipeline_id, p=project_id)
        else:
            rows = await self._all(
                f"SELECT * FROM {SCHEMA}.runs WHERE pipeline_name=:n ORDER BY queued_at DESC LIMIT 200",
                n=payload["pipeline_name"])
        return [_row(r) for r in rows]

    async def trends(self, payload: dict[str, Any], meta: Metadata) -> list[dict[str, Any]]:
        """Per day: runs, passed/failed runs, average quality score, steps failed."""
        days = int(payload.get("days", 30))
        if days < 1 or days > 3650:
            raise Invalid("days: between 1 and 3650", {"field": "days"})
        rows = await self._all(
            "SELECT CAST(date_trunc('day', queued_at) AS date) AS day, count(*) AS runs,"
            " count(*) FILTER (WHERE status='completed') AS completed,"
            " count(*) FILTER (WHERE status='failed') AS failed,"
            " CAST(round(CAST(avg(score) AS numeric), 2) AS float) AS score, sum(failed_steps) AS failed_steps"
            f" FROM {SCHEMA}.runs WHERE queued_at >= now() - make_interval(days => :days)"
            " AND (CAST(:p AS text) IS NULL OR project_id=:p) GROUP BY 1 ORDER BY 1",
            days=days, p=payload.get("project_id"))
        return [{**dict(r._mapping), "day": r.day.isoformat()} for r in rows]

    async def table_scores(self, payload: dict[str, Any], meta: Metadata) -> list[dict[str, Any]]:
        """Data-quality score per table of a run (same scoring as the run's)."""
        run_id = RunRef.model_validate(payload).run_id
        await self._run_row(run_id)
        from ombudsman.executor.domain import quality_score

        rows = await self._all(f"SELECT table_name, status FROM {SCHEMA}.steps WHERE run_id=:r", r=run_id)
        by_table: dict[str, list[str]] = {}
        for r in rows:
            by_table.setdefault(r.table_name or "(none)", []).append(r.status or "skipped")
        return [{"table": t, "steps": len(s), "score": quality_score(s)} for t, s in sorted(by_table.items())]

    async def compare(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """A run against a baseline run as a CI gate (comparison.py): better, worse (new failing steps
        included), same, added, removed; runs of different pipelines refused unless `force`."""
        run_id = RunRef.model_validate(payload).run_id
        baseline_id = payload.get("baseline_run_id")
        if not baseline_id:
            raise Invalid("baseline_run_id: required", {"field": "baseline_run_id"})
        run, base = await self._run_row(run_id), await self._run_row(str(baseline_id))
        same_pipeline = comparison.check_same_pipeline(run, base, bool(payload.get("force")))
        step_statuses = f"SELECT step, status FROM {SCHEMA}.steps WHERE run_id=:r"
        now = {r.step: r.status for r in await self._all(step_statuses, r=run_id)}
        then = {r.step: r.status for r in await self._all(step_statuses, r=str(baseline_id))}
        delta = None if run["score"] is None or base["score"] is None else round(run["score"] - base["score"], 2)
        return {"run_id": run_id, "baseline_run_id": baseline_id, "pipeline": run.get("pipeline_name"),
                "baseline_pipeline": base.get("pipeline_name"), "same_pipeline": same_pipeline,
                "score": run["score"], "baseline_score": base["score"], "score_delta": delta,
                **comparison.compare_steps(now, then)}

    async def export(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        q = ExportQuery.model_validate(payload)
        run = await self._full_run(q.run_id, meta)
        context = await self._report_context(run, q.sample_rows) if q.format in ("pdf", "xlsx", "html") else None
        content, content_type, extension = await asyncio.to_thread(exports.render, run, q.format, context)
        return await file_reply(self.ctx.js, content, content_type=content_type,
                                filename=f"run-{q.run_id}.{extension}", replicas=self.settings.events_replicas)

    async def _report_context(self, run: dict[str, Any], sample_rows: int) -> reports.ReportContext:
        """What a report says beyond the run: its sides, who queued it, the pipeline's recent scores,
        the failing steps' differences (up to `sample_rows` each)."""
        from ombudsman.contracts.privacy import redact_url

        state = await self.runs_writer.load_run(run["run_id"])
        spec, source, target = state.spec, "", ""
        if spec.steps:
            def side(name: str) -> str:
                url = spec.connections[name].url if name in spec.connections else ""
                return f"{name} ({redact_url(url)})" if url and url != name else name

            source, target = side(spec.source_connection(spec.steps[0])), side(spec.target_connection(spec.steps[0]))
        queued = await self._one(f"SELECT metadata FROM {SCHEMA}.events WHERE stream_id=:r AND version=1", r=run["run_id"])
        metadata = (json.loads(queued.metadata) if isinstance(queued.metadata, str) else queued.metadata) if queued else {}
        actor = (metadata or {}).get("actor") or {}
        same = "pipeline_id=:pl" if run.get("pipeline_id") else "pipeline_name=:n AND pipeline_id IS NULL"
        trend = [_row(r) for r in reversed(await self._all(
            f"SELECT run_id, queued_at, score, status FROM {SCHEMA}.runs WHERE {same}"
            " AND project_id IS NOT DISTINCT FROM :p AND queued_at <= :at ORDER BY queued_at DESC LIMIT 30",
            pl=run.get("pipeline_id"), n=run.get("pipeline_name"), p=run.get("project_id"),
            at=datetime.fromisoformat(run["queued_at"])))]
        context = reports.ReportContext(project=run.get("project_id"), source=source, target=target,
                                        requested_by=str(actor.get("name") or actor.get("id") or ""), trend=trend,
                                        sample_rows=sample_rows)
        async with self.ctx.engine.connect() as conn:
            for step in run["steps"]:
                if step.get("status") in reports.FAILING:
                    lines, total, _ = await private.differences_page(conn, run["run_id"], step["step"], 0,
                                                                     sample_rows)
                    if lines:
                        context.differences[step["step"]], context.differences_total[step["step"]] = lines, total
        return context

    async def batch(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        batch_id = BatchRef.model_validate(payload).batch_id
        row = await self._one(f"SELECT * FROM {SCHEMA}.batches WHERE batch_id=:b AND NOT deleted", b=batch_id)
        if row is None:
            raise NotFound(f"batch {batch_id} not found", {"batch_id": batch_id})
        out = _row(row)
        for item in out["pipelines"]:
            item.pop("pipeline_yaml", None)  # may hold connection URLs
        out["progress"] = {"total": out["total"], "completed": out["completed"], "failed": out["failed"],
                           "running": out["running"]}
        return out

    async def batches(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        q = Paging.model_validate(payload)
        total = (await self._one(f"SELECT count(*) AS n FROM {SCHEMA}.batches WHERE NOT deleted")).n
        rows = await self._all(
            "SELECT batch_id, name, status, total, completed, failed, running, max_parallel, created_at,"
            f" started_at, finished_at FROM {SCHEMA}.batches WHERE NOT deleted ORDER BY created_at DESC"
            " OFFSET :offset LIMIT :limit", offset=q.offset, limit=q.limit)
        return {"items": [_row(r) for r in rows], "total": total, "offset": q.offset, "limit": q.limit}

    async def discrepancies(self, payload: dict[str, Any], meta: Metadata) -> list[dict[str, Any]]:
        rows = await self._all(
            f"SELECT d.*, d.recorded_at AS first_seen_at, coalesce(d.last_seen_at, d.recorded_at) AS last_seen"
            f" FROM {SCHEMA}.discrepancies d WHERE (CAST(:p AS text) IS NULL OR project_id=:p)"
            f" AND (CAST(:r AS text) IS NULL OR d.run_id=:r OR EXISTS (SELECT 1 FROM {SCHEMA}.discrepancy_occurrences o"
            "  WHERE o.discrepancy_id=d.discrepancy_id AND o.run_id=:r))"
            " AND (CAST(:s AS text) IS NULL OR status=:s) AND (CAST(:d AS text) IS NULL OR d.discrepancy_id=:d)"
            " ORDER BY last_seen DESC, d.discrepancy_id LIMIT 1000",
            p=payload.get("project_id"), r=payload.get("run_id"), s=payload.get("status"),
            d=payload.get("discrepancy_id"))
        return [_row(r) for r in rows]

    async def schedules(self, payload: dict[str, Any], meta: Metadata) -> list[dict[str, Any]]:
        rows = await self._all(
            f"SELECT * FROM {SCHEMA}.schedules WHERE NOT deleted AND (CAST(:p AS text) IS NULL OR project_id=:p)"
            " AND (CAST(:b AS text) IS NULL OR batch_id=:b) AND (CAST(:s AS text) IS NULL OR schedule_id=:s)"
            " ORDER BY created_at",
            p=payload.get("project_id"), b=payload.get("batch_id"), s=payload.get("schedule_id"))
        now = datetime.now(UTC)
        return [{**_row(r), "next_runs": [t.isoformat() for t in domain.upcoming(
            r.cron, max(now, r.last_instant) if r.last_instant else now)]} for r in rows]

"""Read models of the executor, fed synchronously from its own events in the append transaction.

- `run_results`: `runs`, `steps` and `archive` (gzip step results of archived runs);
- `batches`: batch progress;
- `discrepancies`: one row per finding (occurrences in `discrepancy_occurrences`) and the
  `accepted_differences` they lead to;
- `schedules`: cron schedules and what they fired.

Each is a libs/eventstore `Projection`, so `ombudsman replay executor [name]` drops and rebuilds it
from `executor.events` alone with the same rows (times come from the envelopes).
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.registry import decode
from ombudsman.eventstore.projections import Projection, rebuild
from ombudsman.executor.domain import parse_spec, quality_score

SCHEMA = "executor"


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


def _loaded(value: Any) -> Any:
    """A jsonb value as Python data (drivers hand it back decoded or as text)."""
    return json.loads(value) if isinstance(value, str) else value


async def _run(conn: AsyncConnection, sql: str, params: dict[str, Any] | list[dict[str, Any]] | None = None) -> Any:
    return await conn.execute(text(sql), params or {})


class RunResults(Projection):
    """Runs with their totals and score, their steps, and the archive of old results."""

    name = "run_results"
    event_types = frozenset({"RunQueued", "RunStarted", "StepDispatched", "StepStarted", "StepCompleted",
                             "StepSkipped", "RunCompleted", "RunCancelled", "ResultsArchived"})

    async def setup(self, conn: AsyncConnection) -> None:
        await _run(conn, f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.runs (
            run_id text PRIMARY KEY, project_id text, pipeline_id text, pipeline_name text NOT NULL DEFAULT '',
            batch_id text, retry_of text, status text NOT NULL, total_steps integer NOT NULL DEFAULT 0,
            successful_steps integer NOT NULL DEFAULT 0, failed_steps integer NOT NULL DEFAULT 0,
            warnings integer NOT NULL DEFAULT 0, skipped_steps integer NOT NULL DEFAULT 0,
            score double precision, duration_seconds double precision, queued_at timestamptz NOT NULL,
            started_at timestamptz, finished_at timestamptz, archived boolean NOT NULL DEFAULT false)""")
        await _run(conn, f"CREATE INDEX IF NOT EXISTS runs_filter ON {SCHEMA}.runs "
                         "(project_id, pipeline_id, status, queued_at DESC)")
        await _run(conn, f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.steps (
            run_id text NOT NULL, step text NOT NULL, position integer NOT NULL,
            validator text NOT NULL DEFAULT '', table_name text, state text NOT NULL DEFAULT 'pending',
            status text, attempts integer NOT NULL DEFAULT 0, worker text, message text NOT NULL DEFAULT '',
            severity text, duration_seconds double precision, result jsonb, started_at timestamptz,
            finished_at timestamptz, PRIMARY KEY (run_id, step))""")
        await _run(conn, f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.archive (
            run_id text PRIMARY KEY, archived_at timestamptz NOT NULL, content bytea NOT NULL)""")

    async def reset(self, conn: AsyncConnection) -> None:
        for table in ("archive", "steps", "runs"):
            await _run(conn, f"DELETE FROM {SCHEMA}.{table}")

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        data = decode(envelope)
        at = envelope.occurred_at
        if isinstance(data, ev.RunQueued):
            await _run(conn, f"""INSERT INTO {SCHEMA}.runs (run_id, project_id, pipeline_id, pipeline_name, batch_id,
                    retry_of, status, total_steps, queued_at)
                VALUES (:r, :p, :pl, :n, :b, :retry, 'queued', :total, :at) ON CONFLICT (run_id) DO NOTHING""",
                {"r": data.run_id, "p": data.project_id, "pl": data.pipeline_id, "n": data.pipeline_name,
                 "b": data.batch_id, "retry": data.retry_of, "total": len(data.steps), "at": at})
            spec = parse_spec(data.pipeline_yaml) if data.pipeline_yaml else None
            rows = []
            for position, step_id in enumerate(data.steps):
                step = spec.step(step_id) if spec else None
                table = str(step.source_table) if step and step.source_table else None
                rows.append({"r": data.run_id, "s": step_id, "pos": position,
                             "v": step.validator if step else "", "t": table})
            if rows:
                await _run(conn, f"INSERT INTO {SCHEMA}.steps (run_id, step, position, validator, table_name) "
                                 "VALUES (:r, :s, :pos, :v, :t) ON CONFLICT DO NOTHING", rows)
        elif isinstance(data, ev.RunStarted):
            await _run(conn, f"UPDATE {SCHEMA}.runs SET status='running', started_at=:at WHERE run_id=:r",
                       {"r": data.run_id, "at": at})
        elif isinstance(data, ev.StepDispatched):
            await _run(conn, f"UPDATE {SCHEMA}.steps SET state='dispatched' "
                             "WHERE run_id=:r AND step=:s AND state='pending'", {"r": data.run_id, "s": data.step})
        elif isinstance(data, ev.StepStarted):
            await _run(conn, f"""UPDATE {SCHEMA}.steps SET state=CASE WHEN status IS NULL THEN 'running' ELSE state END,
                    attempts=greatest(attempts, :a), worker=:w, started_at=coalesce(started_at, :at)
                WHERE run_id=:r AND step=:s""",
                {"r": data.run_id, "s": data.step, "a": data.attempt, "w": data.worker, "at": at})
        elif isinstance(data, ev.StepCompleted):
            await _run(conn, f"""UPDATE {SCHEMA}.steps SET state='done', status=:st, message=:m, severity=:sev,
                    duration_seconds=:d, result=CAST(:res AS jsonb), finished_at=:at
                WHERE run_id=:r AND step=:s AND status IS NULL""",
                {"r": data.run_id, "s": data.step, "st": data.status, "m": str(data.result.get("message", "")),
                 "sev": data.result.get("severity"), "d": data.result.get("duration_seconds"),
                 "res": _json(data.result), "at": at})
        elif isinstance(data, ev.StepSkipped):
            await _run(conn, f"""UPDATE {SCHEMA}.steps SET state='done', status='skipped', message=:m, finished_at=:at
                WHERE run_id=:r AND step=:s AND status IS NULL""",
                {"r": data.run_id, "s": data.step, "m": data.reason, "at": at})
        elif isinstance(data, ev.RunCompleted):
            statuses = list((await _run(conn, f"SELECT status FROM {SCHEMA}.steps WHERE run_id=:r",
                                        {"r": data.run_id})).scalars())
            await _run(conn, f"""UPDATE {SCHEMA}.runs SET status=:st, total_steps=:total, successful_steps=:ok,
                    failed_steps=:failed, warnings=:warn, skipped_steps=:skipped, duration_seconds=:d,
                    finished_at=:at, score=:score WHERE run_id=:r""",
                {"r": data.run_id, "st": data.status, "total": data.total_steps, "ok": data.successful_steps,
                 "failed": data.failed_steps, "warn": data.warnings,
                 "skipped": sum(1 for s in statuses if s == "skipped"), "d": data.duration_seconds, "at": at,
                 "score": quality_score(statuses)})
        elif isinstance(data, ev.RunCancelled):
            await _run(conn, f"UPDATE {SCHEMA}.runs SET status='cancelled', finished_at=:at WHERE run_id=:r",
                       {"r": data.run_id, "at": at})
        elif isinstance(data, ev.ResultsArchived):
            rows = (await _run(conn, f"SELECT step, result FROM {SCHEMA}.steps "
                                     "WHERE run_id=:r AND result IS NOT NULL ORDER BY position",
                               {"r": data.run_id})).all()
            if rows:
                content = gzip.compress(json.dumps({r.step: _loaded(r.result) for r in rows}).encode())
                await _run(conn, f"""INSERT INTO {SCHEMA}.archive (run_id, archived_at, content) VALUES (:r, :at, :c)
                        ON CONFLICT (run_id) DO UPDATE SET content=excluded.content""",
                           {"r": data.run_id, "at": at, "c": content})
                await _run(conn, f"UPDATE {SCHEMA}.steps SET result=NULL WHERE run_id=:r", {"r": data.run_id})
            await _run(conn, f"UPDATE {SCHEMA}.runs SET archived=true WHERE run_id=:r", {"r": data.run_id})


class Batches(Projection):
    """Batches and their progress (total / completed / failed / running)."""

    name = "batches"
    event_types = frozenset({"BatchCreated", "BatchStarted", "BatchPipelineStarted", "BatchPipelineFinished",
                             "BatchCompleted", "BatchCancelled", "BatchRetried", "BatchDeleted"})

    async def setup(self, conn: AsyncConnection) -> None:
        await _run(conn, f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.batches (
            batch_id text PRIMARY KEY, name text NOT NULL, status text NOT NULL, pipelines jsonb NOT NULL,
            max_parallel integer NOT NULL, continue_on_error boolean NOT NULL, total integer NOT NULL,
            completed integer NOT NULL DEFAULT 0, failed integer NOT NULL DEFAULT 0,
            running integer NOT NULL DEFAULT 0, runs jsonb NOT NULL DEFAULT '{{}}',
            attempt integer NOT NULL DEFAULT 0, created_at timestamptz NOT NULL, started_at timestamptz,
            finished_at timestamptz, deleted boolean NOT NULL DEFAULT false)""")

    async def reset(self, conn: AsyncConnection) -> None:
        await _run(conn, f"DELETE FROM {SCHEMA}.batches")

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        data = decode(envelope)
        at = envelope.occurred_at
        if isinstance(data, ev.BatchCreated):
            await _run(conn, f"""INSERT INTO {SCHEMA}.batches (batch_id, name, status, pipelines, max_parallel,
                    continue_on_error, total, created_at)
                VALUES (:b, :n, 'created', CAST(:p AS jsonb), :mp, :coe, :total, :at) ON CONFLICT DO NOTHING""",
                {"b": data.batch_id, "n": data.name, "p": _json(data.pipelines), "mp": data.max_parallel,
                 "coe": data.continue_on_error, "total": len(data.pipelines), "at": at})
        elif isinstance(data, ev.BatchStarted):
            await _run(conn, f"""UPDATE {SCHEMA}.batches SET status='running', started_at=:at, completed=0, failed=0,
                    running=0, runs='{{}}'::jsonb, finished_at=NULL WHERE batch_id=:b""",
                       {"b": data.batch_id, "at": at})
        elif isinstance(data, ev.BatchPipelineStarted):
            await _run(conn, f"""UPDATE {SCHEMA}.batches SET running=running+1,
                    runs=runs || jsonb_build_object(CAST(:i AS text), CAST(:r AS text)) WHERE batch_id=:b""",
                       {"b": data.batch_id, "i": str(data.index), "r": data.run_id})
        elif isinstance(data, ev.BatchPipelineFinished):
            ok = data.status == "completed"
            await _run(conn, f"""UPDATE {SCHEMA}.batches SET running=greatest(running-1, 0), completed=completed+:ok,
                    failed=failed+:bad WHERE batch_id=:b""", {"b": data.batch_id, "ok": int(ok), "bad": int(not ok)})
        elif isinstance(data, ev.BatchCompleted):
            await _run(conn, f"""UPDATE {SCHEMA}.batches SET status=:st, completed=:c, failed=:f, finished_at=:at
                WHERE batch_id=:b""",
                       {"b": data.batch_id, "st": data.status, "c": data.completed, "f": data.failed, "at": at})
        elif isinstance(data, ev.BatchCancelled):
            await _run(conn, f"UPDATE {SCHEMA}.batches SET status='cancelled', finished_at=:at WHERE batch_id=:b",
                       {"b": data.batch_id, "at": at})
        elif isinstance(data, ev.BatchRetried):
            await _run(conn, f"""UPDATE {SCHEMA}.batches SET status='running', attempt=:a,
                    failed=greatest(failed-:n, 0), finished_at=NULL WHERE batch_id=:b""",
                       {"b": data.batch_id, "a": data.attempt, "n": len(data.steps)})
        elif isinstance(data, ev.BatchDeleted):
            await _run(conn, f"UPDATE {SCHEMA}.batches SET deleted=true, status='deleted' WHERE batch_id=:b",
                       {"b": data.batch_id})


class Discrepancies(Projection):
    """One row per finding with its occurrences (first/last seen, by which runs) and decisions, and
    the accepted differences (by fingerprint of the accepted figures)."""

    name = "discrepancies"
    event_types = frozenset({"DiscrepancyRecorded", "DiscrepancyOccurred", "DiscrepancyReopened",
                             "DiscrepancyResolved", "DiscrepancyAccepted"})

    async def setup(self, conn: AsyncConnection) -> None:
        await _run(conn, f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.discrepancies (
            discrepancy_id text PRIMARY KEY, run_id text NOT NULL, step text NOT NULL, project_id text,
            pipeline text NOT NULL DEFAULT '', type text NOT NULL, severity text NOT NULL, table_name text,
            columns jsonb NOT NULL DEFAULT '[]', message text NOT NULL DEFAULT '',
            sample jsonb NOT NULL DEFAULT '[]', fingerprint text NOT NULL, status text NOT NULL DEFAULT 'open',
            note text NOT NULL DEFAULT '', decided_by text, decided_at timestamptz,
            recorded_at timestamptz NOT NULL)""")
        # identity across runs (tables made before it get the columns added)
        for column in ("finding text", "scope text NOT NULL DEFAULT ''", "occurrences integer NOT NULL DEFAULT 1",
                       "last_run_id text", "last_seen_at timestamptz", "resolved_by_run text"):
            await _run(conn, f"ALTER TABLE {SCHEMA}.discrepancies ADD COLUMN IF NOT EXISTS {column}")
        await _run(conn, f"CREATE INDEX IF NOT EXISTS discrepancies_run ON {SCHEMA}.discrepancies (run_id)")
        await _run(conn, f"CREATE INDEX IF NOT EXISTS discrepancies_step ON {SCHEMA}.discrepancies "
                         "(scope, pipeline, step, status)")
        await _run(conn, f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.discrepancy_occurrences (
            discrepancy_id text NOT NULL, run_id text NOT NULL, step text NOT NULL, fingerprint text NOT NULL,
            seen_at timestamptz NOT NULL, PRIMARY KEY (discrepancy_id, run_id, step))""")
        await _run(conn, f"CREATE INDEX IF NOT EXISTS discrepancy_occurrences_run ON "
                         f"{SCHEMA}.discrepancy_occurrences (run_id)")
        await _run(conn, f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.accepted_differences (
            fingerprint text PRIMARY KEY, discrepancy_id text NOT NULL, note text NOT NULL DEFAULT '',
            accepted_by text, accepted_at timestamptz NOT NULL)""")

    async def reset(self, conn: AsyncConnection) -> None:
        for table in ("accepted_differences", "discrepancy_occurrences", "discrepancies"):
            await _run(conn, f"DELETE FROM {SCHEMA}.{table}")

    async def _occurred(self, conn: AsyncConnection, discrepancy_id: str, run_id: str, step: str, fp: str,
                        at: datetime) -> None:
        await _run(conn, f"""INSERT INTO {SCHEMA}.discrepancy_occurrences (discrepancy_id, run_id, step, fingerprint,
                seen_at) VALUES (:d, :r, :s, :fp, :at) ON CONFLICT DO NOTHING""",
                   {"d": discrepancy_id, "r": run_id, "s": step, "fp": fp, "at": at})

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        data = decode(envelope)
        at = envelope.occurred_at
        if isinstance(data, ev.DiscrepancyRecorded):
            await _run(conn, f"""INSERT INTO {SCHEMA}.discrepancies (discrepancy_id, run_id, step, project_id, pipeline,
                    type, severity, table_name, columns, message, sample, fingerprint, recorded_at, finding, scope,
                    occurrences, last_run_id, last_seen_at)
                VALUES (:d, :r, :s, :p, :pl, :ty, :sev, :t, CAST(:cols AS jsonb), :m, CAST(:sample AS jsonb),
                        :fp, :at, :f, :sc, 1, :r, :at) ON CONFLICT DO NOTHING""",
                {"d": data.discrepancy_id, "r": data.run_id, "s": data.step, "p": data.project_id,
                 "pl": data.pipeline, "ty": data.type, "sev": data.severity, "t": data.table,
                 "cols": _json(data.columns), "m": data.message, "sample": _json(data.sample),
                 "fp": data.fingerprint, "at": at, "f": data.finding, "sc": data.scope})
            await self._occurred(conn, data.discrepancy_id, data.run_id, data.step, data.fingerprint, at)
        elif isinstance(data, ev.DiscrepancyOccurred):
            await _run(conn, f"""UPDATE {SCHEMA}.discrepancies SET occurrences=occurrences+1, last_run_id=:r,
                    last_seen_at=:at, step=:s, message=:m, sample=CAST(:sample AS jsonb), fingerprint=:fp
                WHERE discrepancy_id=:d""",
                       {"d": data.discrepancy_id, "r": data.run_id, "s": data.step, "m": data.message,
                        "sample": _json(data.sample), "fp": data.fingerprint, "at": at})
            await self._occurred(conn, data.discrepancy_id, data.run_id, data.step, data.fingerprint, at)
        elif isinstance(data, ev.DiscrepancyReopened):
            why = "its figures changed" if data.reason == "changed" else "it was found again"
            await _run(conn, f"""UPDATE {SCHEMA}.discrepancies SET status='open', resolved_by_run=NULL,
                    note=:n, decided_by=:by, decided_at=:at WHERE discrepancy_id=:d""",
                       {"d": data.discrepancy_id, "n": f"reopened by run {data.run_id}: {why}",
                        "by": envelope.actor.name, "at": at})
            await _run(conn, f"DELETE FROM {SCHEMA}.accepted_differences WHERE discrepancy_id=:d",
                       {"d": data.discrepancy_id})
        elif isinstance(data, ev.DiscrepancyResolved | ev.DiscrepancyAccepted):
            status = "resolved" if isinstance(data, ev.DiscrepancyResolved) else "accepted"
            by_run = data.run_id if isinstance(data, ev.DiscrepancyResolved) else None
            await _run(conn, f"""UPDATE {SCHEMA}.discrepancies SET status=:st, note=:n, decided_by=:by, decided_at=:at,
                    resolved_by_run=:rr WHERE discrepancy_id=:d""",
                       {"d": data.discrepancy_id, "st": status, "n": data.note, "by": envelope.actor.name, "at": at,
                        "rr": by_run})
            if isinstance(data, ev.DiscrepancyAccepted):
                await _run(conn, f"""INSERT INTO {SCHEMA}.accepted_differences (fingerprint, discrepancy_id, note,
                        accepted_by, accepted_at) VALUES (:fp, :d, :n, :by, :at) ON CONFLICT (fingerprint) DO NOTHING""",
                           {"fp": data.fingerprint, "d": data.discrepancy_id, "n": data.note,
                            "by": envelope.actor.name, "at": at})
            else:
                await _run(conn, f"DELETE FROM {SCHEMA}.accepted_differences WHERE discrepancy_id=:d",
                           {"d": data.discrepancy_id})


class Schedules(Projection):
    """Cron schedules, how often they fired and their last instant."""

    name = "schedules"
    event_types = frozenset({"ScheduleCreated", "ScheduleFired", "ScheduleDeleted"})

    async def setup(self, conn: AsyncConnection) -> None:
        await _run(conn, f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.schedules (
            schedule_id text PRIMARY KEY, cron text NOT NULL, project_id text, pipeline_id text, batch_id text,
            last_instant timestamptz, fired integer NOT NULL DEFAULT 0, created_at timestamptz NOT NULL,
            deleted boolean NOT NULL DEFAULT false)""")

    async def reset(self, conn: AsyncConnection) -> None:
        await _run(conn, f"DELETE FROM {SCHEMA}.schedules")

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        data = decode(envelope)
        if isinstance(data, ev.ScheduleCreated):
            await _run(conn, f"""INSERT INTO {SCHEMA}.schedules (schedule_id, cron, project_id, pipeline_id, batch_id,
                    created_at) VALUES (:s, :c, :p, :pl, :b, :at) ON CONFLICT DO NOTHING""",
                       {"s": data.schedule_id, "c": data.cron, "p": data.project_id, "pl": data.pipeline_id,
                        "b": data.batch_id, "at": envelope.occurred_at})
        elif isinstance(data, ev.ScheduleFired):
            await _run(conn, f"""UPDATE {SCHEMA}.schedules SET fired=fired+1,
                    last_instant=greatest(last_instant, :i) WHERE schedule_id=:s""",
                       {"s": data.schedule_id, "i": datetime.fromisoformat(data.instant)})
        elif isinstance(data, ev.ScheduleDeleted):
            await _run(conn, f"UPDATE {SCHEMA}.schedules SET deleted=true WHERE schedule_id=:s",
                       {"s": data.schedule_id})


def all_projections() -> list[Projection]:
    """The executor's read models (entry point `ombudsman.projections: executor`)."""
    from ombudsman.executor.file_loads import FileLoads

    return [RunResults(), Batches(), Discrepancies(), Schedules(), FileLoads()]


async def rebuild_all(engine: AsyncEngine) -> int:
    """Drop every read model's rows and replay the executor's events into them; events applied."""
    return sum([await rebuild(engine, SCHEMA, projection) for projection in all_projections()])

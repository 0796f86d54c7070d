"""Read models of the executor (runs, steps, batches, discrepancies, accepted differences,
schedules), written in the same transaction as the events; `rebuild` replays them from events."""

from __future__ import annotations

import gzip
import json
from datetime import datetime

import asyncpg

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.registry import UnknownEventType, decode
from ombudsman.executor.domain import parse_spec, quality_score

TABLES = ["runs", "steps", "batches", "discrepancies", "accepted_differences", "schedules", "archive"]


async def apply(conn: asyncpg.Connection, env: EventEnvelope) -> None:
    """Apply one event to the read models."""
    try:
        data = decode(env)
    except UnknownEventType:
        return
    at = env.occurred_at
    if isinstance(data, ev.RunQueued):
        await conn.execute(
            "INSERT INTO executor.runs (run_id, project_id, pipeline_id, pipeline_name, batch_id, retry_of, status,"
            " total_steps, queued_at) VALUES ($1,$2,$3,$4,$5,$6,'queued',$7,$8) ON CONFLICT (run_id) DO NOTHING",
            data.run_id, data.project_id, data.pipeline_id, data.pipeline_name, data.batch_id, data.retry_of,
            len(data.steps), at,
        )
        spec = parse_spec(data.pipeline_yaml) if data.pipeline_yaml else None
        rows = []
        for position, step_id in enumerate(data.steps):
            step = spec.step(step_id) if spec else None
            table = str(step.source_table) if step and step.source_table else None
            rows.append((data.run_id, step_id, position, step.validator if step else "", table))
        await conn.executemany(
            "INSERT INTO executor.steps (run_id, step, position, validator, table_name) VALUES ($1,$2,$3,$4,$5)"
            " ON CONFLICT DO NOTHING", rows,
        )
    elif isinstance(data, ev.RunStarted):
        await conn.execute("UPDATE executor.runs SET status='running', started_at=$2 WHERE run_id=$1", data.run_id, at)
    elif isinstance(data, ev.StepDispatched):
        await conn.execute(
            "UPDATE executor.steps SET state='dispatched' WHERE run_id=$1 AND step=$2 AND state='pending'",
            data.run_id, data.step,
        )
    elif isinstance(data, ev.StepStarted):
        await conn.execute(
            "UPDATE executor.steps SET state=CASE WHEN status IS NULL THEN 'running' ELSE state END,"
            " attempts=greatest(attempts,$3), worker=$4, started_at=coalesce(started_at,$5)"
            " WHERE run_id=$1 AND step=$2", data.run_id, data.step, data.attempt, data.worker, at,
        )
    elif isinstance(data, ev.StepCompleted):
        await conn.execute(
            "UPDATE executor.steps SET state='done', status=$3, message=$4, severity=$5, duration_seconds=$6,"
            " result=$7::jsonb, finished_at=$8 WHERE run_id=$1 AND step=$2 AND status IS NULL",
            data.run_id, data.step, data.status, str(data.result.get("message", "")), data.result.get("severity"),
            data.result.get("duration_seconds"), json.dumps(data.result, default=str), at,
        )
    elif isinstance(data, ev.StepSkipped):
        await conn.execute(
            "UPDATE executor.steps SET state='done', status='skipped', message=$3, finished_at=$4"
            " WHERE run_id=$1 AND step=$2 AND status IS NULL", data.run_id, data.step, data.reason, at,
        )
    elif isinstance(data, ev.RunCompleted):
        statuses = [r["status"] for r in await conn.fetch(
            "SELECT status FROM executor.steps WHERE run_id=$1", data.run_id)]
        await conn.execute(
            "UPDATE executor.runs SET status=$2, total_steps=$3, successful_steps=$4, failed_steps=$5, warnings=$6,"
            " skipped_steps=$7, duration_seconds=$8, finished_at=$9, score=$10 WHERE run_id=$1",
            data.run_id, data.status, data.total_steps, data.successful_steps, data.failed_steps, data.warnings,
            sum(1 for s in statuses if s == "skipped"), data.duration_seconds, at, quality_score(statuses),
        )
    elif isinstance(data, ev.RunCancelled):
        await conn.execute(
            "UPDATE executor.runs SET status='cancelled', finished_at=$2 WHERE run_id=$1", data.run_id, at
        )
    elif isinstance(data, ev.ResultsArchived):
        rows = await conn.fetch(
            "SELECT step, result FROM executor.steps WHERE run_id=$1 AND result IS NOT NULL ORDER BY position",
            data.run_id,
        )
        if rows:
            content = gzip.compress(json.dumps({r["step"]: json.loads(r["result"]) for r in rows}).encode())
            await conn.execute(
                "INSERT INTO executor.archive (run_id, archived_at, content) VALUES ($1,$2,$3)"
                " ON CONFLICT (run_id) DO UPDATE SET content=excluded.content", data.run_id, at, content,
            )
            await conn.execute("UPDATE executor.steps SET result=NULL WHERE run_id=$1", data.run_id)
        await conn.execute("UPDATE executor.runs SET archived=true WHERE run_id=$1", data.run_id)
    elif isinstance(data, ev.BatchCreated):
        await conn.execute(
            "INSERT INTO executor.batches (batch_id, name, status, pipelines, max_parallel, continue_on_error, total,"
            " created_at) VALUES ($1,$2,'created',$3::jsonb,$4,$5,$6,$7) ON CONFLICT DO NOTHING",
            data.batch_id, data.name, json.dumps(data.pipelines), data.max_parallel, data.continue_on_error,
            len(data.pipelines), at,
        )
    elif isinstance(data, ev.BatchStarted):
        await conn.execute(
            "UPDATE executor.batches SET status='running', started_at=$2, completed=0, failed=0, running=0,"
            " runs='{}'::jsonb, finished_at=NULL WHERE batch_id=$1", data.batch_id, at,
        )
    elif isinstance(data, ev.BatchPipelineStarted):
        await conn.execute(
            "UPDATE executor.batches SET running=running+1, runs=runs || jsonb_build_object($2::text, $3::text)"
            " WHERE batch_id=$1", data.batch_id, str(data.index), data.run_id,
        )
    elif isinstance(data, ev.BatchPipelineFinished):
        ok = data.status == "completed"
        await conn.execute(
            "UPDATE executor.batches SET running=greatest(running-1,0), completed=completed+$2, failed=failed+$3"
            " WHERE batch_id=$1", data.batch_id, int(ok), int(not ok),
        )
    elif isinstance(data, ev.BatchCompleted):
        await conn.execute(
            "UPDATE executor.batches SET status=$2, completed=$3, failed=$4, finished_at=$5 WHERE batch_id=$1",
            data.batch_id, data.status, data.completed, data.failed, at,
        )
    elif isinstance(data, ev.BatchCancelled):
        await conn.execute(
            "UPDATE executor.batches SET status='cancelled', finished_at=$2 WHERE batch_id=$1", data.batch_id, at
        )
    elif isinstance(data, ev.BatchRetried):
        await conn.execute(
            "UPDATE executor.batches SET status='running', attempt=$2, failed=greatest(failed-$3,0), finished_at=NULL"
            " WHERE batch_id=$1", data.batch_id, data.attempt, len(data.steps),
        )
    elif isinstance(data, ev.BatchDeleted):
        await conn.execute("UPDATE executor.batches SET deleted=true, status='deleted' WHERE batch_id=$1", data.batch_id)
    elif isinstance(data, ev.DiscrepancyRecorded):
        await conn.execute(
            "INSERT INTO executor.discrepancies (discrepancy_id, run_id, step, project_id, pipeline, type, severity,"
            " table_name, columns, message, sample, fingerprint, recorded_at)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9::jsonb,$10,$11::jsonb,$12,$13) ON CONFLICT DO NOTHING",
            data.discrepancy_id, data.run_id, data.step, data.project_id, data.pipeline, data.type, data.severity,
            data.table, json.dumps(data.columns), data.message, json.dumps(data.sample, default=str),
            data.fingerprint, at,
        )
    elif isinstance(data, ev.DiscrepancyResolved | ev.DiscrepancyAccepted):
        status = "resolved" if isinstance(data, ev.DiscrepancyResolved) else "accepted"
        await conn.execute(
            "UPDATE executor.discrepancies SET status=$2, note=$3, decided_by=$4, decided_at=$5"
            " WHERE discrepancy_id=$1", data.discrepancy_id, status, data.note, env.actor.name, at,
        )
        if isinstance(data, ev.DiscrepancyAccepted):
            await conn.execute(
                "INSERT INTO executor.accepted_differences (fingerprint, discrepancy_id, note, accepted_by,"
                " accepted_at) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (fingerprint) DO NOTHING",
                data.fingerprint, data.discrepancy_id, data.note, env.actor.name, at,
            )
    elif isinstance(data, ev.ScheduleCreated):
        await conn.execute(
            "INSERT INTO executor.schedules (schedule_id, cron, project_id, pipeline_id, batch_id, created_at)"
            " VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING",
            data.schedule_id, data.cron, data.project_id, data.pipeline_id, data.batch_id, at,
        )
    elif isinstance(data, ev.ScheduleFired):
        await conn.execute(
            "UPDATE executor.schedules SET fired=fired+1, last_instant=greatest(last_instant, $2::timestamptz)"
            " WHERE schedule_id=$1", data.schedule_id, _ts(data.instant),
        )
    elif isinstance(data, ev.ScheduleDeleted):
        await conn.execute("UPDATE executor.schedules SET deleted=true WHERE schedule_id=$1", data.schedule_id)


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def rebuild(pool: asyncpg.Pool) -> int:
    """Drop every read model's rows and replay all events into them; returns the events applied."""
    from ombudsman.executor.store import _row_to_envelope

    count = 0
    async with pool.acquire() as conn, conn.transaction():
        for table in TABLES:
            await conn.execute(f"TRUNCATE executor.{table}")
        async for row in conn.cursor("SELECT * FROM executor.events ORDER BY global_position"):
            await apply(conn, _row_to_envelope(row))
            count += 1
    return count

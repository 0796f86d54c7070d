"""Automate jobs: the read model of their events, and the background tasks that run them.

`automate` answers at once with a job id; the job runs in the metadata service's process and
records `AutomateStarted`, one `AutomatePhaseCompleted` per phase, then `AutomateCompleted` or
`AutomateFailed` on its own stream (`omb.evt.automate.<job_id>.…`).

One job at a time per project: the projection `metadata.automate_jobs` has a unique index on the
project of running jobs, and it is applied in the same transaction as `AutomateStarted`, so a second
start (in any replica) rolls back with `Conflict` naming the running job.

A job whose process died stays `running` in the read model: on start-up the service records
`AutomateFailed` for each (`fail_abandoned`), so none stays running forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.replies import Conflict
from ombudsman.eventstore.projections import Projection

log = logging.getLogger(__name__)

SCHEMA = "metadata"
JOBS = f"{SCHEMA}.automate_jobs"
TERMINAL = ("completed", "failed")


def ddl(schema: str = SCHEMA) -> list[str]:
    """The jobs table and its one-running-job-per-project guard (idempotent)."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {schema}.automate_jobs (
            job_id text PRIMARY KEY,
            project_id text NOT NULL,
            status text NOT NULL,
            phases jsonb NOT NULL DEFAULT '[]'::jsonb,
            summary jsonb,
            error text,
            failed_phase text,
            options jsonb NOT NULL DEFAULT '{{}}'::jsonb,
            started_by text,
            started_at timestamptz NOT NULL,
            finished_at timestamptz
        )""",
        f"CREATE UNIQUE INDEX IF NOT EXISTS automate_jobs_one_running ON {schema}.automate_jobs (project_id) "
        "WHERE status = 'running'",
        f"CREATE INDEX IF NOT EXISTS automate_jobs_project ON {schema}.automate_jobs (project_id, started_at)",
    ]


class AutomateJobs(Projection):
    """`metadata.automate_jobs`: each job's status, completed phases, summary or error."""

    name = "metadata_automate_jobs"
    event_types = frozenset({"AutomateStarted", "AutomatePhaseCompleted", "AutomateCompleted", "AutomateFailed"})

    async def setup(self, conn: AsyncConnection) -> None:
        for statement in ddl():
            await conn.execute(text(statement))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"DELETE FROM {JOBS}"))

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        data, at, job = envelope.data, envelope.occurred_at, envelope.stream_id
        if envelope.event_type == "AutomateStarted":
            await conn.execute(
                text(f"INSERT INTO {JOBS} (job_id, project_id, status, options, started_by, started_at) "
                     "VALUES (:j, :p, 'running', CAST(:o AS jsonb), :by, :at) ON CONFLICT DO NOTHING"),
                {"j": job, "p": data["project_id"], "o": json.dumps(data.get("options") or {}),
                 "by": envelope.actor.name or envelope.actor.id, "at": at},
            )
            mine = await conn.execute(text(f"SELECT 1 FROM {JOBS} WHERE job_id = :j"), {"j": job})
            if mine.first() is None:  # the project's running job took the index: refuse, the transaction rolls back
                running = await running_job(conn, data["project_id"])
                raise Conflict(f"automate job {running} is already running for project {data['project_id']!r}",
                               {"project_id": data["project_id"], "job_id": running})
        elif envelope.event_type == "AutomatePhaseCompleted":
            phase = {"phase": data["phase"], "counts": data.get("counts") or {}, "seconds": data.get("seconds", 0.0),
                     "at": at.isoformat()}
            await conn.execute(
                text(f"UPDATE {JOBS} SET phases = phases || CAST(:ph AS jsonb) WHERE job_id = :j "
                     "AND NOT phases @> CAST(:key AS jsonb)"),  # a redelivered phase is not added twice
                {"j": job, "ph": json.dumps([phase]), "key": json.dumps([{"phase": data["phase"]}])},
            )
        elif envelope.event_type == "AutomateCompleted":
            await conn.execute(
                text(f"UPDATE {JOBS} SET status = 'completed', summary = CAST(:s AS jsonb), finished_at = :at "
                     "WHERE job_id = :j"),
                {"j": job, "s": json.dumps(data.get("summary") or {}), "at": at},
            )
        elif envelope.event_type == "AutomateFailed":
            await conn.execute(
                text(f"UPDATE {JOBS} SET status = 'failed', error = :e, failed_phase = :ph, finished_at = :at "
                     "WHERE job_id = :j"),
                {"j": job, "e": data.get("error") or "", "ph": data.get("phase"), "at": at},
            )


def _row(row: Any) -> dict[str, Any]:
    def body(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    return {
        "job_id": row.job_id, "project_id": row.project_id, "status": row.status, "phases": body(row.phases) or [],
        "summary": body(row.summary), "error": row.error, "failed_phase": row.failed_phase,
        "options": body(row.options) or {}, "started_by": row.started_by,
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }


async def load_job(conn: AsyncConnection, project_id: str, job_id: str) -> dict[str, Any] | None:
    """One job of a project as the read model has it (None when the project has no such job)."""
    found = await conn.execute(text(f"SELECT * FROM {JOBS} WHERE job_id = :j AND project_id = :p"),
                               {"j": job_id, "p": project_id})
    row = found.first()
    return _row(row) if row is not None else None


async def running_job(conn: AsyncConnection, project_id: str) -> str | None:
    """The id of the project's running job, if one runs."""
    found = await conn.execute(text(f"SELECT job_id FROM {JOBS} WHERE project_id = :p AND status = 'running'"),
                               {"p": project_id})
    row = found.first()
    return str(row.job_id) if row is not None else None


async def running_jobs(conn: AsyncConnection) -> list[tuple[str, str]]:
    """(job_id, project_id) of every job the read model shows running."""
    found = await conn.execute(text(f"SELECT job_id, project_id FROM {JOBS} WHERE status = 'running'"))
    return [(str(r.job_id), str(r.project_id)) for r in found]


_JOB_LOCK = "SELECT pg_advisory_lock(hashtext('omb-automate:' || :job))"
_JOB_UNLOCK = "SELECT pg_advisory_unlock(hashtext('omb-automate:' || :job))"
_JOB_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtext('omb-automate:' || :job))"


async def _holding_job_lock(engine: AsyncEngine, job_id: str, work: Coroutine[Any, Any, None],
                            began: asyncio.Event) -> None:
    """Run `work` while this process holds the job's PostgreSQL advisory lock (a session lock on a
    connection of its own): a replica starting up sees the job is alive by failing to take it."""
    async with engine.connect() as conn:
        await conn.execute(text(_JOB_LOCK), {"job": job_id})
        await conn.commit()
        began.set()
        try:
            await work
        finally:
            with contextlib.suppress(Exception):
                await conn.execute(text(_JOB_UNLOCK), {"job": job_id})
                await conn.commit()


async def job_is_orphaned(conn: AsyncConnection, job_id: str) -> bool:
    """Whether no live process runs the job (its advisory lock is free); the lock taken to find out is
    released at once."""
    free = bool((await conn.execute(text(_JOB_TRY_LOCK), {"job": job_id})).scalar_one())
    if free:
        await conn.execute(text(_JOB_UNLOCK), {"job": job_id})
    await conn.commit()
    return free


class JobRunner:
    """The background tasks of one service process: kept referenced, cancellable at stop. With an
    engine, each job runs holding its advisory lock, so other replicas can tell it is alive."""

    def __init__(self, engine: AsyncEngine | None = None) -> None:
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.began: dict[str, asyncio.Event] = {}  # set once a job holds its lock and runs
        self.engine = engine

    def spawn(self, job_id: str, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background under `job_id`."""
        began = self.began[job_id] = asyncio.Event()
        if self.engine is not None:
            work = _holding_job_lock(self.engine, job_id, work, began)
        else:
            began.set()
        task = asyncio.create_task(work, name=f"automate-{job_id}")
        self.tasks[job_id] = task
        task.add_done_callback(lambda _: (self.tasks.pop(job_id, None), self.began.pop(job_id, None)))

    async def wait(self, job_id: str) -> None:
        """Wait for a job of this process to end (tests; nothing when it is not running here)."""
        task = self.tasks.get(job_id)
        if task is not None:
            await asyncio.wait({task})

    async def cancel_all(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Cancel every running job (each records `AutomateFailed` as it ends) and wait for them."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

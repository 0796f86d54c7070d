"""Wiring of the metadata service: `python -m ombudsman.metadata` starts it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import Invalid
from ombudsman.contracts.subjects import command_subject, events_filter, query_subject
from ombudsman.eventstore.aggregate import fold
from ombudsman.eventstore.runtime import Service, ServiceContext
from ombudsman.eventstore.settings import Settings
from ombudsman.eventstore.store import envelope_from_json, envelope_json_sql
from ombudsman.metadata import automate_job, domain, jobs
from ombudsman.metadata.handlers import COMMANDS, QUERIES, Handlers
from ombudsman.metadata.jobs import JobRunner
from ombudsman.metadata.projections import SCHEMA, MetadataProjection, ProjectCleanup
from ombudsman.metadata.workload_joins import CONSUMER, FILTER, WorkloadJoins

log = logging.getLogger(__name__)
DETAILS_WITHOUT_ITEMS = "CASE WHEN event_type = 'MetadataDetailsRecorded' THEN data - 'items' ELSE data END"
MIGRATIONS = Path(__file__).parent / "migrations"
SAVE_PIPELINE_TIMEOUT = 30.0
STATE_EVENTS = text(
    f"SELECT {envelope_json_sql(data=DETAILS_WITHOUT_ITEMS)} AS envelope FROM {SCHEMA}.events "
    "WHERE stream_id = :stream_id ORDER BY version"
)


class RuntimePorts:
    """The handlers' ports over the service runtime: this schema's event store and read model, and
    request/reply to the projects service."""

    def __init__(self, ctx: ServiceContext, meta: Metadata, runner: JobRunner):
        self.ctx = ctx
        self.meta = meta
        self.runner = runner

    async def load(self, project_id: str) -> domain.MetadataState:
        # the state needs no detail items (catalog tables, suggestions …: megabytes on a big project,
        # read at every commit); the read model has them
        async with self.ctx.engine.connect() as conn:
            rows = (await conn.execute(STATE_EVENTS, {"stream_id": project_id})).all()
        envelopes = (envelope_from_json(row.envelope) for row in rows)
        return fold(domain.METADATA, project_id, envelopes)

    async def append(self, state: domain.MetadataState, events: Sequence[Event], meta: Metadata) -> None:
        async with self.ctx.uow() as uow:
            await uow.emit(state.project_id, events, meta, expected_version=state.version)

    async def append_stream(self, stream_id: str, expected_version: int, events: Sequence[Event],
                            meta: Metadata) -> None:
        async with self.ctx.uow() as uow:
            await uow.emit(stream_id, events, meta, expected_version=expected_version)

    def spawn(self, job_id: str, work: Coroutine[Any, Any, None]) -> None:
        self.runner.spawn(job_id, work)

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[AsyncConnection]:
        async with self.ctx.engine.connect() as conn:
            yield conn

    def reader(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return self._reader()

    async def require_project(self, project_id: str) -> dict[str, Any]:
        found = await self.ctx.request(query_subject("projects", "get"), {"id": project_id}, meta=self.meta)
        return dict(found or {})

    async def connection_secret(self, project_id: str, name: str) -> dict[str, Any]:
        # secrets are given to services only: ask as the metadata service, in the caller's correlation
        as_service = self.meta.model_copy(update={"actor": Actor.service("metadata")})
        result = await self.ctx.request(query_subject("projects", "connection_secret"),
                                        {"project_id": project_id, "name": name}, meta=as_service)
        return dict(result)

    async def save_pipelines(self, project_id: str, pipelines: list[dict[str, Any]]) -> list[str]:
        result = await self.ctx.request(command_subject("projects", "save_pipelines"),
                                        {"project_id": project_id, "pipelines": pipelines}, meta=self.meta,
                                        timeout=SAVE_PIPELINE_TIMEOUT)
        return [str(i) for i in (result or {}).get("pipeline_ids") or []]

    async def read_upload(self, path: str) -> str:
        def read() -> str:
            try:
                return self.ctx.settings.uploaded_file(path).read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise Invalid("path: the DDL file is not UTF-8 text", {"field": "path"}) from None

        return await asyncio.to_thread(read)


def _bind(name: str, runner: JobRunner) -> Any:
    async def handle(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> Any:
        return await getattr(Handlers(RuntimePorts(ctx, meta, runner)), name)(payload, meta)

    handle.__name__ = name
    return handle


class MetadataService(Service):
    """The service runtime plus automate jobs: those left running by a dead process are failed at
    start-up; those of this process are cancelled (and recorded failed) at stop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runner = JobRunner()

    async def start(self) -> None:
        await super().start()
        self.runner.engine = self.engine
        await self.fail_abandoned_jobs()

    async def stop(self) -> None:
        await self.runner.cancel_all()
        await super().stop()

    async def fail_abandoned_jobs(self) -> list[str]:
        """Record `AutomateFailed` for every job shown running that no live process runs (no task of
        this one, and its advisory lock free: another replica's running job holds it)."""
        async with self.ctx.engine.connect() as conn:
            running = [
                (job_id, project_id, await self.store.stream_version(conn, job_id),
                 (await jobs.load_job(conn, project_id, job_id) or {}).get("phases") or [])
                for job_id, project_id in await jobs.running_jobs(conn)
                if job_id not in self.runner.tasks and await jobs.job_is_orphaned(conn, job_id)
            ]
        ports = RuntimePorts(self.ctx, Metadata(actor=Actor.service("metadata")), self.runner)
        failed = await automate_job.fail_abandoned(running, ports.append_stream)
        if failed:
            log.warning("automate jobs left running by a stopped process marked failed: %s", ", ".join(failed))
        return failed


def create_service(settings: Settings | None = None) -> MetadataService:
    """The metadata service with its handlers and projections registered."""
    service = MetadataService(
        "metadata",
        schema=SCHEMA,
        settings=settings or Settings(),
        migrations=MIGRATIONS,
        projections=[MetadataProjection(), jobs.AutomateJobs()],
        consumers=[(ProjectCleanup(), "metadata-project-cleanup", events_filter("project", "*", "ProjectDeleted")),
                   (WorkloadJoins(), CONSUMER, FILTER)],
    )
    for name in COMMANDS:
        service.command(name)(_bind(name, service.runner))
    for name in QUERIES:
        service.query(name)(_bind(name, service.runner))
    return service

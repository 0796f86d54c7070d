"""A run's pipeline before it is queued: where its YAML comes from (inline or the projects
service), whether it may run (the executor's sandbox), and its `RunQueued` with secrets redacted."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts import events as ev
from ombudsman.contracts import subjects
from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.privacy import redact_pipeline_yaml
from ombudsman.contracts.replies import Invalid
from ombudsman.eventstore.rpc import request
from ombudsman.eventstore.runtime import ServiceContext
from ombudsman.executor import domain, private
from ombudsman.executor.settings import ExecutorSettings
from ombudsman.executor.streams import SERVICE_META, PrivateWrite

REQUEST_TIMEOUT = 30.0
PLAN_TIMEOUT = 25.0  # within the gateway's wait for the executor's reply


def queued_run(run_id: str, yaml_text: str, **decision: Any) -> tuple[ev.RunQueued, list[PrivateWrite]]:
    """The RunQueued of a new run, its pipeline redacted (no secret enters an event), and the private
    write keeping the YAML as given when redaction changed it (the worker runs from that)."""
    redacted = redact_pipeline_yaml(yaml_text)
    queued = domain.queue_run(run_id, redacted, **decision)
    if redacted == yaml_text:
        return queued, []

    async def keep(conn: AsyncConnection) -> None:
        await private.keep_pipeline(conn, private.run_key(run_id), yaml_text)

    return queued, [keep]


class Pipelines:
    """Resolves and admits the pipelines of runs (asking the projects service when they are saved)."""

    def __init__(self, ctx: ServiceContext, settings: ExecutorSettings) -> None:
        self.ctx = ctx
        self.settings = settings

    async def resolve_pipeline(self, project_id: str | None, pipeline_id: str | None, yaml_text: str | None,
                               meta: Metadata) -> tuple[str, str | None]:
        """The pipeline YAML of a run and its name: inline, or from the projects service."""
        if yaml_text:
            return yaml_text, None
        if not project_id or not pipeline_id:
            raise Invalid("give pipeline_yaml, or project_id and pipeline_id", {"field": "pipeline_yaml"})
        found = await request(self.ctx.nc, subjects.query_subject("projects", "pipeline"),
                              {"project_id": project_id, "pipeline_id": pipeline_id}, meta=meta,
                              timeout=REQUEST_TIMEOUT)
        return found["yaml"], found.get("name")

    async def admit_pipeline(self, yaml_text: str, project_id: str | None, meta: Metadata,
                             role: str | None = None) -> bool:
        """Check a pipeline before it is queued (the executor's sandbox, whatever the gateway did):
        its user SQL passes the engine's guard, connection URLs written in it are allowed to this
        actor (`domain.admit_inline`) and point neither at the platform nor outside OMB_FILE_ROOTS.
        True when the run uses such inline URLs (the worker may then open them)."""
        from ombudsman.engine.connectors.sandbox import check_connection_url
        from ombudsman.engine.pipeline import check_pipeline_sql

        spec = check_pipeline_sql(domain.parse_spec(yaml_text))
        saved = await self.project_connection_names(project_id, meta) if project_id else None
        inline = domain.inline_connections(spec, saved)
        domain.admit_inline(inline, role or meta.actor.role, self.settings.allow_inline_connections)
        for name in inline:
            url = spec.connections[name].url
            if "${" not in url:
                check_connection_url(url, field=f"connections.{name}", env=self.settings.platform_env())
        return bool(inline)

    async def price(self, yaml_text: str, project_id: str | None, only: list[str] | None, meta: Metadata) -> Any:
        """A pipeline's price before running (`POST /runs?dry_run=true`): admitted as a run would be,
        then estimated by a step worker (the executor does not reach the databases); records nothing."""
        inline = await self.admit_pipeline(yaml_text, project_id, meta)
        spec = domain.parse_spec(yaml_text)
        unknown = sorted(set(only or []) - {s.id for s in spec.steps})
        if unknown:
            raise Invalid(f"steps: unknown step(s) {', '.join(unknown)}", {"field": "steps", "unknown": unknown})
        return await request(self.ctx.nc, subjects.worker_plan_subject(),
                             {"pipeline_yaml": yaml_text, "project_id": project_id, "inline_connections": inline,
                              "only": only}, meta=SERVICE_META, timeout=PLAN_TIMEOUT)

    async def project_connection_names(self, project_id: str, meta: Metadata) -> set[str]:
        """The names of a project's saved connections (from the projects service)."""
        found = await request(self.ctx.nc, subjects.query_subject("projects", "connections"),
                              {"project_id": project_id}, meta=meta, timeout=REQUEST_TIMEOUT)
        return {c["name"] for c in found.get("items", [])}

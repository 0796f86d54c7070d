"""Automate handlers of the metadata service: an automate job runs the other capabilities' steps in
order (extract → suggest → auto-approve → relationships → classify → generate → save) in the
background (automate_job.py); the automate_job query shows it."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from ombudsman.contracts import events as ev
from ombudsman.contracts.commands.metadata import Suggest
from ombudsman.contracts.envelope import Metadata, new_id
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import NotFound
from ombudsman.metadata import automate_job, domain, jobs
from ombudsman.metadata import classify as classify_mod
from ombudsman.metadata.automate_job import Automate
from ombudsman.metadata.catalog_handlers import CatalogHandlers
from ombudsman.metadata.domain import MetadataState
from ombudsman.metadata.handler_base import ProjectRef, parse
from ombudsman.metadata.mapping import TableSuggestion
from ombudsman.metadata.mapping_handlers import MappingHandlers
from ombudsman.metadata.pipeline_handlers import PipelineHandlers
from ombudsman.metadata.relationship_handlers import RelationshipHandlers


class JobRef(ProjectRef):
    job_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")


class AutomateHandlers(CatalogHandlers, MappingHandlers, RelationshipHandlers, PipelineHandlers):
    """automate (the job runs the other capabilities' steps); the automate_job query."""

    async def automate(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Start an automate job (extract → suggest → auto-approve → relationships → classify → generate →
        save) in the background; answers `{job_id, project_id, status}` at once. `Conflict` (with the
        running job's id) while another job of the project runs."""
        cmd = parse(Automate, payload)
        await self.ports.require_project(cmd.project_id)
        job_id = f"aj-{new_id()}"
        options = cmd.model_dump(mode="json", exclude={"project_id", "connection_urls"})
        await self.ports.append_stream(job_id, 0, [ev.AutomateStarted(project_id=cmd.project_id, job_id=job_id,
                                                                       options=options)], meta)
        self.ports.spawn(job_id, automate_job.run(self, cmd, job_id, meta))
        return {"job_id": job_id, "project_id": cmd.project_id, "status": "running"}

    async def run_automate(
        self, cmd: Automate, meta: Metadata, phase_done: automate_job.PhaseDone
    ) -> dict[str, Any]:
        """The phases of an automate job in order; `phase_done(phase, counts)` is awaited after each
        (it times them). Returns the job's summary."""
        project = cmd.project_id
        project_info = await self.ports.require_project(project)
        extracted: list[dict[str, Any]] = []
        if cmd.extract:
            # the two sides in parallel; each appends its own events (a conflict on the shared stream retries)
            extracted = list(await asyncio.gather(
                self._extract(project, "source", cmd.source_connection, cmd.source_schemas, cmd.timeout_seconds, meta),
                self._extract(project, "target", cmd.target_connection, cmd.target_schemas, cmd.timeout_seconds, meta),
            ))
        await phase_done("extract", {"sides": len(extracted), "tables": sum(e["tables"] for e in extracted),
                                     "columns": sum(e["columns"] for e in extracted)})
        # the schema pairs given, else the project's schema mappings (`ombudsman schemas map`)
        schema_map = cmd.schema_map or dict(project_info.get("schema_mappings") or {}) or None
        found = await self._suggest(Suggest(project_id=project, schema_map=schema_map), meta)
        approved = await self._auto_approve(project, found.tables, cmd.auto_approve_threshold, meta)
        await phase_done("suggest", {"suggested": len(found.tables), "auto_approved": approved})
        rels = await self._infer(project, "source", cmd.join_pairs, cmd.measure_inclusion, cmd.source_connection,
                                 0.5, cmd.timeout_seconds, meta)
        await phase_done("relationships", {"relationships": len(rels)})
        classes = await self._classify(project, "source", meta)
        await phase_done("classify", classify_mod.counts(classes))
        pipelines, missing, merged = await self._build_pipelines(project, cmd.connection_urls)
        await phase_done("generate", {"pipelines": len(pipelines), "workload_steps": merged.summary()["steps"]})
        ids = await self._save_generated(project, pipelines, cmd.save, meta)
        await phase_done("save", {"saved": len(ids) if cmd.save else 0})
        return {
            "extracted": extracted,
            "suggested": len(found.tables),
            "auto_approved": approved,
            "relationships": len(rels),
            "classes": classify_mod.counts(classes),
            "pipeline_ids": ids,
            "skipped": {p.pipeline_id: p.skipped for p in pipelines if p.skipped},
            # source tables and columns neither mapped nor excluded: the coverage pipeline fails for each
            "uncovered": missing.model_dump(mode="json"),
            # the workload's checks added to the pipelines of their tables (workload_plan.py)
            "workload": merged.summary(),
        }

    async def _auto_approve(
        self, project: str, tables: list[TableSuggestion], threshold: float, meta: Metadata
    ) -> int:
        """Approve every suggested table pair at or above `threshold` in one commit; how many."""
        candidates = [
            domain.ApproveMapping(
                project_id=project, source_table=t.source_table, target_table=t.target_table,
                columns=t.column_map(include_model=False), confidence=t.confidence, automatic=True,
            )
            for t in tables if t.confidence >= threshold
        ]
        if not candidates:
            return 0
        source, target = await self._catalog(project, "source"), await self._catalog(project, "target")
        decided: list[Event] = []

        def decide(fresh: MetadataState) -> list[Event]:
            decided[:] = [
                event
                for c in candidates
                # a person's decision (approval or rejection) is never overwritten by automation
                if c.source_table.lower() not in fresh.approved
                and (c.source_table.lower(), c.target_table.lower()) not in fresh.rejected
                for event in domain.approve(fresh, c, source, target, {})
            ]
            return decided

        await self._commit(project, decide, meta)
        return len(decided)

    async def automate_job(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """An automate job: status (running, completed, failed), completed phases, summary or error."""
        cmd = parse(JobRef, payload)
        async with self._read() as conn:
            job = await jobs.load_job(conn, cmd.project_id, cmd.job_id)
        if job is None:
            raise NotFound(f"project {cmd.project_id!r} has no automate job {cmd.job_id!r}",
                           {"project_id": cmd.project_id, "job_id": cmd.job_id})
        return job

"""Generation handlers of the metadata service: validation pipelines from the approved mappings (with
the workload's checks and the coverage check), target DDL and dbt sources from a catalog."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from ombudsman.contracts.commands.metadata import TargetDdlKind
from ombudsman.contracts.envelope import Metadata
from ombudsman.metadata import classify as classify_mod
from ombudsman.metadata import coverage, domain, generate, relationships, target_ddl, workload_plan
from ombudsman.metadata import projections as read
from ombudsman.metadata.handler_base import ProjectRef, SideRef, parse
from ombudsman.metadata.key_handlers import KeyHandlers

SAVE_CHUNK = 50  # generated pipelines per save command (a few KiB of YAML each)


class Generate(ProjectRef):
    save: bool = True
    connection_urls: dict[str, str] | None = None  # URLs written into the YAML; default ${SOURCE_URL} / ${TARGET_URL}


class TargetDdlQuery(ProjectRef):
    target: TargetDdlKind
    schema_map: dict[str, str] | None = None
    case: str | None = Field(default=None, pattern=r"^(upper|lower|preserve)$")


class PipelineHandlers(KeyHandlers):
    """generate_pipelines; the target_ddl and dbt_sources queries (pipelines use the keys: key_handlers.py)."""

    async def generate_pipelines(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """One pipeline per approved mapping; saved in the projects service unless `save` is false.

        The reply lists each pipeline's id, name, steps and skipped validators; its YAML only when
        not saved (saved ones are read with the projects service's `pipeline` query)."""
        cmd = parse(Generate, payload)
        return await self._generate(cmd.project_id, cmd.save, cmd.connection_urls, meta)

    async def _generate(
        self, project: str, save: bool, urls: dict[str, str] | None, meta: Metadata
    ) -> dict[str, Any]:
        pipelines, missing, merged = await self._build_pipelines(project, urls)
        ids = await self._save_generated(project, pipelines, save, meta)
        # saved pipelines are read back from the projects service: the reply stays small for big projects
        omit = {"yaml"} if save else set()
        return {"pipeline_ids": ids, "pipelines": [p.model_dump(mode="json", exclude=omit) for p in pipelines],
                "uncovered": missing.model_dump(mode="json"), "workload": merged.summary()}

    async def _build_pipelines(
        self, project: str, urls: dict[str, str] | None
    ) -> tuple[list[generate.GeneratedPipeline], coverage.Uncovered, workload_plan.MergeReport]:
        """One pipeline per approved mapping (with the workload's steps: workload_plan.py), and the
        coverage check of what is neither mapped nor excluded."""
        source, target = await self._catalog(project, "source"), await self._catalog(project, "target")
        async with self._read() as conn:
            approved = read.approved_mappings(await read.load_approved(conn, project))
            rels = await read.load_relationships(conn, project, "source")
            classes = await read.load_classes(conn, project, "source")
            excluded = await read.load_exclusions(conn, project)
            plan = await workload_plan.load_plan(conn, project)
        if not rels:
            rels = relationships.infer(source)
        if not classes:
            classes = classify_mod.classify(source, rels)
        keys = await self._effective_keys(project, source)
        pipelines = await asyncio.to_thread(generate.generate_pipelines, approved, source, target, classes, rels,
                                            connections=urls, keys=keys)
        merged = await asyncio.to_thread(workload_plan.merge, pipelines, plan, approved, source, target, classes)
        missing = coverage.uncovered(source, approved, excluded)
        checked = coverage.build_coverage_pipeline(source, target, approved, excluded, connections=urls)
        if checked is not None and pipelines:
            pipelines.append(checked)
        return pipelines, missing, merged

    async def _save_generated(
        self, project: str, pipelines: list[generate.GeneratedPipeline], save: bool, meta: Metadata
    ) -> list[str]:
        """Save the pipelines in the projects service (unless not `save`) and record `PipelinesGenerated`."""
        ids = [p.pipeline_id for p in pipelines]
        if save:
            # chunks keep each command well inside one message and one short transaction
            ids = [
                pipeline_id
                for start in range(0, len(pipelines), SAVE_CHUNK)
                for pipeline_id in await self.ports.save_pipelines(project, [
                    p.model_dump(include={"pipeline_id", "name", "yaml", "description", "tags"})
                    for p in pipelines[start:start + SAVE_CHUNK]
                ])
            ]
        await self._commit(project, lambda s: domain.pipelines_generated(s, ids), meta)
        return ids

    async def target_ddl(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        cmd = parse(TargetDdlQuery, payload)
        catalog = await self._catalog(cmd.project_id, "source")
        ddl = target_ddl.generate_target_ddl(catalog, cmd.target, schema_map=cmd.schema_map,
                                             case=cmd.case)  # type: ignore[arg-type]
        return {"target": ddl.target, "sql": ddl.sql, "lossy": [x.model_dump(mode="json") for x in ddl.lossy],
                "tables": ddl.table_names}

    async def dbt_sources(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        cmd = parse(SideRef, payload)
        catalog = await self._catalog(cmd.project_id, cmd.side)
        async with self._read() as conn:
            rels = await read.load_relationships(conn, cmd.project_id, cmd.side)
            classes = await read.load_classes(conn, cmd.project_id, cmd.side)
            described = await read.load_descriptions(conn, cmd.project_id, cmd.side)
        rels = rels or relationships.infer(catalog)
        classes = classes or classify_mod.classify(catalog, rels)
        approved = {table: {k: c.description for k, c in record.columns.items() if c.description}
                    for table, record in described.items()}
        return {"filename": "sources.yml", "yaml": generate.dbt_sources(catalog, classes, rels, descriptions=approved)}

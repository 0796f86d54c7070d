"""Migration code generation of the metadata service (part of `handlers.Handlers`): the
`generate_code` command renders one platform's files from the approved mappings and the source
catalog (codegen/) and records `CodeGenerated` (each file's path and sha256, the generator version);
the `code_files` query returns the same files again from an offset. Files travel in bus-sized pages
(rpc.fit_page); the generation is deterministic, so a later page is rendered again, not stored, and
not checked again (the command checked the same files; the gateway compares each page's sha256 with
the command's list, so files of a changed mapping are never mixed in)."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.replies import NotFound
from ombudsman.eventstore.rpc import fit_page
from ombudsman.metadata import classify as classify_mod
from ombudsman.metadata import codegen, domain, relationships
from ombudsman.metadata import projections as read
from ombudsman.metadata.handler_base import ProjectRef, parse
from ombudsman.metadata.key_handlers import KeyHandlers

MAX_FILES_PER_PAGE = 500


class CodegenRequest(ProjectRef):
    platform: str = Field(min_length=1, max_length=40)
    offset: int = Field(default=0, ge=0)


class CodegenHandlers(KeyHandlers):
    """generate_code (command) and code_files (query)."""

    async def generate_code(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Render the platform's files, record `CodeGenerated`, reply with the first page of files
        ({path, content, sha256}), every file's {path, sha256}, and `next_offset` when more follow."""
        cmd = parse(CodegenRequest, payload)
        codegen.require_platform(cmd.platform)
        plan, artefacts = await self._render(cmd.project_id, cmd.platform)
        listed = [{"path": a.path, "sha256": a.sha256} for a in artefacts]
        await self._commit(cmd.project_id, lambda s: domain.code_generated(
            s, cmd.platform, codegen.GENERATOR_VERSION, len(plan.tables), listed), meta)
        return self._page(cmd, artefacts) | {"artefacts": listed, "tables": len(plan.tables)}

    async def code_files(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """A page of the platform's files from `offset` (nothing recorded: the command did)."""
        cmd = parse(CodegenRequest, payload)
        codegen.require_platform(cmd.platform)
        _, artefacts = await self._render(cmd.project_id, cmd.platform, checked=False)
        return self._page(cmd, artefacts)

    @staticmethod
    def _page(cmd: CodegenRequest, artefacts: list[codegen.Artefact]) -> dict[str, Any]:
        items = [{"path": a.path, "content": a.content, "sha256": a.sha256} for a in artefacts]
        page, following = fit_page(items, cmd.offset, MAX_FILES_PER_PAGE)
        return {"platform": cmd.platform, "generator_version": codegen.GENERATOR_VERSION, "files": page,
                "offset": cmd.offset, "next_offset": following, "total_files": len(items)}

    async def _render(self, project: str, platform: str,
                      checked: bool = True) -> tuple[codegen.CodegenPlan, list[codegen.Artefact]]:
        source = await self._catalog(project, "source")
        async with self._read() as conn:
            approved = read.approved_mappings(await read.load_approved(conn, project))
            classes = await read.load_classes(conn, project, "source")
            rels = await read.load_relationships(conn, project, "source")
            target = await read.load_catalog(conn, project, "target")
        if not approved:
            raise NotFound(f"project {project!r} has no approved mapping: approve table mappings first",
                           {"project_id": project, "field": "mappings"})
        if not classes:
            classes = classify_mod.classify(source, rels or relationships.infer(source))
        keys = await self._effective_keys(project, source)
        plan = codegen.build_plan(project, approved, source, classes, keys,
                                  target_kind=target.kind if target is not None else None)
        if not plan.tables:
            raise NotFound(f"project {project!r}: no approved mapping names a table of the source catalog",
                           {"project_id": project, "field": "mappings"})
        return plan, await asyncio.to_thread(lambda: codegen.generate_code(platform, plan, checked=checked))

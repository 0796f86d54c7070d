"""Mapping handlers of the metadata service: suggest table and column mappings, approve, reject and
exclude them; the suggestions, mappings and exclusions queries."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from ombudsman.contracts.commands.metadata import RejectMapping, Suggest
from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import NotFound
from ombudsman.eventstore.rpc import fit_page
from ombudsman.metadata import domain
from ombudsman.metadata import projections as read
from ombudsman.metadata.domain import MetadataState
from ombudsman.metadata.handler_base import HandlerBase, ProjectRef, parse
from ombudsman.metadata.llm import configured_model
from ombudsman.metadata.mapping import MappingSuggestions, suggest_columns
from ombudsman.metadata.mapping import suggest as suggest_mappings
from ombudsman.metadata.model_mapping import add_model_suggestions


class Paged(ProjectRef):
    """A page of a long list (table suggestions, approved mappings): a 500-table project's lists are
    several MiB, more than one bus message."""

    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=1000)


def suggestions_page(found: MappingSuggestions, offset: int, limit: int) -> dict[str, Any]:
    """The suggestions with one page of their tables (bus-sized: `next_offset` says where the next
    page starts, None at the end); `total_tables` counts them all."""
    data = found.model_dump(mode="json")
    tables, following = fit_page(data["tables"], offset, limit)
    return {**data, "tables": tables, "total_tables": len(found.tables), "offset": offset, "limit": limit,
            "next_offset": following}


class MappingHandlers(HandlerBase):
    """Suggest, approve, reject, exclude; the suggestions, mappings and exclusions queries."""

    async def suggest(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Suggest schema, table and column mappings from the two catalogs."""
        cmd = parse(Suggest, payload)
        return suggestions_page(await self._suggest(cmd, meta), 0, cmd.suggestions_in_reply())

    async def _suggest(self, cmd: Suggest, meta: Metadata) -> MappingSuggestions:
        state = await self.ports.load(cmd.project_id)
        domain.require_catalogs(state, "source", "target")
        source, target = await self._catalog(cmd.project_id, "source"), await self._catalog(cmd.project_id, "target")
        table_threshold, column_threshold = cmd.thresholds()
        suggestions = await asyncio.to_thread(
            suggest_mappings, source, target, schema_map=cmd.schema_map, table_threshold=table_threshold,
            column_threshold=column_threshold)
        model = configured_model()  # off unless OMB_LLM_PROVIDER is set: then it pairs what the matcher could not
        if model is not None:
            await add_model_suggestions(model, suggestions, source, target, model.settings.max_tables)
        await self._commit(cmd.project_id, lambda s: domain.record_suggestions(s, suggestions), meta)
        return suggestions

    async def approve(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Approve or correct a table mapping (columns default to the suggestion's)."""
        cmd = parse(domain.ApproveMapping, payload)
        state = await self.ports.load(cmd.project_id)
        domain.require_catalogs(state, "source", "target")
        source, target = await self._catalog(cmd.project_id, "source"), await self._catalog(cmd.project_id, "target")
        suggested: dict[str, str] = {}
        if cmd.columns is None:
            async with self._read() as conn:
                suggestions = await read.load_suggestions(conn, cmd.project_id)
            match = suggestions.table(cmd.source_table) if suggestions else None
            if match is not None and match.target_table.lower() == cmd.target_table.lower():
                suggested = match.column_map()
                if cmd.confidence is None:
                    cmd.confidence = match.confidence
            else:
                src = source.table(*cmd.source_table.rsplit(".", 1)) if "." in cmd.source_table else None
                tgt = target.table(*cmd.target_table.rsplit(".", 1)) if "." in cmd.target_table else None
                if src is not None and tgt is not None:
                    pairs, _, _ = suggest_columns(src, source.kind, tgt, target.kind)
                    suggested = {p.source: p.target for p in pairs}
        decided: list[Event] = []

        def decide(fresh: MetadataState) -> list[Event]:
            decided[:] = domain.approve(fresh, cmd, source, target, suggested)
            return decided

        state = await self._commit(cmd.project_id, decide, meta)
        approval = state.approved.get(cmd.source_table.lower())
        return {"changed": bool(decided), "mapping": approval.model_dump(mode="json") if approval else None}

    async def reject(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        cmd = parse(RejectMapping, payload)
        decided: list[Event] = []

        def decide(fresh: MetadataState) -> list[Event]:
            decided[:] = domain.reject(fresh, cmd.source_table, cmd.target_table)
            return decided

        await self._commit(cmd.project_id, decide, meta)
        return {"changed": bool(decided)}

    async def exclude(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Exclude a source table, or some of its columns, from coverage (a note says why); `withdraw`
        takes it back. The next generated coverage check no longer reports what is excluded."""
        cmd = parse(domain.ExcludeMapping, payload)
        source = await self._catalog(cmd.project_id, "source")
        decided: list[Event] = []

        def decide(fresh: MetadataState) -> list[Event]:
            decided[:] = domain.exclude(fresh, cmd, source)
            return decided

        state = await self._commit(cmd.project_id, decide, meta)
        found = state.excluded.get(cmd.source_table.lower())
        return {"changed": bool(decided), "exclusion": found.model_dump(mode="json") if found else None}

    async def suggestions(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """The latest suggestions, a page of tables at a time (`offset`, `limit`; `total_tables`)."""
        cmd = parse(Paged, payload)
        async with self._read() as conn:
            found = await read.load_suggestions(conn, cmd.project_id)
        if found is None:
            raise NotFound(f"project {cmd.project_id!r} has no mapping suggestions yet", {"project_id": cmd.project_id})
        return suggestions_page(found, cmd.offset, cmd.limit)

    async def mappings(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Approved mappings, a page at a time (`offset`, `limit`; `total`)."""
        cmd = parse(Paged, payload)
        async with self._read() as conn:
            approved = await read.load_approved(conn, cmd.project_id)
        page, following = fit_page(approved, cmd.offset, cmd.limit)
        return {"mappings": page, "total": len(approved), "offset": cmd.offset, "limit": cmd.limit,
                "next_offset": following}

    async def exclusions(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """What people excluded from coverage (tables, columns, notes)."""
        cmd = parse(ProjectRef, payload)
        async with self._read() as conn:
            found = await read.load_exclusions(conn, cmd.project_id)
        return {"exclusions": [e.model_dump(mode="json") for e in sorted(found.values(),
                                                                        key=lambda e: e.source_table.lower())]}

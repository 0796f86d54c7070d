"""Table mappings of a project (the metadata service): suggest, approve, reject, exclude, list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ombudsman.contracts.commands.metadata import ExclusionBase, MappingDecisionBase, SuggestBase
from ombudsman.gateway.deps import BusDep, CurrentUser, Offset, Writer, visible_project
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.routes.project_params import PID
from ombudsman.gateway.schemas import Input

router = APIRouter(tags=["projects"], responses=COMMON_ERRORS)


class SuggestIn(Input, SuggestBase):
    """How to suggest mappings (omitted or null: the service's defaults)."""


class MappingDecision(Input, MappingDecisionBase):
    """A table pair to approve or reject."""


class ExclusionIn(Input, ExclusionBase):
    """A source table or some of its columns to exclude from coverage (or an exclusion to withdraw)."""


PageLimit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/projects/{project_id}/mappings", tags=["mapping"], summary="Approved mappings, a page at a time")
async def mappings(project_id: PID, user: CurrentUser, bus: BusDep, offset: Offset = 0, limit: PageLimit = 100) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("metadata", "mappings", {"project_id": project_id, "offset": offset, "limit": limit},
                           user.actor)


@router.get("/projects/{project_id}/mappings/suggestions", tags=["mapping"],
            summary="The latest suggestions, a page of tables at a time (total_tables says how many)")
async def mapping_suggestions(project_id: PID, user: CurrentUser, bus: BusDep, offset: Offset = 0,
                              limit: PageLimit = 100) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("metadata", "suggestions", {"project_id": project_id, "offset": offset, "limit": limit},
                           user.actor)


@router.post("/projects/{project_id}/mappings/suggest", tags=["mapping"])
async def suggest_mappings(project_id: PID, user: Writer, bus: BusDep, body: SuggestIn | None = None) -> Any:
    await visible_project(bus, user, project_id)
    payload = {"project_id": project_id, **(body.model_dump(exclude_none=True) if body else {})}
    return await bus.command("metadata", "suggest", payload, user.actor, wait=120)


@router.post("/projects/{project_id}/mappings/approve", tags=["mapping"])
async def approve_mapping(project_id: PID, body: MappingDecision, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("metadata", "approve", {**body.model_dump(exclude_none=True), "project_id": project_id},
                             user.actor)


@router.post("/projects/{project_id}/mappings/reject", tags=["mapping"])
async def reject_mapping(project_id: PID, body: MappingDecision, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    payload = {"project_id": project_id, "source_table": body.source_table, "target_table": body.target_table}
    return await bus.command("metadata", "reject", payload, user.actor)


@router.post("/projects/{project_id}/mappings/exclude", tags=["mapping"],
             summary="Exclude a source table or columns from coverage, with a note (or withdraw it)")
async def exclude_mapping(project_id: PID, body: ExclusionIn, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("metadata", "exclude", {**body.model_dump(), "project_id": project_id}, user.actor)


@router.get("/projects/{project_id}/mappings/exclusions", tags=["mapping"],
            summary="Source tables and columns excluded from coverage, with their notes")
async def mapping_exclusions(project_id: PID, user: CurrentUser, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("metadata", "exclusions", {"project_id": project_id}, user.actor)

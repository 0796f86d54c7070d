"""Relationships and classification of a project's catalog (the metadata service)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ombudsman.gateway.deps import BusDep, CurrentUser, Writer, visible_project
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.routes.project_params import PID, Side

router = APIRouter(tags=["projects"], responses=COMMON_ERRORS)


@router.get("/projects/{project_id}/relationships", tags=["metadata"])
async def relationships(project_id: PID, user: CurrentUser, bus: BusDep, side: Side = "source") -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("metadata", "relationships", {"project_id": project_id, "side": side}, user.actor)


@router.post("/projects/{project_id}/infer-relationships", tags=["metadata"])
async def infer_relationships(project_id: PID, user: Writer, bus: BusDep, side: Side = "source") -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("metadata", "infer_relationships", {"project_id": project_id, "side": side}, user.actor,
                             wait=300)


@router.get("/projects/{project_id}/classification", tags=["metadata"])
async def classification(project_id: PID, user: CurrentUser, bus: BusDep, side: Side = "source") -> Any:
    await visible_project(bus, user, project_id)
    tables: list[Any] = []
    offset: int | None = 0
    while offset is not None:  # the bus carries it page by page; HTTP gets it whole
        page = await bus.query("metadata", "classification", {"project_id": project_id, "side": side,
                                                              "offset": offset}, user.actor)
        tables += page.get("tables") or []
        offset = page.get("next_offset")
    return {"tables": tables, "counts": page.get("counts") or {}}


@router.post("/projects/{project_id}/classify", tags=["metadata"])
async def classify(project_id: PID, user: Writer, bus: BusDep, side: Side = "source") -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("metadata", "classify", {"project_id": project_id, "side": side}, user.actor, wait=120)

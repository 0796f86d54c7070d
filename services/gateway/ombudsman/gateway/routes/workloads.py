"""A workload (Query Store upload) by id: get, analyze, suggestions, pipeline generation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import ConfigDict, Field

from ombudsman.contracts.replies import NotFound
from ombudsman.gateway.deps import BusDep, CurrentUser, Principal, Writer, require_member
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.schemas import Input

router = APIRouter(tags=["workload"], responses=COMMON_ERRORS)

WID = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


class GeneratePipelineIn(Input):
    model_config = ConfigDict(extra="forbid")
    suggestion_ids: list[str] | None = Field(default=None, max_length=1000)


async def _visible_workload(bus: Any, user: Principal, workload_id: str) -> dict[str, Any]:
    try:
        workload = await bus.query("workload", "get", {"workload_id": workload_id}, user.actor)
        await require_member(bus, user, str(workload.get("project_id")))
    except NotFound:
        raise NotFound(f"workload {workload_id!r} not found", {"workload_id": workload_id}) from None
    return workload


@router.get("/workloads/{workload_id}")
async def get_workload(workload_id: WID, user: CurrentUser, bus: BusDep) -> Any:
    return await _visible_workload(bus, user, workload_id)


@router.post("/workloads/{workload_id}/analyze")
async def analyze(workload_id: WID, user: Writer, bus: BusDep) -> Any:
    await _visible_workload(bus, user, workload_id)
    return await bus.command("workload", "analyze", {"workload_id": workload_id}, user.actor, wait=300)


@router.post("/workloads/{workload_id}/suggest")
async def suggest(workload_id: WID, user: Writer, bus: BusDep) -> Any:
    await _visible_workload(bus, user, workload_id)
    return await bus.command("workload", "suggest", {"workload_id": workload_id}, user.actor, wait=120)


@router.get("/workloads/{workload_id}/suggestions")
async def suggestions(workload_id: WID, user: CurrentUser, bus: BusDep) -> Any:
    await _visible_workload(bus, user, workload_id)
    return await bus.query("workload", "suggestions", {"workload_id": workload_id}, user.actor)


@router.post("/workloads/{workload_id}/pipeline")
async def generate_pipeline(workload_id: WID, user: Writer, bus: BusDep, body: GeneratePipelineIn | None = None) -> Any:
    await _visible_workload(bus, user, workload_id)
    payload: dict[str, Any] = {"workload_id": workload_id}
    if body and body.suggestion_ids is not None:
        payload["suggestion_ids"] = body.suggestion_ids
    return await bus.command("workload", "generate_pipeline", payload, user.actor, wait=120)

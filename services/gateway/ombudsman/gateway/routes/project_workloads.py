"""The workloads of a project (the workload service; uploads and analysis: workloads.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ombudsman.gateway.deps import BusDep, CurrentUser, visible_project
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.routes.project_params import PID

router = APIRouter(tags=["projects"], responses=COMMON_ERRORS)


@router.get("/projects/{project_id}/workloads", tags=["workload"])
async def list_workloads(project_id: PID, user: CurrentUser, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("workload", "list", {"project_id": project_id}, user.actor)

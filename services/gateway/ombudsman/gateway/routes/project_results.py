"""Results of a project across its runs (the executor service): trends and discrepancies
(results of one run or batch: results.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ombudsman.gateway.deps import BusDep, CurrentUser, visible_project
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.routes.project_params import PID

router = APIRouter(tags=["projects"], responses=COMMON_ERRORS)


@router.get("/projects/{project_id}/trends", tags=["results"])
async def trends(project_id: PID, user: CurrentUser, bus: BusDep,
                 days: Annotated[int, Query(ge=1, le=3650)] = 30) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("executor", "trends", {"project_id": project_id, "days": days}, user.actor)


@router.get("/projects/{project_id}/discrepancies", tags=["results"])
async def discrepancies(project_id: PID, user: CurrentUser, bus: BusDep,
                        run_id: Annotated[str | None, Query(max_length=100)] = None) -> Any:
    await visible_project(bus, user, project_id)
    payload = {"project_id": project_id, **({"run_id": run_id} if run_id else {})}
    return await bus.query("executor", "discrepancies", payload, user.actor)

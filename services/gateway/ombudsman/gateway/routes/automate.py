"""Automate jobs and pipeline generation of a project (the metadata service)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ombudsman.contracts.commands.metadata import AutomateBase
from ombudsman.gateway.deps import BusDep, CurrentUser, Writer, visible_project
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.routes.project_params import PID, JobId
from ombudsman.gateway.schemas import Input

router = APIRouter(tags=["projects"], responses=COMMON_ERRORS)


class AutomateIn(Input, AutomateBase):
    """What the automate job runs with (contracts.commands.metadata)."""


@router.post("/projects/{project_id}/automate", tags=["metadata"], status_code=202,
             summary="Start an automate job: extract, suggest and approve mappings, generate pipelines",
             description="Answers 202 with `job_id` at once; the job's phases arrive as `AutomatePhaseCompleted` "
                         "events on /ws/events and in GET …/automate/{job_id}. 409 (details.job_id) while another "
                         "automate job of the project runs.")
async def automate(project_id: PID, user: Writer, bus: BusDep, body: AutomateIn | None = None) -> Any:
    await visible_project(bus, user, project_id)
    payload = {"project_id": project_id, **(body.model_dump(exclude_none=True) if body else {})}
    return await bus.command("metadata", "automate", payload, user.actor)


@router.get("/projects/{project_id}/automate/{job_id}", tags=["metadata"],
            summary="An automate job: status (running, completed, failed), its completed phases, summary or error")
async def automate_job(project_id: PID, job_id: JobId, user: CurrentUser, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("metadata", "automate_job", {"project_id": project_id, "job_id": job_id}, user.actor)


@router.post("/projects/{project_id}/create-comprehensive-pipelines", tags=["metadata"])
async def comprehensive_pipelines(project_id: PID, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("metadata", "generate_pipelines", {"project_id": project_id}, user.actor, wait=300)

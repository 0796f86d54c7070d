"""What people do with results: compare a run with a baseline, accept or resolve discrepancies,
and schedule pipelines and batches (the executor service owns all three)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import Field

from ombudsman.contracts.commands.executor import DecisionBase, ScheduleBase
from ombudsman.contracts.replies import NotFound
from ombudsman.gateway.deps import BusDep, CurrentUser, Writer, visible_batch, visible_project, visible_run
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.routes.project_params import PID
from ombudsman.gateway.routes.runs import BID, RID
from ombudsman.gateway.schemas import Input

router = APIRouter(tags=["results"], responses=COMMON_ERRORS)

XID = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


# --- comparison with a baseline ---------------------------------------------------------------


@router.get("/runs/{run_id}/compare",
            summary="A run against a baseline run: better, worse (new failing steps too), same, added, removed")
async def compare_runs(run_id: RID, user: CurrentUser, bus: BusDep,
                       baseline: Annotated[str, Query(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$",
                                                      description="the baseline run's id")],
                       force: Annotated[bool, Query(description="compare runs of different pipelines "
                                                                "(refused with 422 otherwise)")] = False) -> Any:
    await visible_run(bus, user, run_id)
    await visible_run(bus, user, baseline)
    return await bus.query("executor", "compare", {"run_id": run_id, "baseline_run_id": baseline, "force": force},
                           user.actor)


# --- discrepancies ----------------------------------------------------------------------------


class DecisionIn(Input, DecisionBase):
    """Why a discrepancy is accepted or resolved."""


async def _decide(project_id: str, discrepancy_id: str, command: str, body: DecisionIn | None, user: Any,
                  bus: Any) -> Any:
    await visible_project(bus, user, project_id)
    found = await bus.query("executor", "discrepancies", {"project_id": project_id, "discrepancy_id": discrepancy_id},
                            user.actor)
    if not found:
        raise NotFound(f"discrepancy {discrepancy_id!r} not found in project {project_id!r}",
                       {"discrepancy_id": discrepancy_id})
    payload = {"discrepancy_id": discrepancy_id, "note": body.note if body else ""}
    return await bus.command("executor", command, payload, user.actor)


@router.post("/projects/{project_id}/discrepancies/{discrepancy_id}/accept",
             summary="Accept a discrepancy as a known difference: it stops failing later runs")
async def accept_discrepancy(project_id: PID, discrepancy_id: XID, user: Writer, bus: BusDep,
                             body: DecisionIn | None = None) -> Any:
    return await _decide(project_id, discrepancy_id, "accept_discrepancy", body, user, bus)


@router.post("/projects/{project_id}/discrepancies/{discrepancy_id}/resolve",
             summary="Mark a discrepancy resolved (fixed in the data)")
async def resolve_discrepancy(project_id: PID, discrepancy_id: XID, user: Writer, bus: BusDep,
                              body: DecisionIn | None = None) -> Any:
    return await _decide(project_id, discrepancy_id, "resolve_discrepancy", body, user, bus)


# --- schedules --------------------------------------------------------------------------------


class PipelineScheduleIn(Input, ScheduleBase):
    """A saved pipeline of the project and when it runs."""

    pipeline_id: str = Field(min_length=1, max_length=100)


class BatchScheduleIn(Input, ScheduleBase):
    """When the batch runs."""


@router.get("/projects/{project_id}/schedules", tags=["schedules"])
async def project_schedules(project_id: PID, user: CurrentUser, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("executor", "schedules", {"project_id": project_id}, user.actor)


@router.post("/projects/{project_id}/schedules", status_code=201, tags=["schedules"],
             summary="Run a saved pipeline on a cron schedule (fires once per instant, also across restarts)")
async def schedule_pipeline(project_id: PID, body: PipelineScheduleIn, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    await bus.query("projects", "pipeline", {"project_id": project_id, "pipeline_id": body.pipeline_id},
                    user.actor)  # NotFound for a pipeline the project does not have
    return await bus.command("executor", "schedule", {"project_id": project_id, **body.model_dump()}, user.actor)


@router.delete("/projects/{project_id}/schedules/{schedule_id}", status_code=204, tags=["schedules"])
async def delete_pipeline_schedule(project_id: PID, schedule_id: XID, user: Writer, bus: BusDep) -> None:
    await visible_project(bus, user, project_id)
    found = await bus.query("executor", "schedules", {"project_id": project_id, "schedule_id": schedule_id},
                            user.actor)
    if not found:
        raise NotFound(f"schedule {schedule_id!r} not found in project {project_id!r}", {"schedule_id": schedule_id})
    await bus.command("executor", "delete_schedule", {"schedule_id": schedule_id}, user.actor)


@router.get("/batches/{batch_id}/schedules", tags=["schedules"])
async def batch_schedules(batch_id: BID, user: CurrentUser, bus: BusDep) -> Any:
    await visible_batch(bus, user, batch_id)
    return await bus.query("executor", "schedules", {"batch_id": batch_id}, user.actor)


@router.post("/batches/{batch_id}/schedules", status_code=201, tags=["schedules"],
             summary="Execute a batch on a cron schedule")
async def schedule_batch(batch_id: BID, body: BatchScheduleIn, user: Writer, bus: BusDep) -> Any:
    await visible_batch(bus, user, batch_id)
    return await bus.command("executor", "schedule", {"batch_id": batch_id, "cron": body.cron}, user.actor)


@router.delete("/batches/{batch_id}/schedules/{schedule_id}", status_code=204, tags=["schedules"])
async def delete_batch_schedule(batch_id: BID, schedule_id: XID, user: Writer, bus: BusDep) -> None:
    await visible_batch(bus, user, batch_id)
    found = await bus.query("executor", "schedules", {"batch_id": batch_id, "schedule_id": schedule_id}, user.actor)
    if not found:
        raise NotFound(f"schedule {schedule_id!r} not found for batch {batch_id!r}", {"schedule_id": schedule_id})
    await bus.command("executor", "delete_schedule", {"schedule_id": schedule_id}, user.actor)

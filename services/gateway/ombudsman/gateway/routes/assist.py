"""The language model's help (metadata service, off unless OMB_LLM_PROVIDER is set: 409 naming that
otherwise): column descriptions drafted and approved, a failed step explained in plain words, a
custom_query check drafted from a sentence. Every answer is marked `suggested_by: "model"`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from ombudsman.contracts.commands.metadata import (
    ApproveDescriptionBase,
    DescribeColumnsBase,
    DescriptionRef,
    DraftCheckBase,
    StepFacts,
)
from ombudsman.contracts.replies import Conflict, Invalid
from ombudsman.gateway.deps import BusDep, CurrentUser, Writer, visible_project, visible_run
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.routes.project_params import PID, RID, Side
from ombudsman.gateway.schemas import Input

router = APIRouter(tags=["assist"], responses=COMMON_ERRORS)

LLM_WAIT = 180.0  # the model may take a while (OMB_LLM_TIMEOUT per question, 60 s by default)
EXPLAINED = ("failed", "error", "warning")


class DescribeIn(Input, DescribeColumnsBase):
    """The table whose columns the model describes (names and types only go to it)."""


class ApproveDescriptionIn(Input, ApproveDescriptionBase):
    """A column's description approved: the model's draft, or the text given."""


class RejectDescriptionIn(Input, DescriptionRef):
    """The model's draft description of a column, rejected."""


class DraftCheckIn(Input, DraftCheckBase):
    """What to check, in a sentence."""


@router.post("/projects/{project_id}/catalog/descriptions/suggest",
             summary="The model drafts a description of each column of a table (drafts wait for approval)")
async def suggest_descriptions(project_id: PID, body: DescribeIn, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("metadata", "describe_columns", {**body.model_dump(exclude_none=True),
                                                              "project_id": project_id}, user.actor, wait=LLM_WAIT)


@router.get("/projects/{project_id}/catalog/descriptions",
            summary="Column descriptions of a side (or a table): approved, and the model's drafts")
async def column_descriptions(project_id: PID, user: CurrentUser, bus: BusDep, side: Side = "source",
                              table: Annotated[str | None, Query(min_length=3, max_length=400)] = None) -> Any:
    await visible_project(bus, user, project_id)
    payload = {"project_id": project_id, "side": side, **({"table": table} if table else {})}
    return await bus.query("metadata", "descriptions", payload, user.actor)


@router.post("/projects/{project_id}/catalog/descriptions/approve",
             summary="Approve the model's draft description of a column (or give the text): it becomes the "
                     "column's description in the catalog")
async def approve_description(project_id: PID, body: ApproveDescriptionIn, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("metadata", "approve_description", {**body.model_dump(exclude_none=True),
                                                                 "project_id": project_id}, user.actor)


@router.post("/projects/{project_id}/catalog/descriptions/reject",
             summary="Reject the model's draft description of a column")
async def reject_description(project_id: PID, body: RejectDescriptionIn, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("metadata", "reject_description", {**body.model_dump(), "project_id": project_id},
                             user.actor)


@router.post("/runs/{run_id}/steps/{step}/explain", tags=["runs"],
             summary="The model explains a failed step in plain words (told names and counts only; recorded)")
async def explain_step(run_id: RID, step: Annotated[str, Path(min_length=1, max_length=128)], user: Writer,
                       bus: BusDep) -> Any:
    run = await visible_run(bus, user, run_id)
    project_id = run.get("project_id")
    if not project_id:
        raise Invalid(f"run {run_id} belongs to no project: an explanation is recorded with the run's project",
                      {"run_id": run_id})
    found = await bus.query("executor", "step", {"run_id": run_id, "step": step}, user.actor)
    if found.get("status") not in EXPLAINED:
        state = found.get("status") or found.get("state") or "not finished"
        raise Conflict(f"step {step!r} of run {run_id} is {state}: only a failed, errored or warning step is "
                       "explained", {"run_id": run_id, "step": step, "status": state})
    facts = StepFacts.of_step(found)  # names, counts and the message without values: never the sample
    return await bus.command("metadata", "explain_step", {"project_id": project_id, "run_id": run_id,
                                                          "facts": facts.model_dump(mode="json")},
                             user.actor, wait=LLM_WAIT)


@router.post("/projects/{project_id}/checks/draft", tags=["pipelines"],
             summary="The model drafts a custom_query step from a sentence (SQL checked; saved only when you "
                     "save it in a pipeline)")
async def draft_check(project_id: PID, body: DraftCheckIn, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("metadata", "draft_check", {**body.model_dump(exclude_none=True),
                                                         "project_id": project_id}, user.actor, wait=LLM_WAIT)

"""Pipelines of a project: save, list, get, delete, execute, history, Mermaid diagram, templates; the
validator catalogue steps are written from."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from ombudsman.contracts.commands.executor import RunName
from ombudsman.contracts.commands.projects import PipelineBase
from ombudsman.contracts.mermaid import to_mermaid
from ombudsman.contracts.pipeline import load_pipeline
from ombudsman.gateway.deps import BusDep, CurrentUser, Writer, visible_project
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.routes.project_params import PID, PLID
from ombudsman.gateway.schemas import Input
from ombudsman.gateway.templates import TEMPLATES

router = APIRouter(tags=["pipelines"], responses=COMMON_ERRORS)



class PipelineIn(Input, PipelineBase):
    """A pipeline to save: its YAML spec, name, description and tags."""


class ExecuteIn(Input, RunName):
    """Optionally, a name for the run."""


@router.get("/pipelines/templates", summary="Default pipeline templates")
async def templates(user: CurrentUser) -> Any:
    return {"items": TEMPLATES, "total": len(TEMPLATES)}


@router.get("/validators", summary="The validators a step may name, each with its parameters' JSON Schema")
async def validator_catalogue(user: CurrentUser, bus: BusDep) -> Any:
    """The engine's registry as the projects service (which checks saved pipelines against it) knows
    it: name, category, description, `needs_table` and `parameters` (JSON Schema) of each validator;
    what the Studio's pipeline builder generates its step forms from."""
    return await bus.query("projects", "validators", {}, user.actor)


@router.get("/projects/{project_id}/pipelines")
async def list_pipelines(project_id: PID, user: CurrentUser, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("projects", "pipelines", {"project_id": project_id}, user.actor)


@router.post("/projects/{project_id}/pipelines", status_code=201)
async def save_pipeline(project_id: PID, body: PipelineIn, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    load_pipeline(body.yaml)  # PipelineError (422) names every problem before anything is stored
    payload = {"project_id": project_id, **body.model_dump(exclude_none=True)}
    return await bus.command("projects", "save_pipeline", payload, user.actor)


@router.put("/projects/{project_id}/pipelines/{pipeline_id}")
async def replace_pipeline(project_id: PID, pipeline_id: PLID, body: PipelineIn, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    load_pipeline(body.yaml)
    payload = {"project_id": project_id, **body.model_dump(exclude_none=True), "pipeline_id": pipeline_id}
    return await bus.command("projects", "save_pipeline", payload, user.actor)


@router.get("/projects/{project_id}/pipelines/{pipeline_id}")
async def get_pipeline(project_id: PID, pipeline_id: PLID, user: CurrentUser, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("projects", "pipeline", {"project_id": project_id, "pipeline_id": pipeline_id}, user.actor)


@router.delete("/projects/{project_id}/pipelines/{pipeline_id}", status_code=204)
async def delete_pipeline(project_id: PID, pipeline_id: PLID, user: Writer, bus: BusDep) -> None:
    await visible_project(bus, user, project_id)
    await bus.command("projects", "delete_pipeline", {"project_id": project_id, "pipeline_id": pipeline_id}, user.actor)


@router.post("/projects/{project_id}/pipelines/{pipeline_id}/execute", status_code=202,
             summary="Queue a run of the pipeline")
async def execute_pipeline(project_id: PID, pipeline_id: PLID, user: Writer, bus: BusDep,
                           body: ExecuteIn | None = None) -> Any:
    await visible_project(bus, user, project_id)
    payload: dict[str, Any] = {"project_id": project_id, "pipeline_id": pipeline_id}
    if body and body.name:
        payload["name"] = body.name
    return await bus.command("executor", "queue_run", payload, user.actor)


@router.get("/projects/{project_id}/pipelines/{pipeline_id}/history", tags=["results"])
async def pipeline_history(project_id: PID, pipeline_id: PLID, user: CurrentUser, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("executor", "history", {"project_id": project_id, "pipeline_id": pipeline_id}, user.actor)


@router.get("/projects/{project_id}/pipelines/{pipeline_id}/mermaid", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {}}, "description": "Mermaid flowchart"}})
async def pipeline_diagram(project_id: PID, pipeline_id: PLID, user: CurrentUser, bus: BusDep) -> PlainTextResponse:
    await visible_project(bus, user, project_id)
    pipeline = await bus.query("projects", "pipeline", {"project_id": project_id, "pipeline_id": pipeline_id},
                               user.actor)
    spec = load_pipeline(pipeline.get("yaml") or "")
    return PlainTextResponse(to_mermaid(spec), media_type="text/plain")

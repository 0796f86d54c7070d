"""Workload (Query Store export) uploads, and a workload by id: get, analyze, suggestions, pipeline generation.

Uploads cross NATS as a path in the folder shared with the workload service (see gateway.uploads);
only small JSON-inline content (`OMB_WORKLOAD_INLINE_MAX_BYTES`, 512 KiB) is sent inline.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Request, UploadFile

from ombudsman.contracts.commands.workload import GeneratePipelineBase, UploadFormat, WorkloadUploadCreate
from ombudsman.contracts.replies import NotFound
from ombudsman.gateway.deps import BusDep, CurrentUser, Principal, Writer, require_member, visible_project
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.routes.project_params import PID
from ombudsman.gateway.schemas import Input
from ombudsman.gateway.settings import GatewaySettings
from ombudsman.gateway.uploads import staged_file, staged_text

router = APIRouter(tags=["workload"], responses=COMMON_ERRORS)

WID = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
UPLOAD_WAIT = 300.0  # reading and grouping 100,000 queries takes a while


class WorkloadIn(Input, WorkloadUploadCreate):
    """A Query Store export as JSON text (contracts.commands.workload)."""


class GeneratePipelineIn(Input, GeneratePipelineBase):
    """Which suggestions make the pipeline, the schema map of its target side, whether to save it."""


async def _visible_workload(bus: Any, user: Principal, workload_id: str) -> dict[str, Any]:
    try:
        workload = await bus.query("workload", "get", {"workload_id": workload_id}, user.actor)
        await require_member(bus, user, str(workload.get("project_id")))
    except NotFound:
        raise NotFound(f"workload {workload_id!r} not found", {"workload_id": workload_id}) from None
    return workload


def _settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


@router.post("/projects/{project_id}/workloads", status_code=201, summary="Upload a Query Store export as JSON text")
async def upload_workload(project_id: PID, body: WorkloadIn, user: Writer, bus: BusDep, request: Request) -> Any:
    await visible_project(bus, user, project_id)
    settings = _settings(request)
    payload: dict[str, Any] = {"project_id": project_id, **body.model_dump(exclude={"content"}, exclude_none=True)}
    if len(body.content.encode("utf-8")) <= settings.workload_inline_max_bytes:
        return await bus.command("workload", "upload", {**payload, "content": body.content}, user.actor,
                                 wait=UPLOAD_WAIT)
    async with staged_text(body.content, settings.upload_dir()) as path:
        return await bus.command("workload", "upload", {**payload, "path": str(path)}, user.actor, wait=UPLOAD_WAIT)


@router.post("/projects/{project_id}/workloads/file", status_code=201,
             summary="Upload a Query Store export as a file (multipart; size limit OMB_WORKLOAD_UPLOAD_MAX_BYTES)")
async def upload_workload_file(
    project_id: PID, user: Writer, bus: BusDep, request: Request,
    file: Annotated[UploadFile, File(description="Query Store export")],
    format: Annotated[UploadFormat, Form()] = "json",
) -> Any:
    await visible_project(bus, user, project_id)
    settings = _settings(request)
    async with staged_file(file, settings.upload_dir(), settings.workload_upload_max_bytes) as path:
        payload = {"project_id": project_id, "filename": file.filename or "workload", "format": format,
                   "path": str(path)}
        return await bus.command("workload", "upload", payload, user.actor, wait=UPLOAD_WAIT)


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
    """A pipeline of the workload's suggestions; its target side goes through `schema_map`, else the
    project's schema mappings."""
    await _visible_workload(bus, user, workload_id)
    payload: dict[str, Any] = {"workload_id": workload_id, **(body.model_dump(exclude_none=True) if body else {})}
    return await bus.command("workload", "generate_pipeline", payload, user.actor, wait=120)

"""Runs, their steps and exports, and batches of runs."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import model_validator

from ombudsman.contracts.commands.executor import BatchCreate, RunBase
from ombudsman.contracts.pipeline import load_pipeline
from ombudsman.contracts.replies import Invalid, Unavailable
from ombudsman.contracts.results import PipelinePlan
from ombudsman.eventstore.files import read_file
from ombudsman.gateway.deps import (
    BusDep,
    CurrentUser,
    Limit,
    Offset,
    Principal,
    Writer,
    visible_batch,
    visible_project,
    visible_run,
)
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.routes.project_params import BID, RID
from ombudsman.gateway.schemas import Input, JSONBody, Page, page_body

router = APIRouter(tags=["runs"], responses=COMMON_ERRORS)

ExportFormat = Literal["json", "csv", "xlsx", "excel", "pdf", "junit", "html"]
DifferenceKind = Literal["only_in_source", "only_in_target", "changed", "duplicate_in_source", "duplicate_in_target"]
CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "junit": "application/xml",
    "html": "text/html; charset=utf-8",
    "jsonl": "application/x-ndjson",
}
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file", "content": {
        ct.split(";")[0]: {"schema": {} if ct == "application/json" else {"type": "string", "format": "binary"}}
        for ct in CONTENT_TYPES.values()
    }},
}
_SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


class RunIn(Input, RunBase):
    """A run of a saved pipeline (project_id + pipeline_id) or of pipeline YAML given here."""

    @model_validator(mode="after")
    def _one_source(self) -> RunIn:
        if bool(self.pipeline_id) == bool(self.pipeline_yaml):
            raise ValueError("give either pipeline_id (with project_id) or pipeline_yaml")
        if self.pipeline_id and not self.project_id:
            raise ValueError("pipeline_id needs project_id")
        return self


class BatchIn(Input, BatchCreate):
    """A batch of saved pipelines (contracts.commands.executor)."""


# --- runs ------------------------------------------------------------------------------------


PLAN_WAIT = 30.0  # a worker reads statistics and times a bounded scan per side and step


@router.post("/runs", status_code=202, summary="Queue a run (dry_run=true: its price, nothing run)",
             responses={200: {"model": PipelinePlan, "description": "dry_run=true: per step, the rows and bytes "
                              "each side will scan, seconds and (Snowflake) credits; no run is queued or recorded"}})
async def queue_run(body: RunIn, user: Writer, bus: BusDep, dry_run: Annotated[bool, Query(
        description="price the run instead of queueing it (a step worker reads table statistics)")] = False) -> Any:
    if body.project_id:
        await visible_project(bus, user, body.project_id)
    if body.pipeline_yaml:
        load_pipeline(body.pipeline_yaml)
    if dry_run:
        plan = await bus.query("executor", "plan_run", body.model_dump(exclude_none=True), user.actor, wait=PLAN_WAIT)
        return JSONResponse(PipelinePlan.model_validate(plan).model_dump(mode="json"), status_code=200)
    return await bus.command("executor", "queue_run", body.model_dump(exclude_none=True), user.actor)


@router.get("/runs", response_model=Page, summary="Runs, newest first, filtered")
async def list_runs(
    user: CurrentUser, bus: BusDep, offset: Offset = 0, limit: Limit = 50,
    project_id: Annotated[str | None, Query(max_length=100)] = None,
    pipeline_id: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=50)] = None,
    since: datetime | None = None, until: datetime | None = None,
) -> Any:
    if project_id:
        await visible_project(bus, user, project_id)
    elif not user.is_admin:
        raise Invalid("project_id is required (only an admin lists runs across projects)", {"field": "project_id"})
    payload: dict[str, Any] = {"offset": offset, "limit": limit, "project_id": project_id, "pipeline_id": pipeline_id,
                               "status": status, "since": since.isoformat() if since else None,
                               "until": until.isoformat() if until else None}
    result = await bus.query("executor", "runs", {k: v for k, v in payload.items() if v is not None}, user.actor)
    return page_body(result, offset, limit)


@router.get("/runs/{run_id}", summary="A run's status and summary")
async def get_run(run_id: RID, user: CurrentUser, bus: BusDep) -> Any:
    return JSONBody(await visible_run(bus, user, run_id))


@router.get("/runs/{run_id}/steps")
async def run_steps(run_id: RID, user: CurrentUser, bus: BusDep) -> Any:
    await visible_run(bus, user, run_id)
    return JSONBody(await bus.query("executor", "steps", {"run_id": run_id}, user.actor))


@router.get("/runs/{run_id}/steps/{step}", summary="One step of a run, its result whole (sample included)")
async def run_step(run_id: RID, step: Annotated[str, Path(min_length=1, max_length=128)], user: CurrentUser,
                   bus: BusDep) -> Any:
    await visible_run(bus, user, run_id)
    return await bus.query("executor", "step", {"run_id": run_id, "step": step}, user.actor)


@router.get("/runs/{run_id}/steps/{step}/differences",
            summary="Every difference a step's row diff found, a page at a time (one line per differing column)")
async def step_differences(run_id: RID, step: Annotated[str, Path(min_length=1, max_length=128)], user: CurrentUser,
                           bus: BusDep, offset: Annotated[int, Query(ge=0)] = 0,
                           limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
                           kind: Annotated[DifferenceKind | None, Query(description="only lines of this kind")] = None,
                           column: Annotated[str | None, Query(min_length=1, max_length=256,
                                                               description="only lines naming this column")] = None
                           ) -> Any:
    """A page of the step's differences (filtered by kind and column when given), how many match,
    and `columns`: every column the step's differences name (for a filter)."""
    await visible_run(bus, user, run_id)
    return await bus.query("executor", "differences", {"run_id": run_id, "step": step, "offset": offset,
                                                       "limit": limit, "kind": kind, "column": column}, user.actor)


@router.post("/runs/{run_id}/cancel")
async def cancel_run(run_id: RID, user: Writer, bus: BusDep) -> Any:
    await visible_run(bus, user, run_id)
    return await bus.command("executor", "cancel_run", {"run_id": run_id}, user.actor)


@router.get("/runs/{run_id}/export", tags=["results"], summary="The run's report as a file",
            response_class=Response, responses=FILE_RESPONSES)
async def export_run(run_id: RID, user: CurrentUser, bus: BusDep, format: ExportFormat = "json",
                     sample_rows: Annotated[int, Query(ge=1, le=100_000, description="rows per failing step in "
                                                       "the PDF/Excel/HTML report (from the full difference list)")]
                     = 1000) -> Response:
    await visible_run(bus, user, run_id)
    wire_format = "xlsx" if format == "excel" else format
    result = await bus.query("executor", "export", {"run_id": run_id, "format": wire_format, "sample_rows": sample_rows},
                             user.actor, wait=120)
    return await file_response(bus, result, wire_format)


async def file_response(bus: Any, result: dict[str, Any] | str, file_format: str) -> Response:
    """A download from a service's file reply: inline (`content_b64`, `content`) or, for a file too
    large for one bus message, a reference (`object`) into the `OMB_FILES` object store. The content
    type follows the format asked for, so it is always one the API documents."""
    if isinstance(result, str):  # a service may answer text (jsonl, csv) directly
        result = {"content": result}
    try:
        if "object" in result:
            content = await read_file(bus.nc.jetstream(), str(result["object"]))
        elif "content_b64" in result:
            content = base64.b64decode(result["content_b64"], validate=True)
        else:
            content = str(result["content"]).encode()
    except (KeyError, TypeError, binascii.Error):
        raise Unavailable("the export service sent an unreadable file", {"reason": "bad export reply"}) from None
    filename = _SAFE_FILENAME.sub("_", str(result.get("filename") or f"export.{file_format}"))[:200]
    return Response(
        content,
        media_type=CONTENT_TYPES.get(file_format, "application/octet-stream"),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- batches ----------------------------------------------------------------------------------


@router.post("/batches", status_code=201, tags=["batches"])
async def create_batch(body: BatchIn, user: Writer, bus: BusDep) -> Any:
    for project_id in {p.project_id for p in body.pipelines}:
        await visible_project(bus, user, project_id)
    return await bus.command("executor", "create_batch", body.model_dump(), user.actor)


@router.get("/batches", response_model=Page, tags=["batches"])
async def list_batches(user: CurrentUser, bus: BusDep, offset: Offset = 0, limit: Limit = 50) -> Any:
    result = await bus.query("executor", "batches", {"offset": offset, "limit": limit}, user.actor)
    page = Page.of(result, offset, limit)
    if user.is_admin:
        return page
    # The executor's list carries no project ids: read each batch on the page and keep those whose
    # every pipeline belongs to one of the caller's projects. (`total` then counts this page only.)
    allowed = await _member_projects(bus, user)
    details = await asyncio.gather(*(bus.query("executor", "batch", {"batch_id": b.get("batch_id")}, user.actor)
                                     for b in page.items), return_exceptions=True)
    kept = [item for item, detail in zip(page.items, details, strict=True)
            if isinstance(detail, dict) and detail.get("pipelines")
            and all(p.get("project_id") in allowed for p in detail["pipelines"] if isinstance(p, dict))]
    return Page(items=kept, total=len(kept), offset=offset, limit=limit)


async def _member_projects(bus: Any, user: Principal) -> set[str]:
    """Ids of every project the user belongs to (paged through the projects service's 500-item pages)."""
    ids: set[str] = set()
    offset = 0
    while True:
        result = await bus.query("projects", "list", {"member": user.id, "offset": offset, "limit": 500}, user.actor)
        items = (result or {}).get("items", [])
        ids.update(str(p.get("id")) for p in items)
        offset += len(items)
        if not items or offset >= int((result or {}).get("total", 0)):
            return ids


@router.get("/batches/{batch_id}", tags=["batches"])
async def get_batch(batch_id: BID, user: CurrentUser, bus: BusDep) -> Any:
    return await visible_batch(bus, user, batch_id)


@router.post("/batches/{batch_id}/execute", status_code=202, tags=["batches"])
async def execute_batch(batch_id: BID, user: Writer, bus: BusDep) -> Any:
    await visible_batch(bus, user, batch_id)
    return await bus.command("executor", "execute_batch", {"batch_id": batch_id}, user.actor)


@router.post("/batches/{batch_id}/cancel", tags=["batches"])
async def cancel_batch(batch_id: BID, user: Writer, bus: BusDep) -> Any:
    await visible_batch(bus, user, batch_id)
    return await bus.command("executor", "cancel_batch", {"batch_id": batch_id}, user.actor)


@router.post("/batches/{batch_id}/retry", status_code=202, tags=["batches"])
async def retry_batch(batch_id: BID, user: Writer, bus: BusDep) -> Any:
    await visible_batch(bus, user, batch_id)
    return await bus.command("executor", "retry_batch", {"batch_id": batch_id}, user.actor)


@router.delete("/batches/{batch_id}", status_code=204, tags=["batches"])
async def delete_batch(batch_id: BID, user: Writer, bus: BusDep) -> None:
    await visible_batch(bus, user, batch_id)
    await bus.command("executor", "delete_batch", {"batch_id": batch_id}, user.actor)

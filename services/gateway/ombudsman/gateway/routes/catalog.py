"""A project's catalogs (the metadata service): extract, upload DDL (inline or as a file), read a page
of a catalog, what changed since the previous extraction, the whole catalog as YAML, extraction
status, DDL for the target."""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from ombudsman.contracts.commands.metadata import DdlCreate, DdlDialect, ExtractCreate, TargetDdlKind
from ombudsman.gateway.deps import BusDep, CurrentUser, Offset, Writer, visible_project
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.routes.project_params import PID, Side
from ombudsman.gateway.schemas import Input
from ombudsman.gateway.settings import GatewaySettings
from ombudsman.gateway.uploads import staged_file

router = APIRouter(tags=["projects"], responses=COMMON_ERRORS)


class ExtractIn(Input, ExtractCreate):
    """Which side's catalog to extract (both when left out), over which connection, of which schemas."""


class DdlIn(Input, DdlCreate):
    """CREATE TABLE statements of one side, inline."""


@router.post("/projects/{project_id}/extract-metadata", tags=["metadata"],
             summary="Extract the catalog of one side, or of both")
async def extract_metadata(project_id: PID, user: Writer, bus: BusDep, body: ExtractIn | None = None) -> Any:
    await visible_project(bus, user, project_id)
    body = body or ExtractIn()
    options = body.model_dump(exclude_none=True, exclude={"side"})
    sides = [body.side] if body.side else ["source", "target"]
    results = {}
    for side in sides:
        results[side] = await bus.command("metadata", "extract", {"project_id": project_id, "side": side, **options},
                                          user.actor, wait=300)
    return results


@router.post("/projects/{project_id}/ddl", tags=["metadata"], summary="Upload DDL instead of extracting")
async def upload_ddl(project_id: PID, body: DdlIn, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    payload = {"project_id": project_id, **body.model_dump(exclude_none=True)}
    return await bus.command("metadata", "upload_ddl", payload, user.actor, wait=120)


@router.post("/projects/{project_id}/ddl/file", tags=["metadata"],
             summary="Upload a .sql file of DDL (multipart; size limit OMB_DDL_UPLOAD_MAX_BYTES, default 64 MiB)")
async def upload_ddl_file(
    project_id: PID, user: Writer, bus: BusDep, request: Request,
    file: Annotated[UploadFile, File(description="CREATE TABLE statements, UTF-8")],
    side: Annotated[Side, Form()],
    dialect: Annotated[DdlDialect, Form()],
    database: Annotated[str | None, Form(max_length=200)] = None,
    default_schema: Annotated[str | None, Form(max_length=200)] = None,
) -> Any:
    """Large catalogs go this way: the file is streamed to the upload folder shared with the
    metadata service (`OMB_WORKLOAD_UPLOAD_DIR`), which parses it from there (no bus size limit)."""
    await visible_project(bus, user, project_id)
    settings: GatewaySettings = request.app.state.settings
    async with staged_file(file, settings.upload_dir(), settings.ddl_upload_max_bytes) as path:
        payload = {"project_id": project_id, "side": side, "dialect": dialect, "path": str(path),
                   "database": database, "default_schema": default_schema}
        return await bus.command("metadata", "upload_ddl", {k: v for k, v in payload.items() if v is not None},
                                 user.actor, wait=300)


@router.get("/projects/{project_id}/catalog", tags=["metadata"],
            summary="A side's catalog, a page of tables at a time (total_tables says how many match)")
async def catalog(project_id: PID, user: CurrentUser, bus: BusDep, side: Side = "source",
                  offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                  schema: Annotated[str | None, Query(max_length=200, description="only this schema")] = None,
                  q: Annotated[str | None, Query(max_length=200, description="table names containing this")] = None,
                  ) -> Any:
    await visible_project(bus, user, project_id)
    payload = {"project_id": project_id, "side": side, "offset": offset, "limit": limit, "schema": schema, "q": q}
    return await bus.query("metadata", "catalog", {k: v for k, v in payload.items() if v is not None}, user.actor)


@router.get("/projects/{project_id}/catalog/changes", tags=["metadata"],
            summary="What changed in a side's catalog between its last two extractions (or uploads)")
async def catalog_changes(project_id: PID, user: CurrentUser, bus: BusDep, side: Side = "source") -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("metadata", "changes", {"project_id": project_id, "side": side}, user.actor)


@router.get("/projects/{project_id}/catalog/export", tags=["metadata"], response_class=Response,
            responses={200: {"description": "The catalog as YAML", "content": {"application/yaml": {}}}},
            summary="A side's whole catalog as a YAML file (tables, columns, types, keys, row counts)")
async def catalog_export(project_id: PID, user: CurrentUser, bus: BusDep, side: Side = "source") -> Response:
    await visible_project(bus, user, project_id)
    # read a page at a time: a large catalog does not fit one bus reply
    first: dict[str, Any] = {}
    tables: list[Any] = []
    offset: int | None = 0
    while offset is not None:
        page = await bus.query("metadata", "catalog", {"project_id": project_id, "side": side, "offset": offset,
                                                       "limit": 1000}, user.actor)
        first = first or page
        tables += page.get("tables") or []
        following = page.get("next_offset")
        offset = int(following) if following is not None and int(following) > offset else None
    document = {k: v for k, v in first.items() if k not in ("tables", "total_tables", "offset", "limit", "next_offset")}
    document["tables"] = tables
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return Response(body, media_type="application/yaml", headers={
        "Content-Disposition": f'attachment; filename="{project_id}-{side}-catalog.yaml"'})


@router.get("/projects/{project_id}/metadata-status", tags=["metadata"])
async def metadata_status(project_id: PID, user: CurrentUser, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("metadata", "status", {"project_id": project_id}, user.actor)


@router.get("/projects/{project_id}/target-ddl", tags=["metadata"], summary="DDL for the target from the source catalog")
async def target_ddl(project_id: PID, user: CurrentUser, bus: BusDep,
                     dialect: TargetDdlKind = "snowflake") -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("metadata", "target_ddl", {"project_id": project_id, "target": dialect}, user.actor)

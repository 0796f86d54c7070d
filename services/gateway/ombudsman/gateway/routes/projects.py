"""Projects, members, connections, schema mappings, metadata, mapping and workload lists of a project
(uploads: routes/workloads.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ombudsman.contracts.replies import Invalid
from ombudsman.gateway.deps import BusDep, CurrentUser, Limit, Offset, Writer, forget_project, visible_project
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.schemas import Input, Page
from ombudsman.gateway.settings import GatewaySettings
from ombudsman.gateway.uploads import staged_file

router = APIRouter(tags=["projects"], responses=COMMON_ERRORS)

PID = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
JobId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
NAME = Annotated[str, Path(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9_-]+$")]
Side = Literal["source", "target"]
# DDL in a JSON body travels inline in one NATS message (1 MiB by default): larger catalogs go as a
# file (POST /projects/{id}/ddl/file) through the shared upload folder.
MAX_DDL_CHARS = 900 * 1024


class ProjectIn(Input):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=2, max_length=63, pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    source_database: str | None = Field(default=None, max_length=200)
    source_schemas: list[str] = Field(default_factory=list, max_length=200)
    target_database: str | None = Field(default=None, max_length=200)
    target_schemas: list[str] = Field(default_factory=list, max_length=200)


class ProjectPatch(Input):
    model_config = ConfigDict(extra="forbid")
    expected_version: int | None = Field(default=None, ge=0)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    source_database: str | None = Field(default=None, max_length=200)
    source_schemas: list[str] | None = Field(default=None, max_length=200)
    target_database: str | None = Field(default=None, max_length=200)
    target_schemas: list[str] | None = Field(default=None, max_length=200)
    status: str | None = Field(default=None, max_length=50)

    @model_validator(mode="after")
    def _no_null_for_required(self) -> ProjectPatch:
        # Omit a field to keep it; only the databases may be cleared with null.
        nulled = [f for f in ("name", "description", "source_schemas", "target_schemas", "status")
                  if f in self.model_fields_set and getattr(self, f) is None]
        if nulled:
            raise ValueError(f"{', '.join(nulled)}: may be omitted but not null")
        return self


class MemberIn(Input):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=100)


class ConnectionIn(Input):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,63}$")
    kind: Literal["sqlserver", "snowflake", "postgres", "duckdb"] | None = None
    role: Literal["source", "target", "other"] = "other"
    url: str = Field(min_length=3, max_length=4000, json_schema_extra={"format": "password"},
                     description="SQLAlchemy-style URL; its secret is encrypted at rest and never returned")


class SchemaMappingIn(Input):
    model_config = ConfigDict(extra="forbid")
    source_schema: str = Field(min_length=1, max_length=200)
    target_schema: str = Field(min_length=1, max_length=200)


class ExtractIn(Input):
    model_config = ConfigDict(extra="forbid")
    side: Side | None = Field(default=None, description="source, target, or both when left out")
    connection: str | None = Field(default=None, max_length=63, description="default: the connection named like the side")
    schemas: list[str] | None = Field(default=None, max_length=200)


class DdlIn(Input):
    model_config = ConfigDict(extra="forbid")
    side: Side
    dialect: Literal["tsql", "sqlserver", "snowflake", "postgres", "duckdb"]
    ddl: str = Field(min_length=1, max_length=MAX_DDL_CHARS,
                     description="CREATE TABLE statements (at most 900 KiB here: upload larger DDL as a file, /ddl/file)")
    database: str | None = Field(default=None, max_length=200)
    default_schema: str | None = Field(default=None, max_length=200)


class SuggestIn(Input):
    model_config = ConfigDict(extra="forbid")
    schema_map: dict[str, str] | None = None
    table_threshold: float | None = Field(default=None, ge=0, le=1)
    column_threshold: float | None = Field(default=None, ge=0, le=1)
    limit: int | None = Field(default=None, ge=0, le=1000,
                              description="table suggestions in the reply (default 100; the rest: GET …/suggestions)")


class AutomateIn(Input):
    model_config = ConfigDict(extra="forbid")
    source_connection: str | None = Field(default=None, max_length=63)
    target_connection: str | None = Field(default=None, max_length=63)
    source_schemas: list[str] | None = Field(default=None, max_length=200)
    target_schemas: list[str] | None = Field(default=None, max_length=200)
    extract: bool | None = Field(default=None, description="False: use catalogs already extracted or uploaded")
    auto_approve_threshold: float | None = Field(default=None, ge=0, le=1)
    schema_map: dict[str, str] | None = None


class MappingDecision(Input):
    model_config = ConfigDict(extra="forbid")
    source_table: str = Field(min_length=1, max_length=400)
    target_table: str = Field(min_length=1, max_length=400)
    columns: dict[str, str] | None = Field(default=None, description="source column -> target column; default: the suggestion's")
    confidence: float | None = Field(default=None, ge=0, le=1)


class ExclusionIn(Input):
    model_config = ConfigDict(extra="forbid")
    source_table: str = Field(min_length=1, max_length=400, description="schema.table of the source")
    columns: list[str] = Field(default_factory=list, max_length=2000,
                               description="columns to exclude; none: the whole table")
    note: str = Field(default="", max_length=2000, description="why (required unless withdraw)")
    withdraw: bool = Field(default=False, description="take the exclusion back")


# --- projects --------------------------------------------------------------------------------


@router.get("/projects", response_model=Page, summary="List the projects you belong to")
async def list_projects(
    user: CurrentUser, bus: BusDep, offset: Offset = 0, limit: Limit = 50,
    status: Annotated[str | None, Query(max_length=50)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text search in name/description")] = None,
) -> Any:
    payload: dict[str, Any] = {"offset": offset, "limit": limit, "status": status, "q": q}
    if not user.is_admin:
        payload["member"] = user.id
    result = await bus.query("projects", "list", {k: v for k, v in payload.items() if v is not None}, user.actor)
    return Page.of(result, offset, limit)


@router.post("/projects", status_code=201, summary="Create a project (you become its member)")
async def create_project(body: ProjectIn, user: Writer, bus: BusDep) -> Any:
    await bus.command("projects", "create", body.model_dump(), user.actor)
    return await bus.query("projects", "get", {"id": body.id}, user.actor)


@router.get("/projects/{project_id}")
async def get_project(project_id: PID, user: CurrentUser, bus: BusDep) -> Any:
    return await visible_project(bus, user, project_id)


@router.patch("/projects/{project_id}")
async def update_project(project_id: PID, body: ProjectPatch, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    changes = body.model_dump(exclude_unset=True, exclude={"expected_version"})
    if not changes:
        raise Invalid("nothing to update", {"fields": []})
    payload: dict[str, Any] = {"id": project_id, "changes": changes}
    if body.expected_version is not None:
        payload["expected_version"] = body.expected_version
    await bus.command("projects", "update", payload, user.actor)
    return await bus.query("projects", "get", {"id": project_id}, user.actor)


@router.delete("/projects/{project_id}", status_code=204)
async def delete_project(project_id: PID, user: Writer, bus: BusDep) -> None:
    await visible_project(bus, user, project_id)
    await bus.command("projects", "delete", {"id": project_id}, user.actor)
    forget_project(bus, project_id)


@router.post("/projects/{project_id}/members", summary="Add a member to a project")
async def add_member(project_id: PID, body: MemberIn, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    await bus.command("projects", "add_member", {"id": project_id, "user_id": body.user_id}, user.actor)
    forget_project(bus, project_id)
    return await bus.query("projects", "get", {"id": project_id}, user.actor)


@router.get("/projects/{project_id}/setup-status")
async def setup_status(project_id: PID, user: CurrentUser, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("projects", "setup_status", {"project_id": project_id}, user.actor)


@router.get("/projects/{project_id}/schema-mappings")
async def schema_mappings(project_id: PID, user: CurrentUser, bus: BusDep) -> Any:
    project = await visible_project(bus, user, project_id)
    return {"project_id": project_id, "schema_mappings": project.get("schema_mappings") or {}}


@router.put("/projects/{project_id}/schema-mappings")
async def set_schema_mapping(project_id: PID, body: SchemaMappingIn, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    await bus.command("projects", "set_schema_mapping", {"project_id": project_id, **body.model_dump()}, user.actor)
    project = await bus.query("projects", "get", {"id": project_id}, user.actor)
    return {"project_id": project_id, "schema_mappings": project.get("schema_mappings") or {}}


# --- connections ------------------------------------------------------------------------------


@router.get("/projects/{project_id}/connections", tags=["connections"])
async def list_connections(project_id: PID, user: CurrentUser, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("projects", "connections", {"project_id": project_id}, user.actor)


@router.post("/projects/{project_id}/connections", status_code=201, tags=["connections"])
async def add_connection(project_id: PID, body: ConnectionIn, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("projects", "add_connection", {"project_id": project_id, **body.model_dump()}, user.actor)


@router.delete("/projects/{project_id}/connections/{name}", status_code=204, tags=["connections"])
async def remove_connection(project_id: PID, name: NAME, user: Writer, bus: BusDep) -> None:
    await visible_project(bus, user, project_id)
    await bus.command("projects", "remove_connection", {"project_id": project_id, "name": name}, user.actor)


@router.post("/projects/{project_id}/connections/{name}/test", tags=["connections"])
async def test_connection(project_id: PID, name: NAME, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("projects", "test_connection", {"project_id": project_id, "name": name}, user.actor,
                             wait=60)


@router.get("/projects/{project_id}/connections/{name}/status", tags=["connections"],
            summary="The connection's last test result")
async def connection_status(project_id: PID, name: NAME, user: CurrentUser, bus: BusDep) -> Any:
    project = await visible_project(bus, user, project_id)
    for connection in project.get("connections") or []:
        if connection.get("name") == name:
            return {"name": name, "kind": connection.get("kind"), "role": connection.get("role"),
                    "last_test": connection.get("last_test")}
    from ombudsman.contracts.replies import NotFound

    raise NotFound(f"connection {name!r} not found in project {project_id!r}", {"connection": name})


class WorkerPool(BaseModel):
    worker: str
    pool_size: int = Field(description="the most driver connections this worker opens for the connection")
    open: int
    in_use: int
    idle: int
    steps_using: int = Field(description="steps running on it now")
    steps_served: int = Field(description="steps it has served since it was opened")
    opened_at: str
    idle_seconds: float


class PoolTotals(BaseModel):
    workers: int = Field(description="workers holding the connection open")
    open: int
    in_use: int
    idle: int


class ConnectionPool(BaseModel):
    connection: str
    kind: str | None
    workers_answering: int = Field(description="step workers that answered (those without the connection too)")
    pools: list[WorkerPool]
    totals: PoolTotals


@router.get("/projects/{project_id}/connections/{name}/pool", tags=["connections"], response_model=ConnectionPool,
            summary="The connection's pools on the step workers now")
async def connection_pool(project_id: PID, name: NAME, user: CurrentUser, bus: BusDep) -> Any:
    """Step workers keep a project's connections open between steps (closed after
    `OMB_WORKER_CONNECTION_IDLE_SECONDS` unused); this shows each worker's pool of it: driver
    connections open, in use and idle, and the steps it served. Empty between runs. DuckDB
    connections are opened per step and never appear."""
    project = await visible_project(bus, user, project_id)
    known = next((c for c in project.get("connections") or [] if c.get("name") == name), None)
    if known is None:
        from ombudsman.contracts.replies import NotFound

        raise NotFound(f"connection {name!r} not found in project {project_id!r}", {"connection": name})
    workers = await bus.worker_stats({"project_id": project_id, "connection": name}, user.actor)
    pools = [WorkerPool(worker=str(w.get("worker")), **{k: v for k, v in c.items() if k in WorkerPool.model_fields})
             for w in workers for c in w.get("connections") or []
             if c.get("project_id") == project_id and c.get("connection") == name]
    totals = PoolTotals(workers=len({p.worker for p in pools}), open=sum(p.open for p in pools),
                        in_use=sum(p.in_use for p in pools), idle=sum(p.idle for p in pools))
    return ConnectionPool(connection=name, kind=known.get("kind"), workers_answering=len(workers), pools=pools,
                          totals=totals)


# --- metadata and mapping ---------------------------------------------------------------------


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
    dialect: Annotated[Literal["tsql", "sqlserver", "snowflake", "postgres", "duckdb"], Form()],
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


@router.get("/projects/{project_id}/metadata-status", tags=["metadata"])
async def metadata_status(project_id: PID, user: CurrentUser, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("metadata", "status", {"project_id": project_id}, user.actor)


@router.get("/projects/{project_id}/relationships", tags=["metadata"])
async def relationships(project_id: PID, user: CurrentUser, bus: BusDep, side: Side = "source") -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("metadata", "relationships", {"project_id": project_id, "side": side}, user.actor)


@router.post("/projects/{project_id}/infer-relationships", tags=["metadata"])
async def infer_relationships(project_id: PID, user: Writer, bus: BusDep, side: Side = "source") -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("metadata", "infer_relationships", {"project_id": project_id, "side": side}, user.actor,
                             wait=300)


@router.get("/projects/{project_id}/classification", tags=["metadata"])
async def classification(project_id: PID, user: CurrentUser, bus: BusDep, side: Side = "source") -> Any:
    await visible_project(bus, user, project_id)
    tables: list[Any] = []
    offset: int | None = 0
    while offset is not None:  # the bus carries it page by page; HTTP gets it whole
        page = await bus.query("metadata", "classification", {"project_id": project_id, "side": side,
                                                              "offset": offset}, user.actor)
        tables += page.get("tables") or []
        offset = page.get("next_offset")
    return {"tables": tables, "counts": page.get("counts") or {}}


@router.post("/projects/{project_id}/classify", tags=["metadata"])
async def classify(project_id: PID, user: Writer, bus: BusDep, side: Side = "source") -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("metadata", "classify", {"project_id": project_id, "side": side}, user.actor, wait=120)


@router.get("/projects/{project_id}/target-ddl", tags=["metadata"], summary="DDL for the target from the source catalog")
async def target_ddl(project_id: PID, user: CurrentUser, bus: BusDep,
                     dialect: Literal["snowflake", "postgres", "duckdb", "tsql"] = "snowflake") -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("metadata", "target_ddl", {"project_id": project_id, "target": dialect}, user.actor)


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


PageLimit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/projects/{project_id}/mappings", tags=["mapping"], summary="Approved mappings, a page at a time")
async def mappings(project_id: PID, user: CurrentUser, bus: BusDep, offset: Offset = 0, limit: PageLimit = 100) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("metadata", "mappings", {"project_id": project_id, "offset": offset, "limit": limit},
                           user.actor)


@router.get("/projects/{project_id}/mappings/suggestions", tags=["mapping"],
            summary="The latest suggestions, a page of tables at a time (total_tables says how many)")
async def mapping_suggestions(project_id: PID, user: CurrentUser, bus: BusDep, offset: Offset = 0,
                              limit: PageLimit = 100) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("metadata", "suggestions", {"project_id": project_id, "offset": offset, "limit": limit},
                           user.actor)


@router.post("/projects/{project_id}/mappings/suggest", tags=["mapping"])
async def suggest_mappings(project_id: PID, user: Writer, bus: BusDep, body: SuggestIn | None = None) -> Any:
    await visible_project(bus, user, project_id)
    payload = {"project_id": project_id, **(body.model_dump(exclude_none=True) if body else {})}
    return await bus.command("metadata", "suggest", payload, user.actor, wait=120)


@router.post("/projects/{project_id}/mappings/approve", tags=["mapping"])
async def approve_mapping(project_id: PID, body: MappingDecision, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("metadata", "approve", {**body.model_dump(exclude_none=True), "project_id": project_id},
                             user.actor)


@router.post("/projects/{project_id}/mappings/reject", tags=["mapping"])
async def reject_mapping(project_id: PID, body: MappingDecision, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    payload = {"project_id": project_id, "source_table": body.source_table, "target_table": body.target_table}
    return await bus.command("metadata", "reject", payload, user.actor)


@router.post("/projects/{project_id}/mappings/exclude", tags=["mapping"],
             summary="Exclude a source table or columns from coverage, with a note (or withdraw it)")
async def exclude_mapping(project_id: PID, body: ExclusionIn, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("metadata", "exclude", {**body.model_dump(), "project_id": project_id}, user.actor)


@router.get("/projects/{project_id}/mappings/exclusions", tags=["mapping"],
            summary="Source tables and columns excluded from coverage, with their notes")
async def mapping_exclusions(project_id: PID, user: CurrentUser, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("metadata", "exclusions", {"project_id": project_id}, user.actor)


# --- results of a project ---------------------------------------------------------------------


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


# --- workload --------------------------------------------------------------------------------


@router.get("/projects/{project_id}/workloads", tags=["workload"])
async def list_workloads(project_id: PID, user: CurrentUser, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.query("workload", "list", {"project_id": project_id}, user.actor)

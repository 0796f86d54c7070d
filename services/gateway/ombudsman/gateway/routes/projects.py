"""Projects, their members and schema mappings (the projects service). The other routes under
/projects/{project_id} live with their backing service: connections.py, catalog.py, relationships.py,
automate.py, mappings.py, project_results.py, project_workloads.py (uploads: workloads.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import ConfigDict, Field, model_validator

from ombudsman.contracts.commands.projects import ProjectChanges, ProjectCreate, SchemaMappingBase
from ombudsman.contracts.replies import Invalid
from ombudsman.gateway.bus import PROJECT_LIST_PAGE_BYTES
from ombudsman.gateway.deps import BusDep, CurrentUser, Limit, Offset, Writer, forget_project, visible_project
from ombudsman.gateway.directory import profiles, user_id_of
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.livecache import WholeCache
from ombudsman.gateway.routes.project_params import PID
from ombudsman.gateway.schemas import Input, JSONBody, Page, page_body

router = APIRouter(tags=["projects"], responses=COMMON_ERRORS)

# The bodies are the projects service's own shapes (contracts.commands.projects), plus the refusal of
# unknown fields and NUL characters every gateway body has (schemas.Input).


class ProjectIn(Input, ProjectCreate):
    """A new project: its id (a slug) and its describing fields."""


class ProjectPatch(Input, ProjectChanges):
    """Any subset of a project's updatable fields (omit a field to keep it; only the databases may be
    cleared with null) and, optionally, the version the change expects."""

    expected_version: int | None = Field(default=None, ge=0)
    status: str | None = Field(default=None, max_length=50)

    @classmethod
    def not_nullable(cls) -> set[str]:
        return {*super().not_nullable(), "status"}


class NewMember(Input):
    """The user to add, by id or by username (exactly one). Not contracts' `MemberIn` (the bus command
    takes a user id only): the gateway resolves a username to its user id."""

    model_config = ConfigDict(extra="forbid")
    user_id: str | None = Field(default=None, min_length=1, max_length=100)
    username: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_of(self) -> NewMember:
        if (self.user_id is None) == (self.username is None):
            raise ValueError("give user_id or username (one of them)")
        return self


UID = Annotated[str, Path(min_length=1, max_length=100)]


class SchemaMappingIn(Input, SchemaMappingBase):
    """A source schema and the target schema it maps to."""


@router.get("/projects", response_model=Page, summary="List the projects you belong to")
async def list_projects(
    user: CurrentUser, bus: BusDep, offset: Offset = 0, limit: Limit = 50,
    status: Annotated[str | None, Query(max_length=50)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text search in name/description")] = None,
) -> Any:
    payload: dict[str, Any] = {"offset": offset, "limit": limit, "status": status, "q": q}
    if not user.is_admin:
        payload["member"] = user.id
    payload = {k: v for k, v in payload.items() if v is not None}
    # Served from memory while no project changed: the page is keyed by everything the service's
    # answer depends on (the member, or none for an admin who sees all; page; filter).
    key = tuple(sorted(payload.items()))
    found, body = bus.project_lists.get(key)
    if not found:
        generation = bus.project_lists.generation()
        body = page_body(await bus.query("projects", "list", payload, user.actor), offset, limit).body
        if len(body) <= PROJECT_LIST_PAGE_BYTES:
            bus.project_lists.put(key, WholeCache.GROUP, body, generation)
    return Response(body, media_type="application/json")


@router.post("/projects", status_code=201, summary="Create a project (you become its member)")
async def create_project(body: ProjectIn, user: Writer, bus: BusDep) -> Any:
    await bus.command("projects", "create", body.model_dump(), user.actor)
    return await bus.query("projects", "get", {"id": body.id}, user.actor)


@router.get("/projects/{project_id}")
async def get_project(project_id: PID, user: CurrentUser, bus: BusDep) -> Any:
    return JSONBody(await visible_project(bus, user, project_id))


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


@router.get("/projects/{project_id}/members", summary="The project's members with their username and role")
async def list_members(project_id: PID, user: CurrentUser, bus: BusDep, request: Request) -> Any:
    project = await visible_project(bus, user, project_id)
    members = await profiles(request.app.state.users.engine, [str(m) for m in project.get("members") or []])
    return {"project_id": project_id, "items": members, "total": len(members)}


@router.post("/projects/{project_id}/members", summary="Add a member to a project (by user id or username)")
async def add_member(project_id: PID, body: NewMember, user: Writer, bus: BusDep, request: Request) -> Any:
    await visible_project(bus, user, project_id)
    user_id = body.user_id or await user_id_of(request.app.state.users.engine, str(body.username))
    await bus.command("projects", "add_member", {"id": project_id, "user_id": user_id}, user.actor)
    forget_project(bus, project_id)
    return await bus.query("projects", "get", {"id": project_id}, user.actor)


@router.delete("/projects/{project_id}/members/{user_id}", status_code=204,
               summary="Remove a member from a project (they no longer see it)")
async def remove_member(project_id: PID, user_id: UID, user: Writer, bus: BusDep) -> None:
    await visible_project(bus, user, project_id)
    await bus.command("projects", "remove_member", {"id": project_id, "user_id": user_id}, user.actor)
    forget_project(bus, project_id)


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

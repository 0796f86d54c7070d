"""Request dependencies: who is calling, what they may do, and which projects they can see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ombudsman.contracts.envelope import Actor
from ombudsman.contracts.replies import Forbidden, NotFound, Unauthorized
from ombudsman.gateway.bus import Bus

_bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/v1/auth/login")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    id: str
    username: str
    role: str
    jti: str
    exp: int

    @property
    def actor(self) -> Actor:
        return Actor(id=self.id, name=self.username, role=self.role)  # type: ignore[arg-type]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def can_write(self) -> bool:
        return self.role in ("admin", "user")


async def authenticate(request: Request, token: str) -> Principal:
    """Verify an access token and that its user still exists and the token is not revoked."""
    state = request.app.state
    claims = state.tokens.verify(token)
    user = await state.users.active_user(claims.sub, claims.jti)
    if user is None:
        raise Unauthorized("invalid access token")
    return Principal(id=user.id, username=user.username, role=user.role, jti=claims.jti, exp=claims.exp)


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("missing bearer token")
    return await authenticate(request, credentials.credentials)


async def writer(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """A caller allowed to change things (admin or user, not viewer)."""
    if not principal.can_write:
        raise Forbidden("viewers can only read")
    return principal


async def admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("only an admin can do this")
    return principal


async def get_bus(request: Request) -> Bus:
    """The app's bus (async: FastAPI runs a plain `def` dependency in its thread pool, a thread
    hop on every request)."""
    return request.app.state.bus


CurrentUser = Annotated[Principal, Depends(current_principal)]
Writer = Annotated[Principal, Depends(writer)]
Admin = Annotated[Principal, Depends(admin)]
BusDep = Annotated[Bus, Depends(get_bus)]

Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip")]
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page")]
ProjectId = Annotated[str, "path"]


# Membership checks for routes that only need the decision (run, batch, workload reads) answer from
# the bus's membership cache, kept current by project events (livecache.py): no round trip per read.


def forget_project(bus: Bus, project_id: str) -> None:
    bus.members.forget(project_id)


async def visible_project(bus: Bus, principal: Principal, project_id: str) -> dict[str, Any]:
    """The project if the caller may see it. A non-member gets 404, never 403, so a project's
    existence does not leak."""
    generation = bus.members.generation(project_id)
    try:
        project = await bus.query("projects", "get", {"id": project_id}, principal.actor)
    except NotFound:
        forget_project(bus, project_id)
        raise NotFound(f"project {project_id!r} not found", {"project_id": project_id}) from None
    members = frozenset(project.get("members") or [])
    bus.members.put(project_id, project_id, members, generation)
    if principal.is_admin or principal.id in members:
        return project
    raise NotFound(f"project {project_id!r} not found", {"project_id": project_id})


async def require_member(bus: Bus, principal: Principal, project_id: str) -> None:
    """`visible_project` for callers that need only the decision: answered from memory once the
    project's members are known (a membership change applies as soon as its event arrives)."""
    if principal.is_admin:
        return
    found, members = bus.members.get(project_id)
    if found:
        if principal.id in members:
            return
        raise NotFound(f"project {project_id!r} not found", {"project_id": project_id})
    await visible_project(bus, principal, project_id)


async def visible_run(bus: Bus, principal: Principal, run_id: str) -> dict[str, Any]:
    """The run if the caller may see it: a member of its project, its requester, or an admin."""
    try:
        run = await bus.query("executor", "run", {"run_id": run_id}, principal.actor)
    except NotFound:
        raise NotFound(f"run {run_id!r} not found", {"run_id": run_id}) from None
    if principal.is_admin:
        return run
    project_id = run.get("project_id")
    if project_id:
        try:
            await require_member(bus, principal, str(project_id))
        except NotFound:
            raise NotFound(f"run {run_id!r} not found", {"run_id": run_id}) from None
        return run
    requested_by = run.get("requested_by") or (run.get("actor") or {}).get("id")
    if requested_by == principal.id:
        return run
    raise NotFound(f"run {run_id!r} not found", {"run_id": run_id})


async def visible_batch(bus: Bus, principal: Principal, batch_id: str) -> dict[str, Any]:
    """The batch if the caller may see it: an admin, or a member of every project it runs."""
    try:
        batch = await bus.query("executor", "batch", {"batch_id": batch_id}, principal.actor)
    except NotFound:
        raise NotFound(f"batch {batch_id!r} not found", {"batch_id": batch_id}) from None
    if principal.is_admin:
        return batch
    projects = {p.get("project_id") for p in batch.get("pipelines") or [] if isinstance(p, dict)}
    try:
        for project_id in projects:
            await require_member(bus, principal, str(project_id))
    except NotFound:
        raise NotFound(f"batch {batch_id!r} not found", {"batch_id": batch_id}) from None
    return batch

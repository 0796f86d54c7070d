"""Keys of a project's tables: declared, discovered in the data (with evidence), confirmed or
overridden by a person (metadata service: `discover_keys`, `confirm_key`, `override_key`, `keys`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from ombudsman.contracts.commands.metadata import ConfirmKeyBase, DiscoverKeysBase, OverrideKeyBase
from ombudsman.gateway.deps import BusDep, CurrentUser, Writer, visible_project
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.routes.project_params import PID
from ombudsman.gateway.schemas import Input

router = APIRouter(tags=["metadata"], responses=COMMON_ERRORS)

Side = Literal["source", "target"]


class DiscoverIn(Input, DiscoverKeysBase):
    """Which tables' keys to discover."""


class ConfirmIn(Input, ConfirmKeyBase):
    """The discovered key of a table, confirmed."""


class OverrideIn(Input, OverrideKeyBase):
    """A table's key set by hand."""


@router.get("/projects/{project_id}/keys", summary="The key of each table: declared, discovered, confirmed, overridden")
async def table_keys(project_id: PID, user: CurrentUser, bus: BusDep, side: Side = "source",
                     table: Annotated[str | None, Query(max_length=400)] = None) -> Any:
    await visible_project(bus, user, project_id)
    payload = {"project_id": project_id, "side": side, **({"table": table} if table else {})}
    return await bus.query("metadata", "keys", payload, user.actor)


@router.post("/projects/{project_id}/keys/discover", summary="Discover keys of tables without a declared key")
async def discover_keys(project_id: PID, user: Writer, bus: BusDep, body: DiscoverIn | None = None) -> Any:
    await visible_project(bus, user, project_id)
    payload = {"project_id": project_id, **(body.model_dump(exclude_none=True) if body else {})}
    return await bus.command("metadata", "discover_keys", payload, user.actor, wait=600)


@router.post("/projects/{project_id}/keys/confirm", summary="Confirm a table's discovered key")
async def confirm_key(project_id: PID, body: ConfirmIn, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("metadata", "confirm_key", {**body.model_dump(exclude_none=True),
                                                         "project_id": project_id}, user.actor)


@router.post("/projects/{project_id}/keys/override", summary="Set a table's key to other columns")
async def override_key(project_id: PID, body: OverrideIn, user: Writer, bus: BusDep) -> Any:
    await visible_project(bus, user, project_id)
    return await bus.command("metadata", "override_key", {**body.model_dump(), "project_id": project_id}, user.actor)

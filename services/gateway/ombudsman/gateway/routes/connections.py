"""A project's connections: list, add, remove, test, last test and pools on the step workers (the
projects service; pools: the step workers' stats)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ombudsman.contracts.commands.projects import ConnectionBase
from ombudsman.contracts.replies import NotFound
from ombudsman.gateway.deps import BusDep, CurrentUser, Writer, visible_project
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.routes.project_params import NAME, PID
from ombudsman.gateway.schemas import Input

router = APIRouter(tags=["projects"], responses=COMMON_ERRORS)


class ConnectionIn(Input, ConnectionBase):
    """A connection: its URL holds the secret, which is encrypted at rest and never returned."""


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
        raise NotFound(f"connection {name!r} not found in project {project_id!r}", {"connection": name})
    workers = await bus.worker_stats({"project_id": project_id, "connection": name}, user.actor)
    pools = [WorkerPool(worker=str(w.get("worker")), **{k: v for k, v in c.items() if k in WorkerPool.model_fields})
             for w in workers for c in w.get("connections") or []
             if c.get("project_id") == project_id and c.get("connection") == name]
    totals = PoolTotals(workers=len({p.worker for p in pools}), open=sum(p.open for p in pools),
                        in_use=sum(p.in_use for p in pools), idle=sum(p.idle for p in pools))
    return ConnectionPool(connection=name, kind=known.get("kind"), workers_answering=len(workers), pools=pools,
                          totals=totals)

"""Query handlers of the projects service: projects, connections, pipelines and setup status, read
from the `project_list` and `project_flags` read models."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from ombudsman.contracts.commands import projects as c
from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.replies import Forbidden, NotFound
from ombudsman.eventstore.db import read_connection
from ombudsman.eventstore.runtime import ServiceContext
from ombudsman.projects import domain, secrets
from ombudsman.projects.domain import ProjectState
from ombudsman.projects.projections import SCHEMA


def _project_state(value: Any) -> ProjectState:
    # the column's JSON text validated straight from text (pydantic's Rust parser, no dict in between)
    return ProjectState.model_validate(value) if isinstance(value, dict) else ProjectState.model_validate_json(value)


def _public(value: Any) -> dict[str, Any]:
    # the stored reply shape as it is: no per-row validation of the whole state
    return value if isinstance(value, dict) else dict(json.loads(value))


async def _state(ctx: ServiceContext, project_id: str) -> ProjectState:
    async with read_connection(ctx.engine) as conn:
        row = (
            await conn.execute(text(f"SELECT state FROM {SCHEMA}.project_list WHERE id = :id"), {"id": project_id})
        ).scalar_one_or_none()
    state = _project_state(row) if row else ProjectState()
    domain.require_existing(state, project_id)
    return state


_FLAGS = ("has_metadata", "has_relationships", "automation_completed")


async def _flags(ctx: ServiceContext, project_id: str) -> dict[str, bool]:
    async with read_connection(ctx.engine) as conn:
        row = (
            await conn.execute(
                text(
                    f"""SELECT has_metadata, has_relationships, automation_completed FROM {SCHEMA}.project_flags
                        WHERE project_id = :p"""
                ),
                {"p": project_id},
            )
        ).first()
    return dict(zip(_FLAGS, (bool(v) for v in row), strict=True)) if row else dict.fromkeys(_FLAGS, False)


async def get(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    """The project with its setup flags: one statement (state and flags joined)."""
    ref = c.ProjectRef.model_validate(payload)
    async with read_connection(ctx.engine) as conn:
        row = (
            await conn.execute(
                text(f"""SELECT l.state, f.has_metadata, f.has_relationships, f.automation_completed
                         FROM {SCHEMA}.project_list l LEFT JOIN {SCHEMA}.project_flags f ON f.project_id = l.id
                         WHERE l.id = :id"""),
                {"id": ref.id},
            )
        ).first()
    state = _project_state(row.state) if row else ProjectState()
    domain.require_existing(state, ref.id)
    return {**state.public(), **{key: bool(getattr(row, key)) for key in _FLAGS}}


async def list_projects(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    """A page of projects (optionally one member's, or matching `q`) in their stored reply shape."""
    f = c.ListProjects.model_validate(payload)
    clauses: list[str] = []
    params: dict[str, Any] = {"limit": f.limit, "offset": f.offset}
    if not f.include_deleted:
        clauses.append("NOT deleted")
    if f.member:
        clauses.append("members ? :member")
        params["member"] = f.member
    if f.q:
        clauses.append("(name ILIKE :q OR id ILIKE :q)")
        params["q"] = f"%{f.q}%"
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    # One statement: the page with the filter's total beside each row (a window count). Only a
    # page past the end (no rows to carry the total) costs a second statement.
    async with read_connection(ctx.engine) as conn:
        rows = (
            await conn.execute(
                text(f"""SELECT public, CASE WHEN public IS NULL THEN state END AS state, count(*) OVER () AS total
                         FROM {SCHEMA}.project_list {where} ORDER BY id LIMIT :limit OFFSET :offset"""), params
            )
        ).all()
        if rows:
            total = rows[0].total
        elif f.offset:
            total = (await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.project_list {where}"), params)).scalar_one()
        else:
            total = 0
    items = [_public(r.public) if r.public is not None else _project_state(r.state).public() for r in rows]
    return {"items": items, "total": int(total), "offset": f.offset, "limit": f.limit}


async def connections(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    ref = c.ProjectOf.model_validate(payload)
    state = await _state(ctx, ref.project_id)
    return {"items": [connection.model_dump(mode="json") for connection in state.connections.values()]}


async def connection_secret(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    """The full URL of a connection: for services only (the gateway never exposes it)."""
    if meta.actor.role not in ("service", "system"):
        raise Forbidden("connection secrets are available to services only")
    cmd = c.ConnectionRef.model_validate(payload)
    url, kind = await secrets.stored_url(ctx, cmd.project_id, cmd.name)
    return {"url": url, "kind": kind}


async def pipelines(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    ref = c.ProjectOf.model_validate(payload)
    state = await _state(ctx, ref.project_id)
    items = [p.model_dump(mode="json", exclude={"yaml"}) for p in state.pipelines.values()]
    return {"items": sorted(items, key=lambda p: p["pipeline_id"]), "total": len(items)}


async def pipeline(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    ref = c.PipelineRef.model_validate(payload)
    state = await _state(ctx, ref.project_id)
    found = state.pipelines.get(ref.pipeline_id)
    if found is None:
        raise NotFound(f"pipeline {ref.pipeline_id!r} not found in project {ref.project_id!r}",
                       {"pipeline_id": ref.pipeline_id})
    return {"project_id": ref.project_id, **found.model_dump(mode="json")}


async def setup_status(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    ref = c.ProjectOf.model_validate(payload)
    state = await _state(ctx, ref.project_id)
    roles = {c.role for c in state.connections.values()}
    flags = await _flags(ctx, ref.project_id)
    steps = {
        "has_source_connection": "source" in roles,
        "has_target_connection": "target" in roles,
        "has_schema_mappings": bool(state.schema_mappings),
        **flags,
        "has_pipelines": bool(state.pipelines),
    }
    return {"project_id": ref.project_id, **steps, "complete": all(steps.values())}


QUERIES = {
    "get": get,
    "list": list_projects,
    "connections": connections,
    "connection_secret": connection_secret,
    "pipelines": pipelines,
    "pipeline": pipeline,
    "setup_status": setup_status,
}

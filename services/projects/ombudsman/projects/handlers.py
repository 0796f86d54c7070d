"""Command and query handlers of the projects service: load, decide, append in one transaction, reply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import text

from ombudsman.contracts.envelope import EventEnvelope, Metadata
from ombudsman.contracts.pipeline import load_pipeline
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import Conflict, Forbidden, Invalid, NotFound
from ombudsman.contracts.state.project import ProjectState, fold
from ombudsman.engine.connectors.sandbox import check_connection_url
from ombudsman.engine.pipeline import validate_pipeline
from ombudsman.eventstore.db import read_connection
from ombudsman.eventstore.decide import AlsoWrite, decide
from ombudsman.eventstore.runtime import ServiceContext
from ombudsman.eventstore.uow import UnitOfWork
from ombudsman.projects import domain, secrets
from ombudsman.projects.projections import SCHEMA

CONNECTION_TEST_TIMEOUT = 15.0


async def _decide_and_append(
    ctx: ServiceContext, project_id: str, meta: Metadata, decide_on: Callable[[ProjectState], Sequence[Event]], *,
    expected_version: int | None = None, also: AlsoWrite | None = None,
) -> ProjectState:
    """Load the project, run `decide_on(state) -> events`, append them (and `also`'s private rows) in
    one transaction, deciding again on a concurrent append; the new state."""

    def decision(history: list[EventEnvelope]) -> Sequence[Event]:
        state = fold(history)
        if expected_version is not None and state.exists and expected_version != state.version:
            raise Conflict(
                f"project {project_id!r} changed since version {expected_version} (now {state.version})",
                {"expected_version": expected_version, "version": state.version},
            )
        return decide_on(state)

    decided = await decide(ctx.uow, project_id, decision, meta, also=also)
    return fold(decided.history + decided.appended)


def _secret_key(ctx: ServiceContext) -> str:
    if not ctx.settings.secret_key:
        raise Invalid("connections need OMB_SECRET_KEY to be set (it encrypts secrets at rest)")
    return ctx.settings.secret_key


# --- commands -------------------------------------------------------------------------------


async def create(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = domain.CreateProject.model_validate(payload)
    state = await _decide_and_append(ctx, cmd.id, meta, lambda s: domain.create(s, cmd, meta.actor.id))
    return state.public()


class UpdateProject(BaseModel):
    id: str
    expected_version: int | None = None
    changes: dict[str, Any] = Field(default_factory=dict)


async def update(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = UpdateProject.model_validate(payload)
    state = await _decide_and_append(
        ctx, cmd.id, meta, lambda s: domain.update(s, cmd.id, cmd.changes), expected_version=cmd.expected_version
    )
    return state.public()


class ProjectRef(BaseModel):
    id: str


async def delete(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = ProjectRef.model_validate(payload)

    async def forget_secrets(uow: UnitOfWork, events: Sequence[Event]) -> None:
        await uow.conn.execute(text(f"DELETE FROM {SCHEMA}.connection_secrets WHERE project_id = :p"), {"p": cmd.id})

    await _decide_and_append(ctx, cmd.id, meta, lambda s: domain.delete(s, cmd.id), also=forget_secrets)
    return {"id": cmd.id, "deleted": True}


class MemberCommand(BaseModel):
    id: str
    user_id: str = Field(min_length=1)


async def add_member(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = MemberCommand.model_validate(payload)
    state = await _decide_and_append(ctx, cmd.id, meta, lambda s: domain.add_member(s, cmd.id, cmd.user_id))
    return state.public()


async def add_connection(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = domain.AddConnection.model_validate(payload)
    # not the platform's own PostgreSQL/NATS, DuckDB in OMB_FILE_ROOTS
    check_connection_url(cmd.url, field="url", env=ctx.settings.platform_env())
    key = _secret_key(ctx)
    kinds: list[str] = []

    async def keep_secret(uow: UnitOfWork, events: Sequence[Event]) -> None:
        kinds[:] = [events[0].kind]  # type: ignore[attr-defined]
        await uow.conn.execute(
            text(
                f"""INSERT INTO {SCHEMA}.connection_secrets (project_id, name, kind, ciphertext)
                    VALUES (:p, :n, :k, :c) ON CONFLICT (project_id, name) DO UPDATE
                    SET kind = EXCLUDED.kind, ciphertext = EXCLUDED.ciphertext"""
            ),
            {"p": cmd.project_id, "n": cmd.name, "k": kinds[0], "c": secrets.encrypt(key, cmd.url)},
        )

    await _decide_and_append(ctx, cmd.project_id, meta, lambda s: domain.add_connection(s, cmd), also=keep_secret)
    return {"project_id": cmd.project_id, "name": cmd.name, "kind": kinds[0], "role": cmd.role,
            "url": domain.mask_url(cmd.url)}


class ConnectionRef(BaseModel):
    project_id: str
    name: str


async def remove_connection(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = ConnectionRef.model_validate(payload)

    async def forget_secret(uow: UnitOfWork, events: Sequence[Event]) -> None:
        await uow.conn.execute(
            text(f"DELETE FROM {SCHEMA}.connection_secrets WHERE project_id = :p AND name = :n"),
            {"p": cmd.project_id, "n": cmd.name},
        )

    await _decide_and_append(ctx, cmd.project_id, meta,
                             lambda s: domain.remove_connection(s, cmd.project_id, cmd.name), also=forget_secret)
    return {"project_id": cmd.project_id, "name": cmd.name, "removed": True}


async def _connection_url(ctx: ServiceContext, project_id: str, name: str) -> tuple[str, str]:
    async with ctx.engine.connect() as conn:
        row = (
            await conn.execute(
                text(f"SELECT kind, ciphertext FROM {SCHEMA}.connection_secrets WHERE project_id = :p AND name = :n"),
                {"p": project_id, "n": name},
            )
        ).first()
    if row is None:
        raise NotFound(f"connection {name!r} not found in project {project_id!r}", {"connection": name})
    return secrets.decrypt(_secret_key(ctx), row[1]), str(row[0])


async def test_connection(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    """Connect, report server version and latency; the result is an event (ConnectionTested)."""
    from ombudsman.contracts import events as ev
    from ombudsman.engine.connectors import connect

    cmd = ConnectionRef.model_validate(payload)
    url, _ = await _connection_url(ctx, cmd.project_id, cmd.name)
    try:
        check_connection_url(url, field="url", env=ctx.settings.platform_env())
        connector = connect(url, timeout=CONNECTION_TEST_TIMEOUT)
        result = await asyncio.wait_for(connector.test(), timeout=CONNECTION_TEST_TIMEOUT + 5)
        ok, version, latency, error = result.ok, result.server_version, result.latency_ms, result.error
    except TimeoutError:
        ok, version, latency, error = False, None, None, f"no answer within {CONNECTION_TEST_TIMEOUT:.0f}s"
    except Exception as exc:  # a bad URL or driver error: reported, not raised
        ok, version, latency, error = False, None, None, f"{type(exc).__name__}: {exc}"
    if error:
        error = _scrub(error, url)
    event = ev.ConnectionTested(project_id=cmd.project_id, name=cmd.name, ok=ok, server_version=version,
                                latency_ms=latency, error=error)

    def record(state: ProjectState) -> list[Event]:
        domain.require_connection(state, cmd.project_id, cmd.name)
        return [event]

    await _decide_and_append(ctx, cmd.project_id, meta, record)
    return event.model_dump(mode="json")


def _scrub(message: str, url: str) -> str:
    """An error message without any secret of `url`, masked only where it stands as a value."""
    from ombudsman.contracts.privacy import scrub_secrets

    return scrub_secrets(message, url, mask=domain.MASK)


class SchemaMapping(BaseModel):
    project_id: str
    source_schema: str = Field(min_length=1)
    target_schema: str = Field(min_length=1)


async def set_schema_mapping(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = SchemaMapping.model_validate(payload)
    state = await _decide_and_append(
        ctx, cmd.project_id, meta, lambda s: domain.set_schema_mapping(s, cmd.project_id, cmd.source_schema, cmd.target_schema)
    )
    return {"project_id": cmd.project_id, "schema_mappings": state.schema_mappings}


async def save_pipeline(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = domain.SavePipeline.model_validate(payload)
    ids = await _save_pipelines(ctx, cmd.project_id, [cmd], meta)
    return {"project_id": cmd.project_id, "pipeline_id": ids[0], "name": cmd.name}


class SavePipelines(BaseModel):
    project_id: str
    pipelines: list[dict[str, Any]] = Field(min_length=1, max_length=500)


async def save_pipelines(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    """Save many pipelines in one command (one load of the project, one append, all or nothing)."""
    batch = SavePipelines.model_validate(payload)
    cmds = [domain.SavePipeline.model_validate({**p, "project_id": batch.project_id}) for p in batch.pipelines]
    return {"project_id": batch.project_id, "pipeline_ids": await _save_pipelines(ctx, batch.project_id, cmds, meta)}


async def _save_pipelines(
    ctx: ServiceContext, project_id: str, cmds: list[domain.SavePipeline], meta: Metadata
) -> list[str]:
    for cmd in cmds:
        # PipelineError (invalid, 422) naming each problem: unknown validators, missing or mistyped
        # parameters, tables not named, user SQL the engine's guard refuses
        validate_pipeline(load_pipeline(cmd.yaml))
    ids: list[str] = []

    def decide(state: ProjectState) -> list[Any]:
        ids[:], events = domain.save_pipelines(state, cmds)
        return events

    await _decide_and_append(ctx, project_id, meta, decide)
    return ids


class PipelineRef(BaseModel):
    project_id: str
    pipeline_id: str


async def delete_pipeline(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = PipelineRef.model_validate(payload)
    await _decide_and_append(ctx, cmd.project_id, meta, lambda s: domain.delete_pipeline(s, cmd.project_id, cmd.pipeline_id))
    return {"project_id": cmd.project_id, "pipeline_id": cmd.pipeline_id, "deleted": True}


# --- queries --------------------------------------------------------------------------------


def _project_state(value: Any) -> ProjectState:
    # the column's JSON text validated straight from text (pydantic's Rust parser, no dict in between)
    return ProjectState.model_validate(value) if isinstance(value, dict) else ProjectState.model_validate_json(value)


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
    ref = ProjectRef.model_validate(payload)
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


class ListProjects(BaseModel):
    member: str | None = None
    q: str | None = Field(default=None, max_length=200)
    include_deleted: bool = False
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=50, ge=1, le=500)


async def list_projects(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    f = ListProjects.model_validate(payload)
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
                text(f"""SELECT state, count(*) OVER () AS total FROM {SCHEMA}.project_list {where}
                         ORDER BY id LIMIT :limit OFFSET :offset"""), params
            )
        ).all()
        if rows:
            total = rows[0].total
        elif f.offset:
            total = (await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.project_list {where}"), params)).scalar_one()
        else:
            total = 0
    items = [_project_state(r.state).public() for r in rows]
    return {"items": items, "total": int(total), "offset": f.offset, "limit": f.limit}


async def connections(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    ref = ProjectRef.model_validate({"id": payload.get("project_id", payload.get("id"))})
    state = await _state(ctx, ref.id)
    return {"items": [c.model_dump(mode="json") for c in state.connections.values()]}


async def connection_secret(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    """The full URL of a connection: for services only (the gateway never exposes it)."""
    if meta.actor.role not in ("service", "system"):
        raise Forbidden("connection secrets are available to services only")
    cmd = ConnectionRef.model_validate(payload)
    url, kind = await _connection_url(ctx, cmd.project_id, cmd.name)
    return {"url": url, "kind": kind}


async def pipelines(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    ref = ProjectRef.model_validate({"id": payload.get("project_id", payload.get("id"))})
    state = await _state(ctx, ref.id)
    items = [p.model_dump(mode="json", exclude={"yaml"}) for p in state.pipelines.values()]
    return {"items": sorted(items, key=lambda p: p["pipeline_id"]), "total": len(items)}


async def pipeline(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    ref = PipelineRef.model_validate(payload)
    state = await _state(ctx, ref.project_id)
    found = state.pipelines.get(ref.pipeline_id)
    if found is None:
        raise NotFound(f"pipeline {ref.pipeline_id!r} not found in project {ref.project_id!r}",
                       {"pipeline_id": ref.pipeline_id})
    return {"project_id": ref.project_id, **found.model_dump(mode="json")}


async def setup_status(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    ref = ProjectRef.model_validate({"id": payload.get("project_id", payload.get("id"))})
    state = await _state(ctx, ref.id)
    roles = {c.role for c in state.connections.values()}
    flags = await _flags(ctx, ref.id)
    steps = {
        "has_source_connection": "source" in roles,
        "has_target_connection": "target" in roles,
        "has_schema_mappings": bool(state.schema_mappings),
        **flags,
        "has_pipelines": bool(state.pipelines),
    }
    return {"project_id": ref.id, **steps, "complete": all(steps.values())}


COMMANDS = {
    "create": create,
    "update": update,
    "delete": delete,
    "add_member": add_member,
    "add_connection": add_connection,
    "remove_connection": remove_connection,
    "test_connection": test_connection,
    "set_schema_mapping": set_schema_mapping,
    "save_pipeline": save_pipeline,
    "save_pipelines": save_pipelines,
    "delete_pipeline": delete_pipeline,
}
QUERIES = {
    "get": get,
    "list": list_projects,
    "connections": connections,
    "connection_secret": connection_secret,
    "pipelines": pipelines,
    "pipeline": pipeline,
    "setup_status": setup_status,
}

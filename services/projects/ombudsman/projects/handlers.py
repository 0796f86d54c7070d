"""Command and query handlers of the projects service: load, decide, append in one transaction, reply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import text

from ombudsman.contracts.commands import projects as c
from ombudsman.contracts.envelope import EventEnvelope, Metadata
from ombudsman.contracts.pipeline import load_pipeline
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import Conflict
from ombudsman.engine.connectors.sandbox import check_connection_url
from ombudsman.engine.pipeline import validate_pipeline
from ombudsman.eventstore.aggregate import fold
from ombudsman.eventstore.decide import AlsoWrite, decide
from ombudsman.eventstore.runtime import ServiceContext
from ombudsman.eventstore.uow import UnitOfWork
from ombudsman.projects import domain, queries, secrets
from ombudsman.projects.domain import PROJECT, ProjectState
from ombudsman.projects.projections import SCHEMA
from ombudsman.projects.validator_catalogue import validator_catalogue

CONNECTION_TEST_TIMEOUT = 15.0


async def _decide_and_append(
    ctx: ServiceContext, project_id: str, meta: Metadata, decide_on: Callable[[ProjectState], Sequence[Event]], *,
    expected_version: int | None = None, also: AlsoWrite | None = None,
) -> ProjectState:
    """Load the project, run `decide_on(state) -> events`, append them (and `also`'s private rows) in
    one transaction, deciding again on a concurrent append; the new state."""

    def decision(history: list[EventEnvelope]) -> Sequence[Event]:
        state = fold(PROJECT, project_id, history)
        if expected_version is not None and state.exists and expected_version != state.version:
            raise Conflict(
                f"project {project_id!r} changed since version {expected_version} (now {state.version})",
                {"expected_version": expected_version, "version": state.version},
            )
        return decide_on(state)

    decided = await decide(ctx.uow, project_id, decision, meta, also=also)
    return fold(PROJECT, project_id, decided.history + decided.appended)


# --- commands -------------------------------------------------------------------------------


async def create(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = c.CreateProject.model_validate(payload)
    state = await _decide_and_append(ctx, cmd.id, meta, lambda s: domain.create(s, cmd, meta.actor.id))
    return state.public()


async def update(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = c.UpdateProject.model_validate(payload)
    state = await _decide_and_append(
        ctx, cmd.id, meta, lambda s: domain.update(s, cmd.id, cmd.changes), expected_version=cmd.expected_version
    )
    return state.public()


async def delete(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = c.ProjectRef.model_validate(payload)

    async def forget_secrets(uow: UnitOfWork, events: Sequence[Event]) -> None:
        await uow.conn.execute(text(f"DELETE FROM {SCHEMA}.connection_secrets WHERE project_id = :p"), {"p": cmd.id})

    await _decide_and_append(ctx, cmd.id, meta, lambda s: domain.delete(s, cmd.id), also=forget_secrets)
    return {"id": cmd.id, "deleted": True}


async def add_member(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = c.AddMember.model_validate(payload)
    state = await _decide_and_append(ctx, cmd.id, meta, lambda s: domain.add_member(s, cmd.id, cmd.user_id))
    return state.public()


async def remove_member(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = c.RemoveMember.model_validate(payload)
    state = await _decide_and_append(ctx, cmd.id, meta, lambda s: domain.remove_member(s, cmd.id, cmd.user_id))
    return state.public()


async def add_connection(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = c.AddConnection.model_validate(payload)
    # not the platform's own PostgreSQL/NATS, DuckDB in OMB_FILE_ROOTS
    check_connection_url(cmd.url, field="url", env=ctx.settings.platform_env())
    key = secrets.secret_key(ctx)
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


async def remove_connection(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = c.ConnectionRef.model_validate(payload)

    async def forget_secret(uow: UnitOfWork, events: Sequence[Event]) -> None:
        await uow.conn.execute(
            text(f"DELETE FROM {SCHEMA}.connection_secrets WHERE project_id = :p AND name = :n"),
            {"p": cmd.project_id, "n": cmd.name},
        )

    await _decide_and_append(ctx, cmd.project_id, meta,
                             lambda s: domain.remove_connection(s, cmd.project_id, cmd.name), also=forget_secret)
    return {"project_id": cmd.project_id, "name": cmd.name, "removed": True}


async def test_connection(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    """Connect, report server version and latency; the result is an event (ConnectionTested)."""
    from ombudsman.contracts import events as ev
    from ombudsman.engine.connectors import connect

    cmd = c.ConnectionRef.model_validate(payload)
    url, _ = await secrets.stored_url(ctx, cmd.project_id, cmd.name)
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


async def set_schema_mapping(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = c.SetSchemaMapping.model_validate(payload)
    state = await _decide_and_append(
        ctx, cmd.project_id, meta, lambda s: domain.set_schema_mapping(s, cmd.project_id, cmd.source_schema, cmd.target_schema)
    )
    return {"project_id": cmd.project_id, "schema_mappings": state.schema_mappings}


async def save_pipeline(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = c.SavePipeline.model_validate(payload)
    ids = await _save_pipelines(ctx, cmd.project_id, [cmd], meta)
    return {"project_id": cmd.project_id, "pipeline_id": ids[0], "name": cmd.name}


async def save_pipelines(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    """Save many pipelines in one command (one load of the project, one append, all or nothing)."""
    batch = c.SavePipelines.model_validate(payload)
    cmds = [c.SavePipeline.model_validate({**p, "project_id": batch.project_id}) for p in batch.pipelines]
    return {"project_id": batch.project_id, "pipeline_ids": await _save_pipelines(ctx, batch.project_id, cmds, meta)}


async def _save_pipelines(
    ctx: ServiceContext, project_id: str, cmds: list[c.SavePipeline], meta: Metadata
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


async def delete_pipeline(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    cmd = c.PipelineRef.model_validate(payload)
    await _decide_and_append(ctx, cmd.project_id, meta, lambda s: domain.delete_pipeline(s, cmd.project_id, cmd.pipeline_id))
    return {"project_id": cmd.project_id, "pipeline_id": cmd.pipeline_id, "deleted": True}


COMMANDS = {
    "create": create,
    "update": update,
    "delete": delete,
    "add_member": add_member,
    "remove_member": remove_member,
    "add_connection": add_connection,
    "remove_connection": remove_connection,
    "test_connection": test_connection,
    "set_schema_mapping": set_schema_mapping,
    "save_pipeline": save_pipeline,
    "save_pipelines": save_pipelines,
    "delete_pipeline": delete_pipeline,
}
QUERIES = {**queries.QUERIES, "validators": validator_catalogue}

"""`ombudsman replay SERVICE [PROJECTION]`: drop and rebuild a service's projections from events.

How the command finds a service's projections: the entry-point group `ombudsman.projections`, one
entry per service, `<service> = "module:function"`, where the function takes no argument and returns
the service's `list[Projection]`. In a service's pyproject.toml:

    [project.entry-points."ombudsman.projections"]
    projects = "ombudsman.projects.projections:all_projections"

(`--projections module:function` names one directly.) Each projection is rebuilt from its
`replay_source`: the service's own events table ("store"), or OMB_EVENTS ("stream") for projections
fed by other services' events. The schema is the service's name unless `--schema` says otherwise.
The database and NATS URLs come from OMB_DATABASE_URL / OMB_NATS_URL, or from the embedded stack
started by `ombudsman up` (`<OMB_HOME>/stack.json`).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from ombudsman.eventstore.projections import Projection, rebuild

ENTRY_POINT_GROUP = "ombudsman.projections"

app = typer.Typer(add_completion=False)


@app.callback()
def _group() -> None:
    """Event-store maintenance."""


def load_projections(service: str, spec: str | None = None) -> list[Projection]:
    """The projections of `service`, from `spec` ("module:function") or the entry-point group."""
    if spec is None:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == service]
        if not found:
            known = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
            raise LookupError(f"no projections registered for service {service!r} "
                              f"(entry-point group {ENTRY_POINT_GROUP}; known: {', '.join(known) or 'none'})")
        factory = found[0].load()
    else:
        module_name, _, attribute = spec.partition(":")
        if not attribute:
            raise LookupError(f"--projections {spec!r}: expected module:function")
        factory = getattr(importlib.import_module(module_name), attribute)
    projections = list(factory())
    for projection in projections:
        if not isinstance(projection, Projection):
            raise LookupError(f"{spec or service}: {projection!r} is not a Projection")
    return projections


def _stack_value(key: str) -> str | None:
    state = Path(os.environ.get("OMB_HOME", ".ombudsman")) / "stack.json"
    if not state.exists():
        return None
    value: Any = json.loads(state.read_text()).get(key)
    return str(value) if value else None


async def replay_service(
    database_url: str, schema: str, projections: list[Projection], *, source: str = "auto",
    nats_url: str | None = None,
) -> list[tuple[str, str, int, float]]:
    """Rebuild each projection; returns (name, source, events applied, seconds) per projection."""
    from ombudsman.eventstore.db import create_engine

    engine = create_engine(database_url, pool_size=1)
    done: list[tuple[str, str, int, float]] = []
    try:
        for projection in projections:
            chosen: Literal["store", "stream"] = projection.replay_source if source == "auto" else source  # type: ignore[assignment]
            started = time.perf_counter()
            applied = await rebuild(engine, schema, projection, source=chosen, nats_url=nats_url)
            done.append((projection.name, chosen, applied, time.perf_counter() - started))
    finally:
        await engine.dispose()
    return done


@app.command()
def replay(
    service: Annotated[str, typer.Argument(help="the service whose projections to rebuild")],
    projection: Annotated[str | None, typer.Argument(help="one projection (default: all of them)")] = None,
    source: Annotated[str, typer.Option(help="auto | store | stream")] = "auto",
    schema: Annotated[str | None, typer.Option(help="the service's schema (default: the service name)")] = None,
    database_url: Annotated[str | None, typer.Option(
        envvar="OMB_DATABASE_URL", show_envvar=False,
        help="The service's database (default: OMB_DATABASE_URL, or the stack `ombudsman up` started)")] = None,
    nats_url: Annotated[str | None, typer.Option(
        envvar="OMB_NATS_URL", show_envvar=False,
        help="NATS, to rebuild from the stream (default: OMB_NATS_URL, or the running stack's)")] = None,
    projections_spec: Annotated[str | None, typer.Option("--projections", help="module:function")] = None,
) -> None:
    """Drop and rebuild SERVICE's projections (or one PROJECTION) from events alone."""
    if source not in ("auto", "store", "stream"):
        raise typer.BadParameter(f"{source!r}: choose auto, store or stream", param_hint="--source")
    try:
        available = load_projections(service, projections_spec)
    except LookupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    chosen = available
    if projection is not None:
        chosen = [p for p in available if p.name == projection]
        if not chosen:
            names = ", ".join(p.name for p in available)
            typer.echo(f"error: service {service!r} has no projection {projection!r} (has: {names})", err=True)
            raise typer.Exit(2)
    database_url = database_url or _stack_value("database_url")
    if not database_url:
        typer.echo("error: no database: set OMB_DATABASE_URL or start the stack with `ombudsman up`", err=True)
        raise typer.Exit(2)
    nats_url = nats_url or _stack_value("nats_url")
    needs_nats = any((p.replay_source if source == "auto" else source) == "stream" for p in chosen)
    if needs_nats and not nats_url:
        typer.echo("error: rebuilding from the stream needs NATS: set OMB_NATS_URL or run `ombudsman up`", err=True)
        raise typer.Exit(2)
    results = asyncio.run(replay_service(database_url, schema or service, chosen, source=source, nats_url=nats_url))
    for name, used, applied, seconds in results:
        typer.echo(f"rebuilt {service}.{name} from {used}: {applied} events in {seconds:.2f}s")


@app.command("nats-config")
def nats_config() -> None:
    """Print the nats-server `authorization` block: one user per service with its permissions
    (deploy/nats/auth.conf is this output; passwords come from OMB_NATS_PASSWORD_<SERVICE>)."""
    from ombudsman.eventstore.natsauth import deploy_config

    typer.echo(deploy_config(), nl=False)

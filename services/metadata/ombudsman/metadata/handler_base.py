"""What every metadata handler shares: the `Ports` it talks to the outside through, the
load → decide → append commit, the read model and the catalogs of a project.

Handlers talk to the outside through `Ports` (the event store and read model of this service,
the projects service over NATS), so the same code runs under the service runtime (app.py) and in
tests against real PostgreSQL and real databases.

Requests to the projects service (see README):
- `omb.qry.projects.connection_secret` {project_id, name} → {url, kind}: a connection's URL with
  its secret, used only in memory to connect;
- `omb.cmd.projects.save_pipelines` {project_id, pipelines: [{pipeline_id, name, yaml, description, tags}]} for
  generated pipelines, up to pipeline_handlers.SAVE_CHUNK per command (→ {pipeline_ids}).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, Protocol

from ombudsman.contracts.catalog import Catalog
from ombudsman.contracts.commands.metadata import MetadataProjectRef as ProjectRef
from ombudsman.contracts.commands.metadata import SideRef
from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import NotFound
from ombudsman.contracts.replies import validated as parse
from ombudsman.eventstore.decide import retry_conflicts
from ombudsman.metadata import domain
from ombudsman.metadata import projections as read
from ombudsman.metadata.diff import diff_catalogs
from ombudsman.metadata.domain import MetadataState, Side

__all__ = ["HandlerBase", "Ports", "ProjectRef", "SideRef", "describe", "parse"]


class Ports(Protocol):
    """What the handlers need from the runtime."""

    async def load(self, project_id: str) -> MetadataState:
        """The project's metadata state folded from its stream (version = last event's)."""

    async def append(self, state: MetadataState, events: Sequence[Event], meta: Metadata) -> None:
        """Append at versions `state.version + 1 …` (Conflict when the stream has moved on)."""

    async def append_stream(self, stream_id: str, expected_version: int, events: Sequence[Event],
                            meta: Metadata) -> None:
        """Append to another stream of this service (an automate job's) at `expected_version + 1 …`."""

    def spawn(self, job_id: str, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background of this service's process."""

    def reader(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """A connection to this service's read model (asyncpg-style fetch/fetchrow)."""

    async def require_project(self, project_id: str) -> dict[str, Any]:
        """The project as the projects service shows it; NotFound when it does not know it."""

    async def connection_secret(self, project_id: str, name: str) -> dict[str, Any]:
        """{url, kind} of a project's connection, from the projects service."""

    async def save_pipelines(self, project_id: str, pipelines: list[dict[str, Any]]) -> list[str]:
        """Store generated pipelines ({pipeline_id, name, yaml, description, tags}) in the projects
        service with one command; their ids."""

    async def read_upload(self, path: str) -> str:
        """The text of a file the gateway left in the shared upload folder (`Invalid` outside it)."""


def describe(exc: BaseException) -> str:
    """One line saying what went wrong (never a traceback, never a URL with its secret)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:500]


class HandlerBase:
    """The mechanics the capability handlers share (catalog_handlers.py, mapping_handlers.py, …)."""

    def __init__(self, ports: Ports):
        self.ports = ports

    async def _append(self, state: MetadataState, events: Sequence[Event], meta: Metadata) -> None:
        """Store events after `state.version` (Conflict if the stream moved) and fold them into `state`."""
        if not events:
            return
        await self.ports.append(state, events, meta)
        for event in events:
            state.apply(event)
            state.version += 1

    async def _commit(
        self, project: str, decide: Callable[[MetadataState], Sequence[Event]], meta: Metadata
    ) -> MetadataState:
        """Load the project's state, decide, append; on a concurrent append decide again on the fresh state."""

        async def attempt() -> MetadataState:
            state = await self.ports.load(project)
            await self._append(state, decide(state), meta)
            return state

        return await retry_conflicts(attempt, stream_id=project)

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[Any]:
        async with self.ports.reader() as conn:
            yield conn

    async def _catalog(self, project: str, side: Side) -> Catalog:
        async with self._read() as conn:
            catalog = await read.load_catalog(conn, project, side)
        if catalog is None:
            raise NotFound(f"project {project!r} has no {side} catalog yet: extract or upload DDL first",
                           {"project_id": project, "side": side})
        return catalog

    async def _record_catalog(
        self, project: str, side: Side, catalog: Catalog, meta: Metadata, dialect: str | None = None
    ) -> dict[str, Any]:
        async with self._read() as conn:
            previous = await read.load_catalog(conn, project, side)
        diff = diff_catalogs(previous, catalog)
        await self._commit(project, lambda s: domain.record_catalog(project, side, catalog, diff, dialect=dialect), meta)
        return {
            "side": side, "kind": catalog.kind, "schemas": catalog.schemas, "tables": len(catalog.tables),
            "columns": sum(len(t.columns) for t in catalog.tables), "changes": diff.summary(),
        }

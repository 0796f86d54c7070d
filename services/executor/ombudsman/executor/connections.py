"""A worker's open database connections, reused from step to step.

Opening a connection is the slow part of a quick step (a Snowflake login takes a second or more, a
SQL Server login with TLS hundreds of milliseconds), so a worker keeps one connector (itself a
pool) per project connection, URL and statement timeout, lends it to every step that names it,
closes it after `idle_seconds` unused, and drops it when a step that used it ends in `error` (the
database may have gone away; the next step opens a fresh one).

DuckDB files are not kept: an open DuckDB file is locked against every other process, so a worker
holding one would block the people and tools that load it. The engine opens them per step.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from ombudsman.contracts.pipeline import PipelineSpec, expand_env
from ombudsman.engine.connectors import Connector, parse_url
from ombudsman.engine.pipeline import open_connections
from ombudsman.executor import metrics

NOT_KEPT = frozenset({"duckdb", "file"})  # a file connection resolves its files anew each step


@dataclass(frozen=True)
class ConnectionKey:
    project_id: str
    name: str
    url_digest: str  # a changed URL or secret opens a new connector; the URL itself is not kept here
    timeout: float


@dataclass
class Lent:
    """One kept connector and how it is used."""

    key: ConnectionKey
    kind: str
    connector: Connector
    opened_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)
    users: int = 0
    steps: int = 0
    broken: bool = False


@dataclass
class LeaseOutcome:
    """What a lease lends (connectors by connection name), and whether the step using them failed."""

    connectors: dict[str, Connector] = field(default_factory=dict)
    failed: bool = False


class ConnectionCache:
    """The connectors a worker keeps open between steps (see the module docstring)."""

    def __init__(self, *, idle_seconds: float = 300.0) -> None:
        self.idle_seconds = idle_seconds
        self._kept: dict[ConnectionKey, Lent] = {}
        self._opening: dict[ConnectionKey, asyncio.Lock] = {}

    def _key(self, spec: PipelineSpec, name: str, project_id: str | None) -> tuple[ConnectionKey, str] | None:
        try:
            url = expand_env(spec.connections[name].url)
            kind = parse_url(url).kind
        except Exception:  # a bad URL or a missing ${VAR}: the engine reports it for the step
            return None
        if kind in NOT_KEPT:
            return None
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        return ConnectionKey(project_id or "", name, digest, float(spec.defaults.timeout_seconds)), kind

    async def _get(self, spec: PipelineSpec, name: str, key: ConnectionKey, kind: str) -> Lent:
        lock = self._opening.setdefault(key, asyncio.Lock())
        async with lock:
            lent = self._kept.get(key)
            if lent is None or lent.broken:
                opened = await open_connections(spec, [name])  # the engine's errors, secrets scrubbed
                metrics.WORKER_CONNECTIONS_OPENED.labels(kind).inc()
                lent = Lent(key=key, kind=kind, connector=opened[name])
                self._kept[key] = lent
            lent.users += 1
            return lent

    @contextlib.asynccontextmanager
    async def lease(
        self, spec: PipelineSpec, names: Iterable[str], project_id: str | None
    ) -> AsyncIterator[LeaseOutcome]:
        """Open (or reuse) the kept connectors among `names`; yields them by connection name for
        `run_pipeline(connectors=...)` (the others the engine opens itself). Set `outcome.failed`
        when the step ended in error: its connectors are then closed instead of kept."""
        outcome = LeaseOutcome()
        lent: list[Lent] = []
        try:
            for name in sorted(set(names)):
                if name not in spec.connections:
                    continue
                keyed = self._key(spec, name, project_id)
                if keyed is None:
                    continue
                item = await self._get(spec, name, *keyed)
                lent.append(item)
                outcome.connectors[name] = item.connector
            yield outcome
        finally:
            for item in lent:
                item.users -= 1
                item.steps += 1
                item.last_used = time.monotonic()
                if outcome.failed:
                    item.broken = True
                if item.broken and item.users == 0:
                    await self._drop(item)

    async def _drop(self, item: Lent) -> None:
        if self._kept.get(item.key) is item:
            del self._kept[item.key]
        with contextlib.suppress(Exception):
            await item.connector.close()

    async def sweep(self) -> int:
        """Close connectors unused for `idle_seconds`; how many were closed."""
        now = time.monotonic()
        stale = [i for i in self._kept.values() if i.users == 0 and now - i.last_used >= self.idle_seconds]
        for item in stale:
            await self._drop(item)
        return len(stale)

    async def close(self) -> None:
        """Close every kept connector (the worker stops)."""
        for item in list(self._kept.values()):
            await self._drop(item)

    def stats(self, project_id: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        """The kept connectors and their pools (no URL, no secret), optionally of one project/connection."""
        out = []
        for item in self._kept.values():
            if (project_id is not None and item.key.project_id != project_id) or (name is not None and item.key.name != name):
                continue
            pool = item.connector.pool_stats()
            out.append({
                "project_id": item.key.project_id or None, "connection": item.key.name, "kind": item.kind,
                "pool_size": pool.size, "open": pool.open, "in_use": pool.in_use, "idle": pool.idle,
                "steps_using": item.users, "steps_served": item.steps,
                "opened_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(item.opened_at)),
                "idle_seconds": round(time.monotonic() - item.last_used, 1) if item.users == 0 else 0.0,
            })
        return out

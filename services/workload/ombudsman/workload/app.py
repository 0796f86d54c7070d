"""Wiring of the workload service: `python -m ombudsman.workload` starts it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.subjects import events_filter
from ombudsman.eventstore.runtime import Service, ServiceContext
from ombudsman.workload.handlers import COMMANDS, QUERIES, Handlers, WorkloadSettings
from ombudsman.workload.projections import SCHEMA, ProjectCleanup, WorkloadProjection

MIGRATIONS = Path(__file__).parent / "migrations"


def _bind(name: str) -> Any:
    async def handle(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> Any:
        return await getattr(Handlers(ctx, meta), name)(payload)

    handle.__name__ = name
    return handle


def create_service(settings: WorkloadSettings | None = None) -> Service:
    """The workload service with its handlers and projection registered."""
    service = Service("workload", schema=SCHEMA, settings=settings or WorkloadSettings(), migrations=MIGRATIONS,
                      projections=[WorkloadProjection()],
                      consumers=[(ProjectCleanup(), "workload-project-cleanup",
                                  events_filter("project", "*", "ProjectDeleted"))])
    for name in COMMANDS:
        service.command(name)(_bind(name))
    for name in QUERIES:
        service.query(name)(_bind(name))
    return service

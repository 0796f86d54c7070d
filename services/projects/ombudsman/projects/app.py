"""Wiring of the projects service: `python -m ombudsman.projects` starts it."""

from __future__ import annotations

from pathlib import Path

from ombudsman.contracts.subjects import events_filter
from ombudsman.eventstore.runtime import Service
from ombudsman.eventstore.settings import Settings
from ombudsman.projects.handlers import COMMANDS, QUERIES
from ombudsman.projects.projections import SCHEMA, ProjectFlags, ProjectList

MIGRATIONS = Path(__file__).parent / "migrations"


def create_service(settings: Settings | None = None) -> Service:
    """The projects service with its handlers, projections and consumer registered.

    RuntimeError without OMB_SECRET_KEY (it encrypts connection secrets at rest; no default key)."""
    settings = settings or Settings()
    settings.require_secret("secret_key", "OMB_SECRET_KEY", "encrypts connection secrets at rest")
    service = Service(
        "projects",
        schema=SCHEMA,
        settings=settings,
        migrations=MIGRATIONS,
        projections=[ProjectList()],
        consumers=[(ProjectFlags(), "projects-flags", events_filter("metadata", "*", "*"))],
    )
    for name, handler in COMMANDS.items():
        service.command(name)(handler)
    for name, handler in QUERIES.items():
        service.query(name)(handler)
    return service

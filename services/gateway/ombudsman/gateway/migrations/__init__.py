"""Schema `gateway` (Alembic, driven by libs/eventstore's `run_migrations`)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from ombudsman.eventstore.migrations import run_migrations

SCHEMA = "gateway"
LOCATION = Path(__file__).parent


async def migrate(engine: AsyncEngine) -> None:
    """Create or upgrade schema `gateway` to head (idempotent, safe with several replicas)."""
    await run_migrations(engine, SCHEMA, LOCATION)

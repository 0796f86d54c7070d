from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ombudsman.eventstore.db import create_engine
from ombudsman.eventstore.migrations import ensure_event_tables
from ombudsman.eventstore.store import EventStore
from tests.eventstore.helpers import SCHEMA


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database whose schema `estest` holds the event tables."""
    engine = create_engine(database_url, pool_size=10)
    async with engine.begin() as conn:
        await ensure_event_tables(conn, SCHEMA)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def store() -> EventStore:
    return EventStore(SCHEMA)

"""Fixtures shared by the audit tests: the service's settings and a NATS client with the streams."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest

from ombudsman.eventstore.settings import Settings
from ombudsman.eventstore.streams import ensure_streams


@pytest.fixture
def settings(nats_url: str, database_url: str) -> Settings:
    return Settings(database_url=database_url, nats_url=nats_url, secret_key="s" * 32)


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[nats.NATS]:
    client = await nats.connect(nats_url)
    await ensure_streams(client.jetstream())
    yield client
    await client.close()

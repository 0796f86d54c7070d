"""Creating a user straight in the gateway's database (the first admin), without the HTTP API."""

from __future__ import annotations

import contextlib

import nats
from sqlalchemy.ext.asyncio import create_async_engine

from ombudsman.contracts.envelope import Actor
from ombudsman.gateway.auth import TokenService
from ombudsman.gateway.domain import Role
from ombudsman.gateway.eventlog import InterimEventLog
from ombudsman.gateway.handlers import UserService
from ombudsman.gateway.migrations import migrate, sqlalchemy_url
from ombudsman.gateway.settings import GatewaySettings


async def create_user(username: str, password: str, role: Role = "admin",
                      settings: GatewaySettings | None = None) -> dict[str, object]:
    """Register `username` in schema `gateway` of OMB_DATABASE_URL; its event is published to NATS
    when NATS answers, else by the gateway's outbox relay later."""
    settings = settings or GatewaySettings()
    if not settings.database_url:
        raise ValueError("OMB_DATABASE_URL is not set (or run `ombudsman up` first)")
    engine = create_async_engine(sqlalchemy_url(settings.database_url))
    try:
        await migrate(engine)
        nc = None
        with contextlib.suppress(Exception):
            nc = await nats.connect(settings.nats_url, connect_timeout=2, max_reconnect_attempts=0)
        eventlog = InterimEventLog(engine, nc)
        tokens = TokenService(settings) if len(settings.jwt_secret) >= 32 or settings.jwt_algorithm == "RS256" else None
        users = UserService(engine, eventlog, tokens, settings)  # type: ignore[arg-type]
        user = await users.register(username, password, role, actor=Actor(id="cli", name="ombudsman admin create", role="system"))
        if nc is not None:
            with contextlib.suppress(Exception):
                await eventlog.relay_once()
            await nc.close()
        return user
    finally:
        await engine.dispose()

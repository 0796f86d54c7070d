"""Creating a user straight in the gateway's database (the first admin), without the HTTP API."""

from __future__ import annotations

import contextlib
import logging

from ombudsman.contracts.envelope import Actor
from ombudsman.eventstore import natsauth
from ombudsman.eventstore.db import create_engine
from ombudsman.eventstore.outbox import OutboxRelay
from ombudsman.eventstore.runtime import connect_nats
from ombudsman.gateway.domain import Role
from ombudsman.gateway.handlers import UserService
from ombudsman.gateway.migrations import SCHEMA, migrate
from ombudsman.gateway.settings import GatewaySettings

log = logging.getLogger("ombudsman.gateway.admin")


async def create_user(username: str, password: str, role: Role = "admin",
                      settings: GatewaySettings | None = None) -> dict[str, object]:
    """Register `username` in schema `gateway` of OMB_DATABASE_URL. Its UserRegistered event is
    published now when NATS answers, else by the gateway's outbox relay when it next runs."""
    settings = settings or GatewaySettings()
    if not settings.database_url:
        raise ValueError("OMB_DATABASE_URL is not set (or run `ombudsman up` first)")
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        await migrate(engine)
        users = UserService(engine, None, settings)
        user = await users.register(username, password, role, actor=Actor(id="cli", name="ombudsman admin create",
                                                                          role="system"))
        with contextlib.suppress(Exception):
            nats_user, nats_password = (settings.nats_user, settings.nats_password) if settings.nats_user \
                else natsauth.client_credentials(settings.home)
            nc = await connect_nats(settings.nats_url, name="ombudsman-admin", timeout=5, user=nats_user,
                                    password=nats_password, reconnect=False)
            try:
                await OutboxRelay(engine, SCHEMA, nc.jetstream()).flush(timeout=5)
            finally:
                await nc.close()
        return user
    finally:
        await engine.dispose()

"""The bus connection of a service: FastStream's `NatsBroker` on the principal's authenticated connection.

`ServiceBroker` is a `faststream.nats.NatsBroker` whose connection is made by `connect_nats`: the
process's own NATS user and password (contracts.access), its private reply inbox prefix
(`_INBOX_<principal>`), a deadline for a server still starting, and a clear error when the server
refuses the credentials. Everything else (subscribers in queue groups, middlewares, pull consumers,
the AsyncAPI document) is FastStream's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import nats
from faststream.message import StreamMessage
from faststream.nats import NatsBroker
from nats.aio.client import Client as NATS

from ombudsman.eventstore.natsauth import connect_options

log = logging.getLogger(__name__)
# FastStream's own lifecycle lines (a subscriber started, "callback for Task-N is being executed..." for
# every subscriber task at stop) are INFO; its warnings and errors are kept
faststream_log = logging.getLogger("ombudsman.eventstore.faststream")
faststream_log.setLevel(logging.WARNING)


class ServiceBroker(NatsBroker):
    """A `NatsBroker` connected as one bus principal (see `connect_nats`); never logs per message."""

    def __init__(self, url: str | None, *, name: str, user: str | None = None, password: str | None = None,
                 timeout: float = 30.0, **options: Any) -> None:
        servers = _redacted(url).split(",") if url else ["nats://localhost:4222"]
        # FastStream logs every message received and processed at `log_level`: DEBUG keeps them out
        # of the service logs (the runtime's own middlewares log failures).
        super().__init__(servers, name=name, logger=faststream_log, log_level=logging.DEBUG, apply_types=False,
                         **options)
        self._url = url
        self._name = name
        self._principal = (user, password)
        self._timeout = timeout

    async def _connect(self) -> NATS:
        if not self._url:
            raise RuntimeError("this broker only describes its subscribers: it has no NATS URL")
        user, password = self._principal
        connection = await connect_nats(self._url, name=self._name,
                                        timeout=self._timeout, user=user, password=password)
        self.config.connect(connection)
        return connection


async def raw_body(msg: StreamMessage[Any]) -> bytes:
    """FastStream decoder handing the handler the body's bytes (the runtime's middlewares parse it once)."""
    return bytes(msg.body)


async def connect_nats(url: str, *, name: str, timeout: float = 30.0,  # noqa: ASYNC109
                       user: str | None = None, password: str | None = None, reconnect: bool = True) -> NATS:
    """Connect to NATS as `user` (its password, its private reply inbox), waiting up to `timeout` for a
    server (it may still be starting); reconnects forever after unless `reconnect` is False.

    Raises `ConnectionError` naming the server (never its credentials) when none answered in time,
    and `PermissionError` when the server refused the credentials.
    """
    servers = [u.strip() for u in url.split(",") if u.strip()]
    refused = asyncio.Event()

    async def on_error(exc: Exception) -> None:
        if "authorization" in str(exc).lower():
            refused.set()

    # max_reconnect_attempts=-1 also makes the first connect keep trying; the deadline bounds it.
    connecting = asyncio.create_task(nats.connect(
        servers, name=name, max_reconnect_attempts=-1 if reconnect else 0, allow_reconnect=reconnect,
        reconnect_time_wait=0.5, connect_timeout=2, error_cb=on_error, **connect_options(user, password)))
    waiting = asyncio.create_task(refused.wait())
    try:
        await asyncio.wait({connecting, waiting}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    if connecting.done() and not refused.is_set():
        try:
            return connecting.result()
        except Exception as exc:
            if "authorization" not in str(exc).lower():
                raise ConnectionError(f"could not connect to NATS at {_redacted(url)}: {type(exc).__name__}") from None
            refused.set()
    connecting.cancel()
    with contextlib.suppress(BaseException):
        await connecting
    if refused.is_set():
        raise PermissionError(f"NATS at {_redacted(url)} refused the credentials of {user or 'this client'}")
    raise ConnectionError(f"could not connect to NATS at {_redacted(url)} within {timeout}s")


def _redacted(url: str) -> str:
    """Server URLs without any user:password part."""
    return ",".join(u.rsplit("@", 1)[-1] if "@" in u else u for u in url.split(","))

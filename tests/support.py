"""Helpers every test suite shares: waiting for a condition with a deadline, fresh databases.

No test sleeps a fixed time to let something happen: it waits with `eventually` for the outcome
(a row written, a consumer's pending count, a process exited), and fails naming what it waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

T = TypeVar("T")


async def eventually(
    condition: Callable[[], Awaitable[T] | T], *, timeout: float = 60.0, interval: float = 0.1,  # noqa: ASYNC109
    what: str = "the condition",
) -> T:
    """Call `condition()` (sync or async) until its value is truthy and return that value; after
    `timeout` seconds fail the test with AssertionError naming `what` and the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        await asyncio.sleep(interval)


def with_database(url: str, database: str) -> str:
    """`url` naming another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


async def admin_sql(url: str, sql: str) -> None:
    """Run one statement on `url` outside a transaction (CREATE/DROP DATABASE)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(server_url: str, prefix: str = "omb_t_") -> Iterator[str]:
    """A new, empty database on the server of `server_url` (its libpq URI), dropped afterwards.
    The one way tests make a database; for fixtures (it runs outside an event loop)."""
    name = prefix + uuid.uuid4().hex[:12]
    asyncio.run(admin_sql(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(server_url, name)
    finally:
        asyncio.run(admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def folded(aggregate: Any, stream_id: str, events: Iterable[Any], state: Any = None, meta: Any = None) -> Any:
    """An aggregate's state after bare `events` (as the store would number them: after `state`'s
    version), through the one fold of ombudsman.eventstore.aggregate."""
    from ombudsman.contracts.envelope import Metadata
    from ombudsman.contracts.registry import envelope_for
    from ombudsman.eventstore.aggregate import fold

    first = (state.version if state is not None else 0) + 1
    envelopes = [envelope_for(event, stream_id=stream_id, version=first + i, meta=meta or Metadata())
                 for i, event in enumerate(events)]
    return fold(aggregate, stream_id, envelopes, state)


class HttpServerThread:
    """A real HTTP server on a free local port, served by a thread (a fake third-party API for a
    test: an OpenID Connect provider, a language model). `url` once started."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

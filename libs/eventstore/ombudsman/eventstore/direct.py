"""The direct path of the hot read subjects: the runtime's own middlewares around the handler, on a
plain nats-py queue subscription, without FastStream's per-message dispatch.

Measured side by side (tests/perf/bench_bus_runtime.py), FastStream's dispatch (its message scope,
log context, acknowledgement and logging middlewares, the concurrent subscriber's queue) roughly
doubles the runtime's CPU per request; on the read path (`GET /api/v1/projects`) that is more than
the 10 % the read path may lose. So queries (`omb.qry.<service>.*`, unless `OMB_BUS_DIRECT_QUERIES`
is false) are dispatched here, with the very same middlewares (metrics, tracing, the reply shape,
authentication) and the same handler endpoint; commands go through FastStream. Every subject is a
FastStream subscriber in the AsyncAPI document either way (runtime.Service.build_broker).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from faststream import ContextRepo
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

Endpoint = Callable[[Any], Awaitable[Any]]


@dataclass(slots=True)
class DirectMessage:
    """What the runtime's middlewares read of a FastStream message: the raw NATS message, headers, body."""

    raw_message: Msg
    headers: dict[str, str]
    body: bytes


class DirectSubscriptions:
    """Queue subscriptions whose messages run through `middlewares` (outermost first) to an endpoint,
    at most `concurrency` at once in the process."""

    def __init__(self, nc: NATS, middlewares: Sequence[Callable[..., Any]], context: ContextRepo,
                 concurrency: int) -> None:
        self._nc = nc
        self._middlewares = tuple(middlewares)
        self._context = context
        self._semaphore = asyncio.Semaphore(concurrency)
        self._subscriptions: list[Subscription] = []
        self._inflight: set[asyncio.Task[None]] = set()

    async def subscribe(self, subject: str, queue: str, endpoint: Endpoint) -> None:
        """Serve `subject` in `queue` with `endpoint` (which takes the body, like FastStream's handler)."""

        async def on_message(msg: Msg) -> None:
            await self._semaphore.acquire()
            task = asyncio.create_task(self._dispatch(msg, endpoint))
            self._inflight.add(task)
            task.add_done_callback(self._done)

        self._subscriptions.append(await self._nc.subscribe(subject, queue=queue, cb=on_message))

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._semaphore.release()

    async def _dispatch(self, msg: Msg, endpoint: Endpoint) -> None:
        message = DirectMessage(msg, msg.headers or {}, msg.data)

        async def innermost(m: DirectMessage) -> Any:
            return await endpoint(m.body)

        call: Callable[[DirectMessage], Awaitable[Any]] = innermost
        for middleware in reversed(self._middlewares):
            call = partial(middleware(message, context=self._context).consume_scope, call)
        await call(message)  # ReplyMiddleware answers

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109
        """Take no new requests; let those in flight finish (up to `timeout` seconds)."""
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.drain()
        self._subscriptions.clear()
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=timeout)

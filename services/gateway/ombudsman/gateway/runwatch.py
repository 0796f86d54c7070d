"""One feed per watched run, shared by every WebSocket watching it.

Hundreds of people follow a nightly batch: a JetStream consumer, an envelope decode and a JSON
encode per watcher per event would make the gateway's work grow with watchers × events. A feed is
one ordered consumer on `omb.evt.run.<run_id>.>` from the stream's start; each event is decoded and
encoded once, kept, and handed as text to every watcher's queue. A watcher that joins late gets the
kept messages first, then the live ones, in one order (the copy and the registration happen without
a pause in between, so nothing is missed or repeated). The feed stops when its last watcher leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from nats.js.api import DeliverPolicy

from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.subjects import EVENTS_STREAM, events_filter
from ombudsman.gateway.runevents import TERMINAL, ws_message

log = logging.getLogger("ombudsman.gateway.runwatch")


class RunFeed:
    """The socket messages of one run so far, and the queues of its watchers."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.kept: list[tuple[str, bool]] = []  # (message text, ends the run)
        self.watchers: set[asyncio.Queue[tuple[str, bool] | None]] = set()
        self.sub: Any = None

    def join(self) -> asyncio.Queue[tuple[str, bool] | None]:
        """A new watcher's queue, holding every message so far (None is the watcher's own stop mark)."""
        queue: asyncio.Queue[tuple[str, bool] | None] = asyncio.Queue()
        for item in self.kept:
            queue.put_nowait(item)
        self.watchers.add(queue)
        return queue

    async def on_message(self, msg: Any) -> None:
        try:
            envelope = EventEnvelope.from_wire(msg.data)
        except ValueError:
            return
        message = ws_message(envelope, msg.metadata.sequence.stream if msg.metadata else None)
        if message is None:
            return
        item = (orjson.dumps(message).decode(), message["type"] in TERMINAL)
        self.kept.append(item)
        for queue in self.watchers:
            queue.put_nowait(item)


class RunFeeds:
    """The gateway's feeds by run id (one per app)."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self._feeds: dict[str, RunFeed] = {}
        self._starting: dict[str, asyncio.Future[RunFeed]] = {}

    async def join(self, run_id: str) -> tuple[RunFeed, asyncio.Queue[tuple[str, bool] | None]]:
        """Watch `run_id`: its feed (started if needed; raises when the bus refuses the consumer)
        and this watcher's queue of message texts."""
        while True:
            feed = self._feeds.get(run_id)
            if feed is None:
                starting = self._starting.get(run_id)
                if starting is None:
                    feed = await self._start_once(run_id)
                else:
                    feed = await asyncio.shield(starting)
            if self._feeds.get(run_id) is feed:  # not stopped by its last watcher meanwhile
                return feed, feed.join()

    async def _start_once(self, run_id: str) -> RunFeed:
        """Start the run's feed; watchers arriving meanwhile wait for this one instead of starting theirs."""
        future: asyncio.Future[RunFeed] = asyncio.get_running_loop().create_future()
        self._starting[run_id] = future
        try:
            feed = await self._start(run_id)
            future.set_result(feed)
            return feed
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marked retrieved: the waiters get it from their own `await`
            raise
        finally:
            del self._starting[run_id]

    async def _start(self, run_id: str) -> RunFeed:
        feed = RunFeed(run_id)
        feed.sub = await self.nc.jetstream().subscribe(
            events_filter("run", run_id, ">"), stream=EVENTS_STREAM, cb=feed.on_message,
            ordered_consumer=True, deliver_policy=DeliverPolicy.ALL,
        )
        self._feeds[run_id] = feed
        return feed

    async def leave(self, feed: RunFeed, queue: asyncio.Queue[tuple[str, bool] | None]) -> None:
        feed.watchers.discard(queue)
        if not feed.watchers and self._feeds.get(feed.run_id) is feed:
            del self._feeds[feed.run_id]
            with contextlib.suppress(Exception):
                await feed.sub.unsubscribe()

"""What the gateway answers every request from memory — who a token belongs to, who belongs to a
project, a user's page of the project list — kept current by events instead of a short expiry.

A change made through this gateway is forgotten at once by the code that makes it (logout, role
change, member added); a change made anywhere else reaches every gateway replica as an event: an
ordered JetStream consumer on the user and project events forgets the user or the project the
event names (a page of the project list: any project event forgets every page), so the next
request asks again. Entries also expire after `LIVE_SECONDS`, and after
`OFFLINE_SECONDS` while the gateway is not connected to NATS (events may be missed then).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from nats.js.api import DeliverPolicy

from ombudsman.contracts.subjects import EVENTS_STREAM, events_filter
from ombudsman.eventstore.tasks import cancel_and_wait

log = logging.getLogger("ombudsman.gateway.livecache")

LIVE_SECONDS = 60.0
OFFLINE_SECONDS = 2.0
MAX_ENTRIES = 50_000


class LiveCache:
    """A dict of answers by key, each tagged with the group (a user or project id) whose events
    invalidate it. `fresh(key)` is the answer while it is valid; `put` refuses an answer computed
    before an invalidation of its group (the generation moved on while it was being fetched)."""

    def __init__(self, connected: Callable[[], bool] = lambda: True, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: dict[Any, tuple[Any, str, float]] = {}
        self._keys: dict[str, set[Any]] = {}  # group -> its keys, so an event forgets without a scan
        self._generations: dict[str, int] = {}
        self.connected = connected  # the gateway's NATS connection is up (events arrive)

    def get(self, key: Any) -> tuple[bool, Any]:
        """(found, answer) for `key` if a valid answer is cached."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        value, _, stored = entry
        limit = LIVE_SECONDS if self.connected() else OFFLINE_SECONDS
        if time.monotonic() - stored >= limit:
            return False, None
        return True, value

    def generation(self, group: str) -> int:
        """The group's invalidation count: read it before fetching, give it to `put`."""
        return self._generations.get(group, 0)

    def put(self, key: Any, group: str, value: Any, generation: int) -> None:
        if self._generations.get(group, 0) != generation:
            return  # invalidated while this answer was fetched: it may predate the change
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
            self._keys.clear()
        self._entries[key] = (value, group, time.monotonic())
        self._keys.setdefault(group, set()).add(key)

    def forget(self, group: str) -> None:
        """Drop every answer about `group` (a user or a project) and refuse ones now in flight."""
        self._generations[group] = self._generations.get(group, 0) + 1
        for key in self._keys.pop(group, ()):
            self._entries.pop(key, None)


class WholeCache(LiveCache):
    """Answers that any event of their stream type may change (a page of the project list: a
    project created, renamed, joined or left anywhere can change any user's page): they all
    belong to one group, and forgetting any id forgets them all."""

    GROUP = "*"

    def generation(self, group: str = GROUP) -> int:
        return super().generation(self.GROUP)

    def put(self, key: Any, group: str, value: Any, generation: int) -> None:
        super().put(key, self.GROUP, value, generation)

    def forget(self, group: str = GROUP) -> None:
        super().forget(self.GROUP)


class Invalidator:
    """Ordered consumers (from now on) on the events of users and projects: each event forgets
    the cached answers about its stream id (the subject is `omb.evt.<type>.<id>.<event>`).

    Until its consumers are in place (`live`), the caches keep answers only `OFFLINE_SECONDS`: a
    consumer the server is slow to create is retried in the background, never a failed start.
    """

    RETRY_SECONDS = 1.0

    def __init__(self, nc: Any, caches: dict[str, LiveCache | Sequence[LiveCache]]) -> None:
        self.nc = nc
        # stream type ("user", "project") -> the caches its events invalidate
        self.caches = {kind: (found,) if isinstance(found, LiveCache) else tuple(found) for kind, found in caches.items()}
        self.live = False
        self._subs: list[Any] = []
        self._task: asyncio.Task[None] | None = None
        for group in self.caches.values():
            for cache in group:
                cache.connected = self.connected

    def connected(self) -> bool:
        """Events reach the caches now: consumers in place and the NATS connection up."""
        return self.live and bool(self.nc.is_connected)

    async def start(self) -> None:
        """Subscribe now if the server answers in time, else keep trying in the background."""
        if not await self._subscribe():
            self._task = asyncio.create_task(self._retry())

    async def _subscribe(self) -> bool:
        js = self.nc.jetstream()
        try:
            for stream_type in list(self.caches)[len(self._subs):]:
                self._subs.append(await js.subscribe(
                    events_filter(stream_type, "*", "*"), stream=EVENTS_STREAM, cb=self._on_event,
                    ordered_consumer=True, deliver_policy=DeliverPolicy.NEW))
        except Exception as exc:
            log.warning("cache invalidation consumer not in place yet (%s): answers kept %.0f s meanwhile",
                        type(exc).__name__, OFFLINE_SECONDS)
            return False
        self.live = True
        return True

    async def _retry(self) -> None:
        subscribed = False
        while not subscribed:
            await asyncio.sleep(self.RETRY_SECONDS)  # the server is busy: a pause before asking again
            subscribed = await self._subscribe()

    async def _on_event(self, msg: Any) -> None:
        parts = msg.subject.split(".")
        if len(parts) == 5 and parts[2] in self.caches:
            for cache in self.caches[parts[2]]:
                cache.forget(parts[3])

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self.live = False
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()

"""A leader lease: one process of a service holds it at a time; its other replicas stand by.

The lease is a PostgreSQL session advisory lock taken on a connection of its own (plain asyncpg,
outside the service's pool, so the lock can never ride back into the pool with a borrowed
connection). It is held exactly as long as that session lives:

- the holder killed (kill -9) or cut off: PostgreSQL ends the session and frees the lock; the first
  standby to poll (every `poll` seconds) takes it, so a takeover waits at most `poll` seconds plus
  the time PostgreSQL needs to notice the session died (immediate for a local process; TCP
  keepalives for a remote one);
- the holder's own session fails (PostgreSQL restarted, network gone): its check (every `check`
  seconds) fails, it steps down at once (`on_lost`) and competes again like a standby;
- a paused holder (SIGSTOP) keeps its session and so the lease: nobody takes over, nothing is
  decided twice; it carries on when resumed.

Between a session dying and its holder noticing (at most `check` seconds) a new holder may already
act: what a lease guards must still be safe under that overlap (the event store's version guard).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import zlib
from collections.abc import Awaitable, Callable

import asyncpg

from ombudsman.eventstore.db import asyncpg_dsn
from ombudsman.eventstore.tasks import cancel_and_wait

log = logging.getLogger("ombudsman.eventstore.lease")

Callback = Callable[[], Awaitable[None]]


def lease_key(name: str) -> int:
    """The advisory-lock key of the lease `name` (stable across processes and versions)."""
    return zlib.crc32(f"omb-lease:{name}".encode())


def holder_name() -> str:
    """Who holds a lease, as PostgreSQL's `application_name` of its session shows it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaderLease:
    """Competes for the lease `name`; calls `on_acquired` when this process becomes the holder and
    `on_lost` when it stops being it (session failed, or `stop`).

    `start()` makes the first attempt before it returns, so a lone replica is the holder (and has
    run `on_acquired`) when its start-up ends. Its session shows in `pg_stat_activity` as
    `omb-lease:<name>:<host>:<pid>` while it holds the lease (`omb-standby:...` while it waits).
    """

    def __init__(self, database_url: str, name: str, *, on_acquired: Callback, on_lost: Callback,
                 poll: float = 1.0, check: float = 1.0) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.name = name
        self.key = lease_key(name)
        self.on_acquired = on_acquired
        self.on_lost = on_lost
        self.poll = poll
        self.check = check
        self.held = False
        self.takeovers = 0
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Try once now (a lone replica leads when this returns), then keep competing in the background."""
        self._stopping.clear()
        with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
            await self._attempt()
        self._task = asyncio.create_task(self._run(), name=f"lease-{self.name}")

    async def stop(self) -> None:
        """Step down (on_lost when held) and close the session: a standby takes over at its next poll."""
        self._stopping.set()
        await cancel_and_wait(self._task)
        self._task = None
        await self._release()

    async def _attempt(self) -> bool:
        """One try: open the session if needed and take the lock; on success become the holder."""
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.dsn, timeout=max(self.check, 5.0),
                                               server_settings={"application_name": f"omb-standby:{self.name}"})
        got = await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key, timeout=max(self.check, 5.0))
        if not got:
            return False
        await self._conn.execute(f"SET application_name = 'omb-lease:{self.name}:{holder_name()}'")
        started = time.monotonic()
        self.held = True
        self.takeovers += 1
        try:
            await self.on_acquired()
        except BaseException:
            await self._release()
            raise
        log.info("lease %s taken by %s (ready in %.2f s)", self.name, holder_name(), time.monotonic() - started,
                 extra={"lease": self.name, "ready_seconds": round(time.monotonic() - started, 3)})
        return True

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self.held:
                    assert self._conn is not None
                    await self._conn.fetchval("SELECT 1", timeout=self.check)
                else:
                    await self._attempt()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the session failed: whoever held the lease no longer does
                if self.held:
                    log.warning("lease %s lost: %s", self.name, type(exc).__name__)
                await self._release()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.check if self.held else self.poll)

    async def _release(self) -> None:
        """Stop being the holder (on_lost first), then end the session, which frees the lock."""
        if self.held:
            self.held = False
            try:
                await self.on_lost()
            except Exception:
                log.exception("lease %s: stepping down failed", self.name)
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)
            if not conn.is_closed():
                conn.terminate()

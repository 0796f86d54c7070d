"""The outbox relay: publishes committed events from `<schema>.outbox` to JetStream, in order.

Each round takes a transaction-scoped advisory lock (one relay per schema at a time, so replicas
keep the order), reads up to `batch_size` rows in `global_position` order, publishes them with
`Nats-Msg-Id: <event_id>` and the event's `traceparent`, waits for the acks, deletes the acked
rows (a contiguous prefix: never a later row before an earlier one) and commits.

While NATS is away the relay does not publish at all (nothing piles up in the client's buffer); it
retries with an exponential backoff and catches up once the connection is back. Rows are deleted
right after their ack, so an acked row is never published again; the only possible re-publish is a
row whose ack was lost, within seconds, which JetStream's duplicate window drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Sequence
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ombudsman.contracts.subjects import event_subject
from ombudsman.eventstore.db import quote_ident
from ombudsman.eventstore.store import envelope_json_sql

log = logging.getLogger(__name__)


class NotConnected(RuntimeError):
    pass


class OutboxRelay:
    """Drains one schema's outbox to JetStream."""

    def __init__(
        self,
        engine: AsyncEngine,
        schema: str,
        js: JetStreamContext,
        *,
        batch_size: int = 500,
        ack_timeout: float = 5.0,
        poll_interval: float = 1.0,
        max_backoff: float = 5.0,
    ) -> None:
        self.engine = engine
        self.schema = quote_ident(schema)
        self.js = js
        self.batch_size = batch_size
        self.ack_timeout = ack_timeout
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.published = 0
        self.rounds = 0  # background rounds done (published, paused or failed): what a waiter can watch
        self._wake = asyncio.Event()
        self._stopping = False
        self._paused = False
        self._draining = asyncio.Lock()  # held by the background loop for each round
        self._task: asyncio.Task[None] | None = None
        self._lock_key = zlib.crc32(f"omb-outbox:{self.schema}".encode())
        s = self.schema
        self._select = text(
            f"SELECT o.global_position, e.event_id, e.stream_type, e.stream_id, e.event_type, "
            f"e.metadata->>'traceparent' AS traceparent, {envelope_json_sql('e')} AS payload "
            f"FROM {s}.outbox o JOIN {s}.events e USING (global_position) ORDER BY o.global_position LIMIT :n"
        )
        self._delete = text(f"DELETE FROM {s}.outbox WHERE global_position = ANY(CAST(:p AS bigint[]))")
        self._count = text(f"SELECT count(*) FROM {s}.outbox")
        self._lag = text(f"SELECT count(*), coalesce(extract(epoch FROM now() - min(e.recorded_at)), 0) "
                         f"FROM {s}.outbox o JOIN {s}.events e USING (global_position)")

    def notify(self) -> None:
        """Wake the relay: new rows were committed."""
        self._wake.set()

    async def pause(self) -> None:
        """Hold the background publishing until `resume` (committed rows wait in the outbox); returns
        once no round is under way. `flush` and a flushing `stop` still publish."""
        self._paused = True
        async with self._draining:
            pass

    def resume(self) -> None:
        self._paused = False
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"outbox-{self.schema}")

    async def stop(self, *, flush: bool = True, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Stop relaying; with `flush`, first publish what is in the outbox (up to `timeout`)."""
        if flush and self._task is not None:
            try:
                await self.flush(timeout)
            except TimeoutError:
                log.warning("outbox %s: not empty after %.0fs at shutdown; the next start publishes the rest",
                            self.schema, timeout)
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def pending(self) -> int:
        """How many rows wait in the outbox."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(self._count)).scalar_one())

    async def lag(self) -> tuple[int, float]:
        """The outbox lag: rows waiting, and how many seconds the oldest has waited (0 when empty)."""
        async with self.engine.connect() as conn:
            count, age = (await conn.execute(self._lag)).one()
        return int(count), max(0.0, float(age))

    async def flush(self, timeout: float = 10) -> None:  # noqa: ASYNC109 - part of the documented API
        """Return once the outbox is empty; `TimeoutError` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while await self.pending():
            if time.monotonic() > deadline:
                raise TimeoutError(f"outbox {self.schema} still holds rows after {timeout}s")
            if self._task is None or self._paused:
                await self.drain_once()
            else:
                self._wake.set()
                await asyncio.sleep(0.02)

    async def _run(self) -> None:
        backoff = 0.1
        while not self._stopping:
            self._wake.clear()
            try:
                async with self._draining:
                    published = 0 if self._paused else await self.drain_once()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.rounds += 1
                log.warning("outbox %s: publish failed (%s: %s); retry in %.1fs",
                            self.schema, type(exc).__name__, exc, backoff)
                await self._sleep(backoff)
                backoff = min(self.max_backoff, backoff * 2)
                continue
            self.rounds += 1
            if published < self.batch_size:
                await self._sleep(self.poll_interval)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def drain_once(self) -> int:
        """One round: publish up to `batch_size` rows and delete the acked ones. Returns rows published."""
        if not self.js._nc.is_connected:
            raise NotConnected("NATS is not connected")
        failure: BaseException | None = None
        async with self.engine.begin() as conn:
            locked = (await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": self._lock_key})).scalar()
            if not locked:
                return 0  # another replica's relay is at work
            rows = (await conn.execute(self._select, {"n": self.batch_size})).all()
            if not rows:
                return 0
            acked, failure = await self._publish(rows)
            if acked:
                await conn.execute(self._delete, {"p": acked})
        self.published += len(acked)
        if failure is not None:
            raise failure
        return len(acked)

    async def _publish(self, rows: Sequence[Row[Any]]) -> tuple[list[int], BaseException | None]:
        """Publish in order; return the positions of the acked prefix and the first failure."""
        futures: list[asyncio.Future] = []  # type: ignore[type-arg]
        failure: BaseException | None = None
        try:
            for row in rows:
                headers = {"Nats-Msg-Id": row.event_id}
                if row.traceparent:
                    headers["traceparent"] = row.traceparent
                subject = event_subject(row.stream_type, row.stream_id, row.event_type)
                futures.append(await self.js.publish_async(subject, row.payload.encode(), headers=headers))
        except Exception as exc:
            failure = exc
        if futures:
            _, not_done = await asyncio.wait(futures, timeout=self.ack_timeout)
            for future in not_done:
                future.cancel()  # frees its slot in the client's pending-publish window
        acked: list[int] = []
        ack_failure: BaseException | None = None
        for row, future in zip(rows, futures, strict=False):
            if future.cancelled():
                ack_failure = TimeoutError(f"no publish ack within {self.ack_timeout}s")
            elif future.exception() is not None:
                ack_failure = future.exception()
            if ack_failure is not None:
                break
            acked.append(int(row.global_position))
        return acked, ack_failure or failure

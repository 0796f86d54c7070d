"""The audit log writer: reads every event on OMB_EVENTS in stream order and appends it to the log.

The log's own head (the last JetStream sequence it holds) is the cursor: the writer reads the
stream with an ordered consumer starting right after it, so order is JetStream's, a message seen
again is recognised by its sequence (nothing changes), and a sequence that never arrives (deleted
from the stream) is recorded as a gap. Only one writer appends at a time, because the chain is a single sequence:
the audit service runs it only while it holds the lease `audit-writer` (`eventstore.lease`, the same
leader lease as the executor's coordinator; app.py); other replicas stand by and one takes over
within the lease's poll once the holder dies or loses its session.
Messages are written in batches, each in one transaction; a failed batch is rolled back and the
writer re-reads from the log's head.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ombudsman.audit.domain import AlertRule
from ombudsman.audit.log import SCHEMA, append_logged, head, record_rejected
from ombudsman.contracts.access import event_origin_error
from ombudsman.contracts.subjects import EVENTS_STREAM, all_events
from ombudsman.eventstore.tasks import cancel_and_wait

log = logging.getLogger("ombudsman.audit.writer")


async def load_rules(conn: Any) -> list[AlertRule]:
    rows = (await conn.execute(text(f"SELECT rule FROM {SCHEMA}.alert_rules ORDER BY id"))).scalars().all()
    return [AlertRule.model_validate(r if isinstance(r, dict) else json.loads(r)) for r in rows]


def _envelope(data: bytes) -> dict[str, Any] | None:
    try:
        envelope = json.loads(data)
    except ValueError:
        return None
    if not isinstance(envelope, dict) or not {"event_id", "event_type", "stream_type", "stream_id"} <= envelope.keys():
        return None
    return envelope


class AuditWriter:
    """Appends every event to `audit.event_log` in JetStream order, exactly once.

    `start_from` forces reading from that stream sequence (re-reading what is logged changes nothing);
    by default reading resumes after the log's head.
    """

    def __init__(self, engine: AsyncEngine, js: JetStreamContext, *, batch: int = 500,
                 start_from: int | None = None,
                 on_rejected: Callable[[int, str, str], Awaitable[None]] | None = None) -> None:
        self.engine = engine
        self.on_rejected = on_rejected
        self.rejected = 0  # messages refused: envelope and subject disagree
        self.js = js
        self.batch = batch
        self.start_from = start_from
        self.logged = 0
        self.duplicates = 0
        self.gaps = 0
        self.skipped = 0  # messages that are not event envelopes
        self.last_sequence = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Start appending (the caller holds the writer's lease)."""
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self) -> None:
        """Stop appending: a batch under way is rolled back; the next writer re-reads from the log head."""
        self._stopping.set()
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("audit writer: %s; re-reading from the log head", exc)
                await asyncio.sleep(1)

    async def _follow(self) -> None:
        if self.start_from is not None:
            start, self.start_from = self.start_from, None
        else:
            async with self.engine.connect() as conn:
                start = (await head(conn)).stream_seq + 1
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
        sub = await self.js.subscribe(all_events(), stream=EVENTS_STREAM, ordered_consumer=True, config=config,
                                      pending_msgs_limit=self.batch * 20)
        try:
            while not self._stopping.is_set():
                batch = []
                try:
                    batch.append(await sub.next_msg(timeout=1.0))
                    while len(batch) < self.batch:
                        batch.append(await sub.next_msg(timeout=0.02))
                except (TimeoutError, NatsTimeout):
                    pass
                if batch:
                    await self._write(batch)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _write(self, messages: list[Any]) -> None:
        outcomes = []
        refused: list[tuple[int, str, str]] = []
        async with self.engine.begin() as conn:
            rules = await load_rules(conn)
            for msg in messages:
                sequence = msg.metadata.sequence.stream
                envelope = _envelope(msg.data)
                if envelope is None:
                    # never loggable; the next event records the hole as a gap
                    log.error("audit writer: stream sequence %s is not an event envelope", sequence)
                    self.skipped += 1
                    continue
                distrust = event_origin_error(msg.subject, envelope)
                if distrust is not None:
                    # only the owner of a stream type may publish its events (NATS permissions); an
                    # envelope claiming another stream is refused, recorded and alerted, never chained
                    log.error("audit writer: stream sequence %s refused: %s", sequence, distrust)
                    self.rejected += 1
                    if await record_rejected(conn, sequence, msg.subject, envelope, distrust):
                        refused.append((sequence, msg.subject, distrust))
                    continue
                outcomes.append(await append_logged(conn, envelope, sequence, rules))
                self.last_sequence = sequence
        for sequence, subject, reason in refused:
            if self.on_rejected is not None:
                await self.on_rejected(sequence, subject, reason)
        self.logged += outcomes.count("logged") + outcomes.count("gap")
        self.duplicates += outcomes.count("duplicate")
        self.gaps += outcomes.count("gap")
        if "gap" in outcomes:
            log.error("audit writer: JetStream sequence gap detected (recorded in audit.gaps)")

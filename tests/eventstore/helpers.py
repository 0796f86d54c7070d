"""Shared helpers of the eventstore tests: envelopes, small projections, NATS readers."""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts.envelope import Actor, EventEnvelope
from ombudsman.contracts.subjects import EVENTS_STREAM
from ombudsman.eventstore.projections import Projection
from tests.support import eventually

SCHEMA = "estest"
ACTOR = Actor(id="u-1", name="Ada", role="user")


def envelopes(stream_id: str, count: int, *, after: int = 0, stream_type: str = "thing",
              event_type: str = "ThingCounted", traceparent: str | None = None) -> list[EventEnvelope]:
    """`count` events of one stream, versions after+1..after+count."""
    return [
        EventEnvelope(
            event_type=event_type, stream_type=stream_type, stream_id=stream_id, version=after + i,
            actor=ACTOR, correlation_id=f"corr-{stream_id}", traceparent=traceparent,
            data={"n": after + i, "label": f"{stream_id}#{after + i}", "weight": (after + i) * 1.5},
        )
        for i in range(1, count + 1)
    ]


class CountsProjection(Projection):
    """Per stream: events seen, sum of n, last label. `n = n + 1` is NOT idempotent by itself:
    applying an event twice shows, so only tracking keeps it right under redelivery."""

    name: ClassVar[str] = "thing_counts"
    event_types: ClassVar[frozenset[str] | None] = frozenset({"ThingCounted"})
    table = f"{SCHEMA}.thing_counts"

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        await conn.execute(text(
            f"CREATE TABLE IF NOT EXISTS {self.table} (stream_id text PRIMARY KEY, events integer NOT NULL, "
            "total bigint NOT NULL, last_label text NOT NULL, last_at timestamptz NOT NULL, weight numeric NOT NULL)"
        ))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"TRUNCATE {self.table}"))

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        await conn.execute(text(
            f"INSERT INTO {self.table} AS t VALUES (:s, 1, :n, :label, :at, :w) ON CONFLICT (stream_id) DO UPDATE "
            "SET events = t.events + 1, total = t.total + excluded.total, last_label = excluded.last_label, "
            "last_at = excluded.last_at, weight = t.weight + excluded.weight"
        ), {"s": envelope.stream_id, "n": envelope.data["n"], "label": envelope.data["label"],
            "at": envelope.occurred_at, "w": envelope.data["weight"]})


async def table_text(conn: AsyncConnection, table: str, order_by: str) -> str:
    """Every row of `table` as one text (row order fixed), to compare builds byte for byte."""
    rows = (await conn.execute(text(f"SELECT t::text FROM {table} t ORDER BY {order_by}"))).scalars().all()
    return "\n".join(rows)


async def read_stream(nats_url: str, filter_subject: str = "omb.evt.>", *, expect: int | None = None,
                      wait: float = 20.0) -> list[Any]:
    """Every message of OMB_EVENTS matching `filter_subject`, in stream order (waits up to `wait`
    seconds for `expect` of them; the caller asserts how many came)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        read: list[Any] = []

        async def enough() -> bool:
            sub = await js.pull_subscribe(filter_subject, stream=EVENTS_STREAM, config=ConsumerConfig(
                ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, filter_subject=filter_subject,
                inactive_threshold=30.0))
            total = (await sub.consumer_info()).num_pending
            read.clear()
            while len(read) < total:
                read.extend(await sub.fetch(min(500, total - len(read)), timeout=5))
            await sub.unsubscribe()
            return expect is None or len(read) >= expect

        with contextlib.suppress(AssertionError):
            await eventually(enough, timeout=wait, interval=0.2, what=f"{expect} messages on {filter_subject}")
        return read
    finally:
        await nc.close()


def counts_projections() -> list[Projection]:
    """The `--projections` factory the replay CLI test points at."""
    return [CountsProjection()]

"""The PostgreSQL event store of one service schema: append with optimistic concurrency, read back.

`append` writes the events and their outbox rows in the caller's transaction with one statement,
so events, outbox and whatever else the transaction holds commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.registry import to_current
from ombudsman.contracts.replies import Conflict, Invalid
from ombudsman.contracts.subjects import event_subject
from ombudsman.eventstore.db import quote_ident

# NATS refuses messages over its max_payload (1 MiB by default); an event that could never be
# published would block its outbox, so it is refused at append time.
MAX_EVENT_DATA_BYTES = 900_000


class StreamConflict(Conflict):
    """The version guard refused an append: another writer appended to the stream first. A race, not
    a decision: `ombudsman.eventstore.decide.retry_conflicts` runs the attempt again on it."""

def envelope_json_sql(alias: str = "", data: str | None = None) -> str:
    """SQL building the envelope JSON (text) of an events row (columns qualified with `alias.`);
    `data`: an SQL expression to use instead of the `data` column (e.g. leaving out a large field).

    Rows are read back as envelope JSON built by PostgreSQL: one parse and validation in pydantic.
    """
    a = f"{alias}." if alias else ""
    data = data or f"{a}data"
    return (
        "json_build_object("
        f"'event_id', {a}event_id, 'event_type', {a}event_type, 'schema_version', {a}schema_version, "
        f"'stream_type', {a}stream_type, 'stream_id', {a}stream_id, 'version', {a}version, "
        f"'occurred_at', {a}occurred_at, 'actor', {a}metadata->'actor', "
        f"'correlation_id', {a}metadata->>'correlation_id', 'causation_id', {a}metadata->>'causation_id', "
        f"'traceparent', {a}metadata->>'traceparent', 'data', {data})::text"
    )


_ENVELOPE = f"global_position, {envelope_json_sql()} AS envelope"


def envelope_from_json(payload: str) -> EventEnvelope:
    """An envelope read back from the store, upcast to the event type's current schema version."""
    return to_current(EventEnvelope.model_validate_json(payload))


class EventStore:
    """Events of one schema (`<schema>.events`, `<schema>.outbox`)."""

    def __init__(self, schema: str) -> None:
        self.schema = quote_ident(schema)
        s = self.schema
        self._insert = text(f"""
            WITH input AS (
                SELECT * FROM unnest(
                    CAST(:event_ids AS text[]), CAST(:stream_types AS text[]), CAST(:stream_ids AS text[]),
                    CAST(:versions AS integer[]), CAST(:event_types AS text[]), CAST(:schema_versions AS integer[]),
                    CAST(:datas AS text[]), CAST(:metas AS text[]), CAST(:occurred AS timestamptz[])
                ) WITH ORDINALITY AS t(event_id, stream_type, stream_id, version, event_type, schema_version,
                                        data, metadata, occurred_at, n)
            ),
            guard AS (
                SELECT coalesce(max(version), 0) AS current FROM {s}.events WHERE stream_id = :stream_id
            ),
            inserted AS (
                INSERT INTO {s}.events (event_id, stream_type, stream_id, version, event_type, schema_version,
                                        data, metadata, occurred_at)
                SELECT event_id, stream_type, stream_id, version, event_type, schema_version,
                       CAST(data AS jsonb), CAST(metadata AS jsonb), occurred_at
                FROM input, guard WHERE guard.current = :expected_version
                ORDER BY n
                RETURNING global_position
            ),
            queued AS (
                INSERT INTO {s}.outbox (global_position) SELECT global_position FROM inserted
            )
            SELECT global_position FROM inserted ORDER BY global_position
        """)
        self._version = text(f"SELECT coalesce(max(version), 0) FROM {s}.events WHERE stream_id = :stream_id")

    async def append(
        self, conn: AsyncConnection, envelopes: Sequence[EventEnvelope], *, expected_version: int
    ) -> list[int]:
        """Append `envelopes` (one stream, versions `expected_version+1`, `+2`, ...) in `conn`'s transaction.

        Raises `StreamConflict` when the stream's last version is not `expected_version` (another writer got
        there first); the transaction is then unusable and must be rolled back. Returns the global
        positions of the new events, in order.
        """
        if not envelopes:
            return []
        stream_id = envelopes[0].stream_id
        for offset, envelope in enumerate(envelopes, start=1):
            if envelope.stream_id != stream_id:
                raise ValueError("one append writes one stream: got stream ids "
                                 f"{stream_id!r} and {envelope.stream_id!r}")
            if envelope.version != expected_version + offset:
                raise ValueError(f"event {offset} of stream {stream_id!r} has version {envelope.version}, "
                                 f"expected {expected_version + offset}")
        params: dict[str, Any] = {
            "stream_id": stream_id, "expected_version": expected_version,
            "event_ids": [], "stream_types": [], "stream_ids": [], "versions": [], "event_types": [],
            "schema_versions": [], "datas": [], "metas": [], "occurred": [],
        }
        for envelope in envelopes:
            event_subject(envelope.stream_type, envelope.stream_id, envelope.event_type)  # publishable, or ValueError
            data = to_json(envelope.data).decode()
            if len(data) > MAX_EVENT_DATA_BYTES:
                raise Invalid(f"event {envelope.event_type} of stream {stream_id!r} is too large: "
                              f"{len(data)} bytes of data (at most {MAX_EVENT_DATA_BYTES}); split it",
                              {"stream_id": stream_id, "event_type": envelope.event_type, "bytes": len(data)})
            params["event_ids"].append(envelope.event_id)
            params["stream_types"].append(envelope.stream_type)
            params["stream_ids"].append(envelope.stream_id)
            params["versions"].append(envelope.version)
            params["event_types"].append(envelope.event_type)
            params["schema_versions"].append(envelope.schema_version)
            params["datas"].append(data)
            params["metas"].append(to_json({
                "actor": envelope.actor, "correlation_id": envelope.correlation_id,
                "causation_id": envelope.causation_id, "traceparent": envelope.traceparent,
            }).decode())
            params["occurred"].append(envelope.occurred_at)
        try:
            rows = (await conn.execute(self._insert, params)).all()
        except IntegrityError as exc:
            raise StreamConflict(
                f"stream {stream_id!r} moved: another writer appended first",
                {"stream_id": stream_id, "expected_version": expected_version},
            ) from exc
        if not rows:
            current = await self.stream_version(conn, stream_id)
            raise StreamConflict(
                f"stream {stream_id!r} is at version {current}, not {expected_version}",
                {"stream_id": stream_id, "expected_version": expected_version, "current_version": current},
            )
        return [int(row.global_position) for row in rows]

    async def stream_version(self, conn: AsyncConnection, stream_id: str) -> int:
        """The last version of a stream (0 when it has no events)."""
        return int((await conn.execute(self._version, {"stream_id": stream_id})).scalar_one())

    async def load_stream(
        self, conn: AsyncConnection, stream_id: str, *, up_to: datetime | None = None
    ) -> list[EventEnvelope]:
        """A stream's events in version order (only those that occurred at or before `up_to` if given)."""
        sql = f"SELECT {_ENVELOPE} FROM {self.schema}.events WHERE stream_id = :stream_id"
        params: dict[str, Any] = {"stream_id": stream_id}
        if up_to is not None:
            sql += " AND occurred_at <= :up_to"
            params["up_to"] = up_to
        rows = (await conn.execute(text(sql + " ORDER BY version"), params)).all()
        return [envelope_from_json(row.envelope) for row in rows]

    async def read_all(
        self, conn: AsyncConnection, *, after_position: int = 0, limit: int = 1000
    ) -> list[tuple[int, EventEnvelope]]:
        """Events of every stream after `after_position`, in global order, at most `limit`."""
        rows = (await conn.execute(
            text(f"SELECT {_ENVELOPE} FROM {self.schema}.events WHERE global_position > :after "
                 "ORDER BY global_position LIMIT :limit"),
            {"after": after_position, "limit": limit},
        )).all()
        return [(int(row.global_position), envelope_from_json(row.envelope)) for row in rows]

    async def last_position(self, conn: AsyncConnection) -> int:
        """The highest global position in the store (0 when empty)."""
        sql = text(f"SELECT coalesce(max(global_position), 0) FROM {self.schema}.events")
        return int((await conn.execute(sql)).scalar_one())

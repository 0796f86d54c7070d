"""Wiring of the audit service: queries, alert rules, the ordered log writer and alert delivery.

The log writer runs in one replica at a time: the one holding the lease `audit-writer`
(`eventstore.lease`: a PostgreSQL advisory lock on a session of its own, shown in
`pg_stat_activity` as `omb-lease:audit-writer:<host>:<pid>`); the others stand by and the first to
poll after the holder dies (or its session fails) takes over, reading on from the log's head."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from ombudsman.audit.alerts import delivery_loop
from ombudsman.audit.handlers import COMMANDS, QUERIES
from ombudsman.audit.log import SCHEMA
from ombudsman.audit.projections import AlertRules
from ombudsman.audit.writer import AuditWriter
from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.eventstore.decide import retry_conflicts
from ombudsman.eventstore.lease import LeaderLease
from ombudsman.eventstore.runtime import Service
from ombudsman.eventstore.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
WRITER_LEASE = "audit-writer"  # one log writer at a time: the chain is a single sequence


class AuditService(Service):
    """The runtime plus the ordered event-log writer and the alert delivery loop."""

    writer: AuditWriter | None = None
    writer_lease: LeaderLease | None = None
    writer_start_from: int | None = None  # re-read the stream from this sequence (redelivery drills)

    async def start(self) -> None:
        # No key, no start (checked before anything is opened): archive signing and webhook HMAC.
        self.settings.require_secret("secret_key", "OMB_SECRET_KEY", "seeds the key that signs audit archive segments")
        secret = alert_secret(self.settings)
        await super().start()
        writer = AuditWriter(self.engine, self.js, start_from=self.writer_start_from,  # type: ignore[arg-type]
                             on_rejected=self._record_refused)
        self.writer = writer
        assert self.settings.database_url
        self.writer_lease = LeaderLease(self.settings.database_url, WRITER_LEASE, on_acquired=writer.start,
                                        on_lost=writer.stop)
        await self.writer_lease.start()
        self._stop_delivery = asyncio.Event()
        self._delivery = asyncio.create_task(
            delivery_loop(self.engine, secret, self._record_fired, self._stop_delivery)  # type: ignore[arg-type]
        )

    async def stop(self) -> None:
        if self.writer_lease is not None:  # stops the writer when it holds the lease; a standby takes over
            await self.writer_lease.stop()
            self.writer_lease = None
        if self.writer is not None:
            await self.writer.stop()
            self._stop_delivery.set()
            await self._delivery
            self.writer = None
        await super().stop()

    async def _record_refused(self, sequence: int, subject: str, reason: str) -> None:
        """`EventRefused` on the audit's `refused-events` stream: chained like every audit event, so
        subscribers and alert rules see it."""

        stream = "refused-events"

        async def append() -> None:
            async with self.ctx.uow() as uow:
                await uow.emit(stream, [ev.EventRefused(stream_sequence=sequence, subject=subject, reason=reason)],
                               Metadata(actor=Actor.service("audit")), expected_version=await uow.version(stream))

        await retry_conflicts(append, stream_id=stream)

    async def _record_fired(self, rule_id: str, event_id: str, channel: str) -> None:
        """Append AlertFired to the rule's stream; replicas delivering the same rule at once retry
        on the version conflict, so no firing goes unrecorded."""
        await retry_conflicts(lambda: self._append_fired(rule_id, event_id, channel), stream_id=f"fired-{rule_id}")

    async def _append_fired(self, rule_id: str, event_id: str, channel: str) -> None:
        from sqlalchemy import text

        async with self.ctx.uow() as uow:
            row = (
                await uow.conn.execute(
                    text(f"SELECT event_type, summary FROM {SCHEMA}.event_log e LEFT JOIN {SCHEMA}.notifications n "
                         "USING (event_id) WHERE e.event_id = :e LIMIT 1"),
                    {"e": event_id},
                )
            ).first()
            stream = f"fired-{rule_id}"
            await uow.emit(
                stream,
                [ev.AlertFired(rule_id=rule_id, source_event_id=event_id, source_event_type=row[0] if row else "",
                               channel=channel, summary=(row[1] or "") if row else "")],
                Metadata(actor=Actor.service("audit")),
                expected_version=await uow.version(stream),
            )


def alert_secret(settings: Settings) -> str:
    """The HMAC key of webhook signatures: OMB_ALERT_SECRET (`ombudsman up` generates it), else
    derived from OMB_SECRET_KEY (older deployments). Neither set: RuntimeError naming both; there is
    no constant fallback key."""
    import os

    explicit = os.environ.get("OMB_ALERT_SECRET", "")
    if explicit:
        if len(explicit) < 16:
            raise RuntimeError("OMB_ALERT_SECRET is shorter than 16 characters: it signs alert webhooks")
        return explicit
    if not settings.secret_key:
        raise RuntimeError("OMB_ALERT_SECRET is not set (nor OMB_SECRET_KEY to derive it from): it signs "
                           "alert webhooks. `ombudsman up` generates it; a deployment must set it.")
    return hashlib.sha256(f"alerts:{settings.secret_key}".encode()).hexdigest()


def create_service(settings: Settings | None = None) -> AuditService:
    service = AuditService("audit", schema=SCHEMA, settings=settings or Settings(), migrations=MIGRATIONS,
                           projections=[AlertRules()])
    for name, handler in COMMANDS.items():
        service.command(name)(handler)
    for name, handler in QUERIES.items():
        service.query(name)(handler)
    return service

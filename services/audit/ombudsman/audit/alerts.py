"""Delivering queued alerts: webhooks (httpx, retries with backoff, HMAC signature) and in-app
notifications. Deliveries are queued in the same transaction that logs the event (log.py), so a
rule fires once per matching event, and a restart between event and delivery loses nothing.

Every audit replica runs a delivery loop. A round first claims its due rows (`FOR UPDATE SKIP
LOCKED`, pushing their next attempt a lease into the future), so two replicas never post the same
alert; a replica that dies mid-round leaves its claimed rows to be retried when the lease ends.
Only a crash between a receiver's 2xx and the status update can repeat a delivery: receivers that
must not see a repeat deduplicate on the `X-Ombudsman-Delivery` header (`<rule>:<event>`)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ombudsman.audit.log import SCHEMA

log = logging.getLogger("ombudsman.audit.alerts")
MAX_ATTEMPTS = 8
WEBHOOK_TIMEOUT = 10.0  # seconds per POST
SIGNATURE_HEADER = "X-Ombudsman-Signature"
DELIVERY_HEADER = "X-Ombudsman-Delivery"

OnDelivered = Callable[[str, str, str], Awaitable[None]]  # rule_id, event_id, channel


def sign(secret: str, body: bytes) -> str:
    """`sha256=<hex hmac>` of the body: receivers recompute it with the shared secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300, 2 ** max(attempts - 1, 0)))


async def deliver_pending(
    engine: AsyncEngine, client: httpx.AsyncClient, secret: str, on_delivered: OnDelivered, *, limit: int = 10
) -> int:
    """Claim up to `limit` due deliveries and try each once; returns how many were delivered."""
    lease = 30 + limit * (WEBHOOK_TIMEOUT + 2)  # seconds: longer than this round can take
    async with engine.begin() as conn:
        rows = (
            await conn.execute(
                text(
                    f"""UPDATE {SCHEMA}.alert_deliveries d SET next_attempt_at = now() + make_interval(secs => :lease)
                        FROM (SELECT rule_id, event_id FROM {SCHEMA}.alert_deliveries
                              WHERE status = 'pending' AND next_attempt_at <= now()
                              ORDER BY next_attempt_at LIMIT :n FOR UPDATE SKIP LOCKED) due
                        WHERE d.rule_id = due.rule_id AND d.event_id = due.event_id
                        RETURNING d.rule_id, d.event_id, d.channel, d.url, d.payload, d.attempts"""
                ),
                {"n": limit, "lease": lease},
            )
        ).all()
    delivered = 0
    for rule_id, event_id, channel, url, payload, attempts in rows:
        error = None
        if channel == "webhook":
            body = payload.encode()
            try:
                response = await client.post(
                    url,
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        SIGNATURE_HEADER: sign(secret, body),
                        DELIVERY_HEADER: f"{rule_id}:{event_id}",
                    },
                    timeout=WEBHOOK_TIMEOUT,
                )
                if response.status_code >= 300:
                    error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
        async with engine.begin() as conn:
            if error is None:
                await conn.execute(
                    text(
                        f"""UPDATE {SCHEMA}.alert_deliveries SET status = 'delivered', delivered_at = now(),
                            attempts = attempts + 1 WHERE rule_id = :r AND event_id = :e"""
                    ),
                    {"r": rule_id, "e": event_id},
                )
            else:
                failed = attempts + 1 >= MAX_ATTEMPTS
                await conn.execute(
                    text(
                        f"""UPDATE {SCHEMA}.alert_deliveries SET attempts = attempts + 1, last_error = :err,
                            status = :status, next_attempt_at = :next WHERE rule_id = :r AND event_id = :e"""
                    ),
                    {
                        "r": rule_id,
                        "e": event_id,
                        "err": error,
                        "status": "failed" if failed else "pending",
                        "next": datetime.now(UTC) + backoff(attempts + 1),
                    },
                )
                log.warning("alert delivery %s:%s failed (%s)", rule_id, event_id, error)
        if error is None:
            delivered += 1
            await on_delivered(rule_id, event_id, channel)
    return delivered


async def delivery_loop(
    engine: AsyncEngine, secret: str, on_delivered: OnDelivered, stop: asyncio.Event, *, interval: float = 0.5
) -> None:
    """Deliver due alerts until `stop` is set."""
    async with httpx.AsyncClient() as client:
        while not stop.is_set():
            try:
                await deliver_pending(engine, client, secret, on_delivered)
            except Exception:
                log.exception("alert delivery round failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass

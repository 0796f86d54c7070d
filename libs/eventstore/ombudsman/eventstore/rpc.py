"""Request/reply for commands and queries over NATS, with the reply/error model of contracts.replies.

Wire format: the payload is JSON in the body; the `Metadata` (actor, correlation, causation) is JSON
in header `Omb-Metadata`; the person a request acts for in header `Omb-Token` (bustoken); the W3C trace context in `traceparent`/`tracestate`; the answer is a
`Reply` as JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from opentelemetry.trace import SpanKind

from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.replies import OmbudsmanError, Reply, Timeout, Unavailable
from ombudsman.eventstore import bustoken, tracing

META_HEADER = "Omb-Metadata"
NO_RESPONDER_RETRIES = 2
NO_RESPONDER_GRACE = 0.2  # seconds between attempts when nobody is subscribed

CommandHandler = Callable[[dict[str, Any], Metadata], Awaitable[Any]]


def nats_client(nc_or_broker: Any) -> NATS:
    """The nats-py client of a nats-py `Client` or a FastStream `NatsBroker`."""
    if isinstance(nc_or_broker, NATS):
        return nc_or_broker
    connection = getattr(nc_or_broker, "connection", None) or getattr(nc_or_broker, "_connection", None)
    if connection is None:
        raise TypeError(f"expected a nats Client or a connected NatsBroker, got {type(nc_or_broker).__name__}")
    return connection  # type: ignore[no-any-return]


def request_headers(meta: Metadata | None) -> dict[str, str]:
    """Headers of a request: metadata, the person's bus token (bustoken.token_for) and the trace context."""
    meta = meta or Metadata()
    headers = {META_HEADER: meta.model_dump_json()}
    token = bustoken.token_for(meta)
    if token:
        headers[bustoken.TOKEN_HEADER] = token
    tracing.inject(headers)
    if "traceparent" not in headers and meta.traceparent:
        headers["traceparent"] = meta.traceparent
    return headers


async def request(
    nc_or_broker: Any,
    subject: str,
    payload: dict[str, Any],
    *,
    meta: Metadata | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109 - a per-request deadline is the API
) -> Any:
    """Send a command/query and return `reply.result`; raise the reply's error as its OmbudsmanError subclass.

    No service subscribed (after two short retries) -> `Unavailable`; no reply within `timeout` -> `Timeout`.
    """
    nc = nats_client(nc_or_broker)
    parent = tracing.context_from_traceparent(meta.traceparent) if meta and meta.traceparent else None
    with tracing.tracer().start_as_current_span(f"request {subject}", context=parent, kind=SpanKind.CLIENT,
                                                attributes={"messaging.destination": subject}):
        headers = request_headers(meta)
        body = json.dumps(payload, default=str).encode()
        for attempt in range(NO_RESPONDER_RETRIES + 1):
            try:
                msg = await nc.request(subject, body, timeout=timeout, headers=headers)
                break
            except NoRespondersError:
                # A replica may be (re)subscribing, e.g. during a rolling restart: a short grace first.
                if attempt == NO_RESPONDER_RETRIES:
                    raise Unavailable(f"no service answers {subject}", {"subject": subject}) from None
                await asyncio.sleep(NO_RESPONDER_GRACE)
            except NatsTimeout:
                raise Timeout(f"no reply on {subject} within {timeout}s", {"subject": subject}) from None
    reply = Reply.model_validate_json(msg.data)
    if not reply.ok:
        if reply.error is None:
            raise OmbudsmanError(f"{subject} failed without an error description")
        raise OmbudsmanError.from_info(reply.error)
    return reply.result


async def gather(
    nc_or_broker: Any,
    subject: str,
    payload: dict[str, Any],
    *,
    meta: Metadata | None = None,
    wait: float = 0.5,
) -> list[Any]:
    """Ask every subscriber of a broadcast subject (e.g. each worker) and collect the results of
    the replies that arrive within `wait` seconds; failed replies are left out."""
    nc = nats_client(nc_or_broker)
    inbox = nc.new_inbox()
    results: list[Any] = []

    async def collect(msg: Any) -> None:
        try:
            reply = Reply.model_validate_json(msg.data)
        except ValueError:
            return
        if reply.ok:
            results.append(reply.result)

    sub = await nc.subscribe(inbox, cb=collect)
    try:
        await nc.publish(subject, json.dumps(payload, default=str).encode(), reply=inbox,
                         headers=request_headers(meta))
        await nc.flush()
        await asyncio.sleep(wait)
    finally:
        await sub.unsubscribe()
    return results


# A reply's share of a bus message (NATS' default max_payload is 1 MiB), leaving room for the rest
# of the reply around a page of items.
REPLY_BUDGET = 768 * 1024


def fit_page(items: list[Any], offset: int, limit: int, budget: int = REPLY_BUDGET) -> tuple[list[Any], int | None]:
    """A page of `items` from `offset`: at most `limit` of them, and fewer when their JSON would not
    fit `budget` bytes (always at least one). Returns the page and the offset of the next page (None
    at the end), so large items (a table with hundreds of columns) still travel in bus-sized replies."""
    page: list[Any] = []
    size = 0
    for item in items[offset: offset + limit]:
        cost = len(json.dumps(item, default=str)) + 2
        if page and size + cost > budget:
            break
        page.append(item)
        size += cost
    following = offset + len(page)
    return page, (following if following < len(items) else None)

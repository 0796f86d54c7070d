"""FastStream middlewares of the service runtime, outermost first (`runtime.Service` installs them):

- `MetricsMiddleware`: requests, failures by error code and time spent, per subject (`BusMetrics`);
- `TracingMiddleware`: a SERVER span per request, child of the caller's W3C trace context headers;
- `ReplyMiddleware`: answers with the handler's result or error as the one `contracts.replies.Reply` shape
  (pydantic errors → `invalid` with `details.fields: [{field, message}]`, anything unexpected →
  `internal`, logged, never its traceback), refused at once when larger than the bus carries;
- `AuthMiddleware`: the request body as a JSON object and its `Metadata` with the actor proven (the
  person of a gateway-signed bus token, or a service on the subjects `contracts.access` opens to
  services), handed to the handler through FastStream's context under `REQUEST_KEY`.

Each middleware class is bound to its `BusState` with `functools.partial` (FastStream builds one
middleware object per message as `middleware(msg, context=...)`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from faststream import BaseMiddleware
from faststream.message import StreamMessage
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from ombudsman.contracts.access import request_access
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.replies import (
    Forbidden,
    Invalid,
    OmbudsmanError,
    Reply,
    Unauthorized,
    invalid,
    invalid_fields,
)
from ombudsman.eventstore import metrics as prometheus
from ombudsman.eventstore import tracing
from ombudsman.eventstore.bustoken import TOKEN_HEADER, BusTokenVerifier
from ombudsman.eventstore.rpc import META_HEADER

log = logging.getLogger("ombudsman.eventstore.runtime")

REQUEST_KEY = "omb_request"  # FastStream context key of the (payload, Metadata) of the request in hand


@dataclass
class BusMetrics:
    """Counters of one process's request handling, per subject (cheap: three dict updates a request)."""

    requests: Counter[str] = field(default_factory=Counter)
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)  # (subject, error code)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    def snapshot(self) -> dict[str, Any]:
        """Requests, failures by code and mean milliseconds, per subject."""
        return {
            subject: {
                "requests": count,
                "failures": {code: n for (s, code), n in self.failures.items() if s == subject},
                "mean_ms": round(1000 * self.seconds[subject] / count, 3),
            }
            for subject, count in sorted(self.requests.items())
        }


@dataclass
class BusState:
    """What the middlewares of one service share: its name, token verifier, metrics and bus limit."""

    service: str
    health_subject: str
    verifier: BusTokenVerifier | None = None
    metrics: BusMetrics = field(default_factory=BusMetrics)
    max_payload: Callable[[], int] = lambda: 0


def _subject(msg: StreamMessage[Any]) -> str:
    return str(msg.raw_message.subject)


class _Bound(BaseMiddleware):
    """A middleware bound to the service's `BusState`."""

    def __init__(self, msg: Any, /, *, context: Any, state: BusState) -> None:
        super().__init__(msg, context=context)
        self.state = state


class MetricsMiddleware(_Bound):
    """Counts requests and the time they take, per subject."""

    async def consume_scope(self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]],
                            msg: StreamMessage[Any]) -> Any:
        started = time.perf_counter()
        try:
            return await call_next(msg)
        finally:
            subject = _subject(msg)
            self.state.metrics.requests[subject] += 1
            self.state.metrics.seconds[subject] += time.perf_counter() - started


class TracingMiddleware(_Bound):
    """A SERVER span per request, in the trace of the caller's `traceparent` header."""

    async def consume_scope(self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]],
                            msg: StreamMessage[Any]) -> Any:
        subject = _subject(msg)
        with tracing.span(subject, kind=SpanKind.SERVER, parent_headers=msg.headers or {},
                          attributes={"messaging.destination": subject, "omb.service": self.state.service}):
            return await call_next(msg)


class ReplyMiddleware(_Bound):
    """Answers the request with the handler's outcome as one `Reply`: result, or the error in the one shape."""

    async def consume_scope(self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]],
                            msg: StreamMessage[Any]) -> Any:
        subject = _subject(msg)
        started = time.perf_counter()
        try:
            reply = Reply.success(await call_next(msg))
        except OmbudsmanError as exc:
            reply = Reply.failure(exc)
        except ValidationError as exc:
            reply = Reply.failure(invalid(exc, "invalid request: "))
        except Exception:
            log.exception("%s: unexpected error handling %s", self.state.service, subject)
            reply = Reply.failure(OmbudsmanError("internal error", {"subject": subject}))
        if reply.error is not None:
            self.state.metrics.failures[(subject, reply.error.code.value)] += 1
        # the Prometheus series (eventstore.metrics): outcome `ok` or the error's code, with the time
        prometheus.observe_request(self.state.service, subject, "ok" if reply.error is None else reply.error.code.value,
                                   time.perf_counter() - started)
        body = reply.model_dump_json().encode()
        limit = self.state.max_payload()
        if limit and len(body) > limit:
            # NATS would refuse it and the caller would wait for its timeout: say so at once
            body = Reply.failure(Invalid(
                f"the answer to {subject} ({len(body)} bytes) is larger than the bus carries ({limit} "
                "bytes): ask for less (a page or a filter)",
                {"reply_bytes": len(body), "max_payload": limit})).model_dump_json().encode()
        raw = msg.raw_message
        if raw.reply:
            # Answered here, not by FastStream's response publisher (subscribers are `no_reply`):
            # one publish, no per-message publisher object and middleware chain (see design-notes 1).
            with contextlib.suppress(Exception):  # the caller may be gone; nothing to tell it
                await raw.respond(body)
        return None


class AuthMiddleware(_Bound):
    """The request's JSON body and its `Metadata` with a proven actor, put in the context for the handler."""

    async def consume_scope(self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]],
                            msg: StreamMessage[Any]) -> Any:
        subject = _subject(msg)
        headers = msg.headers or {}
        payload = request_payload(msg.body)
        try:
            claimed = Metadata.model_validate_json(headers[META_HEADER]) if META_HEADER in headers else Metadata()
        except ValidationError as exc:
            raise invalid(exc, "bad request metadata: ") from None
        meta = self.authenticated(subject, claimed, headers.get(TOKEN_HEADER))
        # Events appended by this handler carry the span of this hop (same trace as the caller).
        meta = meta.model_copy(update={"traceparent": tracing.current_traceparent() or meta.traceparent})
        with self.context.scope(REQUEST_KEY, (payload, meta)):
            return await call_next(msg)

    def authenticated(self, subject: str, claimed: Metadata, token: str | None) -> Metadata:
        """The request's metadata with its actor proven: the person of a verified bus token, or (no
        token) a service, which only the subjects `contracts.access` opens to services accept.
        The actor a header claims is never taken as is."""
        access = "either" if subject == self.state.health_subject else request_access(subject)
        if token:
            if access == "service":
                raise Forbidden(f"{subject} answers services only", {"subject": subject})
            if self.state.verifier is None:
                raise Unauthorized("this service cannot verify bus tokens")
            return claimed.model_copy(update={"actor": self.state.verifier.actor(token), "token": token})
        if access == "user":
            raise Unauthorized(f"{subject} needs a user token signed by the gateway", {"subject": subject})
        name = claimed.actor.name if claimed.actor.role == "service" else "unknown"
        return claimed.model_copy(update={"actor": Actor.service(name), "token": None})


def request_payload(body: bytes) -> dict[str, Any]:
    """A request body as a JSON object; `Invalid` naming what is wrong otherwise (not JSON, not an
    object, or a NUL character PostgreSQL text cannot hold)."""
    try:
        payload = json.loads(body) if body else {}
    except json.JSONDecodeError as exc:
        raise Invalid(f"the request body is not JSON: {exc.msg}") from None
    except UnicodeDecodeError:
        raise Invalid("the request body is not UTF-8 JSON") from None
    if not isinstance(payload, dict):
        raise Invalid("the request body must be a JSON object")
    nul_field = _nul_field(payload)
    if nul_field is not None:
        raise invalid_fields(f"{nul_field or 'body'}: text must not contain NUL characters",
                             {nul_field or "body": "contains a NUL character"})
    return payload


def _nul_field(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (key or value) holding a NUL character, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return where
            found = _nul_field(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_field(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None

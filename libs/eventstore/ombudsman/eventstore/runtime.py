"""The service runtime: one process of one service.

    service = Service("projects", schema="projects", settings=Settings(), migrations=HERE / "migrations",
                      projections=[ProjectList()], consumers=[(Memberships(), "projects-members", "omb.evt.user.>")])

    @service.command("create")
    async def create(payload: dict, meta: Metadata, ctx: ServiceContext) -> dict:
        async with ctx.uow() as uow:
            await uow.emit(project_id, [ProjectCreated(...)], meta, expected_version=0)
        return {"id": project_id}

    if __name__ == "__main__":
        service.run()

Commands (`omb.cmd.<service>.<name>`) and queries (`omb.qry.<service>.<name>`) are subscribed in the
queue group `omb-<service>`, so replicas share them. A handler's return value becomes
`Reply.success(result)`; an `OmbudsmanError` becomes `Reply.failure`; a pydantic `ValidationError`
becomes `invalid` with the fields; anything else `internal` (logged, never its traceback in the reply).

Subscriptions use nats-py directly (not FastStream's NatsBroker): the runtime registers subjects
dynamically per service, needs the raw headers (metadata, trace context), JetStream acks with nak
delays for consumers and batched publish acks for the outbox; nats-py gives all of these plainly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

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
from ombudsman.contracts.subjects import command_subject, health_subject, query_subject, queue_group
from ombudsman.eventstore import metrics, rpc, tracing
from ombudsman.eventstore.bustoken import TOKEN_HEADER, BusTokenVerifier
from ombudsman.eventstore.db import create_engine
from ombudsman.eventstore.logging import setup_logging
from ombudsman.eventstore.migrations import ensure_event_tables, run_migrations
from ombudsman.eventstore.natsauth import connect_options
from ombudsman.eventstore.outbox import OutboxRelay
from ombudsman.eventstore.projections import Projection, ProjectionConsumer, setup_projections
from ombudsman.eventstore.settings import Settings
from ombudsman.eventstore.store import EventStore
from ombudsman.eventstore.streams import ensure_streams
from ombudsman.eventstore.uow import UnitOfWork

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Metadata, "ServiceContext"], Awaitable[Any]]


class ServiceContext:
    """What a handler may use: a unit of work, the engine and store, NATS, settings, requests to others."""

    def __init__(self, service: Service) -> None:
        self._service = service

    @property
    def name(self) -> str:
        return self._service.name

    @property
    def settings(self) -> Settings:
        return self._service.settings

    @property
    def engine(self) -> AsyncEngine:
        assert self._service.engine is not None, "service not started"
        return self._service.engine

    @property
    def store(self) -> EventStore:
        return self._service.store

    @property
    def nc(self) -> NATS:
        assert self._service.nc is not None, "service not started"
        return self._service.nc

    @property
    def js(self) -> JetStreamContext:
        assert self._service.js is not None, "service not started"
        return self._service.js

    def uow(self) -> UnitOfWork:
        """A unit of work: events, outbox and synchronous projections in one transaction."""
        relay = self._service.relay
        return UnitOfWork(self.engine, self.store, self._service.projections,
                          on_commit=relay.notify if relay else None)

    async def request(self, subject: str, payload: dict[str, Any], *, meta: Metadata | None = None,
                      timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """A command/query to another service (trace context and metadata carried along)."""
        return await rpc.request(self.nc, subject, payload, meta=meta,
                                 timeout=timeout or self.settings.request_timeout)


class Service:
    """One process of one service: migrations, projections, relay, consumers and handlers."""

    def __init__(
        self,
        name: str,
        *,
        schema: str,
        settings: Settings,
        migrations: Path | None = None,
        projections: Sequence[Projection] = (),
        consumers: Sequence[tuple[Projection, str, str]] = (),
    ) -> None:
        self.name = name
        self.schema = schema
        self.settings = settings
        self.migrations = migrations
        self.projections = tuple(projections)
        self.consumer_specs = tuple(consumers)
        self.store = EventStore(schema)
        self.ctx = ServiceContext(self)
        self.engine: AsyncEngine | None = None
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: list[ProjectionConsumer] = []
        self._handlers: dict[str, Handler] = {}
        self._subscriptions: list[Subscription] = []
        self._held: dict[str, Subscription | None] = {}  # subjects answered only while opened (a leader's)
        self._inflight: set[asyncio.Task[None]] = set()
        self._semaphore = asyncio.Semaphore(settings.handler_concurrency)
        self._started = False
        self.verifier: BusTokenVerifier | None = None

        async def health(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
            return {"service": name, "status": "ok"}

        self._handlers[health_subject(name)] = health

    def command(self, name: str) -> Callable[[Handler], Handler]:
        """Decorator: handle `omb.cmd.<service>.<name>`."""
        return self._register(command_subject(self.name, name))

    def query(self, name: str) -> Callable[[Handler], Handler]:
        """Decorator: handle `omb.qry.<service>.<name>`."""
        return self._register(query_subject(self.name, name))

    def _register(self, subject: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if self._started:
                raise RuntimeError(f"register {subject} before the service starts")
            self._handlers[subject] = handler
            return handler

        return register

    def hold(self, *subjects: str) -> None:
        """Registered subjects not answered from start-up but only between `open_held()` and
        `close_held()`: the requests a leader alone may decide (see eventstore.lease)."""
        for subject in subjects:
            if subject not in self._handlers:
                raise KeyError(f"{subject} is not registered")
            self._held.setdefault(subject, None)

    async def open_held(self) -> None:
        """Start answering the held subjects (in the service's queue group)."""
        assert self.nc is not None, "service not started"
        for subject, subscription in self._held.items():
            if subscription is None:
                self._held[subject] = await self.nc.subscribe(subject, queue=queue_group(self.name), cb=self._on_request)
        await self.nc.flush()

    async def close_held(self) -> None:
        """Stop answering the held subjects (requests already taken finish)."""
        for subject, subscription in self._held.items():
            if subscription is not None:
                with contextlib.suppress(Exception):
                    await subscription.drain()
                self._held[subject] = None

    @property
    def subjects(self) -> list[str]:
        return sorted(self._handlers)

    async def start(self) -> None:
        """Connect, migrate, set up projections and streams, start relay, consumers and subscriptions."""
        if not self.settings.database_url or not self.settings.nats_url:
            raise RuntimeError(f"service {self.name}: OMB_DATABASE_URL and OMB_NATS_URL must be set "
                               "(`ombudsman up` sets both for the services it starts)")
        tracing.setup_tracing(self.name)
        try:
            self.verifier = BusTokenVerifier(self.settings.bus_token_public_key)
        except ValueError as exc:
            raise RuntimeError(f"service {self.name}: {exc}") from None
        try:
            await self._start(self.settings.database_url, self.settings.nats_url)
        except BaseException:
            await self.stop()  # release what was opened before the failure
            raise
        log.info("service %s started", self.name, extra={"subjects": self.subjects})

    async def _start(self, database_url: str, nats_url: str) -> None:
        self.engine = create_engine(database_url, pool_size=self.settings.db_pool_size)
        metrics.serve(self.name, self.settings.metrics_port, self.engine, self.settings.metrics_addr)
        if self.migrations is not None:
            await run_migrations(self.settings.migration_database_url or self.engine, self.schema, self.migrations)
        else:
            async with self.engine.begin() as conn:
                await ensure_event_tables(conn, self.schema)
        await setup_projections(self.engine, [*self.projections, *(p for p, _, _ in self.consumer_specs)])
        self.nc = await connect_nats(nats_url, name=f"omb-{self.name}", timeout=self.settings.connect_timeout,
                                     user=self.settings.nats_user, password=self.settings.nats_password)
        self.js = self.nc.jetstream()
        await ensure_streams(self.js, replicas=self.settings.events_replicas)
        self.relay = OutboxRelay(self.engine, self.schema, self.js)
        await self.relay.start()
        self.relay.notify()  # publish whatever an earlier run left behind
        for projection, durable, filter_subject in self.consumer_specs:
            consumer = ProjectionConsumer(self.engine, self.schema, self.js, projection,
                                          durable=durable, filter_subject=filter_subject)
            await consumer.start()
            self.consumers.append(consumer)
        group = queue_group(self.name)
        for subject in (s for s in self._handlers if s not in self._held):
            self._subscriptions.append(await self.nc.subscribe(subject, queue=group, cb=self._on_request))
        await self.nc.flush()
        self._started = True

    async def stop(self) -> None:
        """Stop taking requests, finish those in flight, flush the outbox, stop consumers, close."""
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.drain()
        self._subscriptions.clear()
        await self.close_held()
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=self.settings.request_timeout)
        for consumer in self.consumers:
            await consumer.stop()
        self.consumers.clear()
        if self.relay is not None:
            await self.relay.stop(flush=True)
            self.relay = None
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()
            self.nc = None
        if self.engine is not None:
            metrics.forget(self.name)
            await self.engine.dispose()
            self.engine = None
        self._started = False
        log.info("service %s stopped", self.name)

    async def _on_request(self, msg: Msg) -> None:
        await self._semaphore.acquire()
        task = asyncio.create_task(self._answer(msg))
        self._inflight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._semaphore.release()

    async def _answer(self, msg: Msg) -> None:
        handler = self._handlers[msg.subject]
        headers = msg.headers or {}
        began = time.perf_counter()
        with tracing.span(msg.subject, kind=SpanKind.SERVER, parent_headers=headers,
                          attributes={"messaging.destination": msg.subject, "omb.service": self.name}):
            reply = await self._call(handler, msg, headers)
        metrics.observe_request(self.name, msg.subject, "ok" if reply.ok or reply.error is None else reply.error.code,
                                time.perf_counter() - began)
        if msg.reply:
            body = reply.model_dump_json().encode()
            limit = self.nc.max_payload if self.nc is not None else 0
            if limit and len(body) > limit:
                # NATS would refuse it and the caller would wait for its timeout: say so at once
                body = Reply.failure(Invalid(
                    f"the answer to {msg.subject} ({len(body)} bytes) is larger than the bus carries ({limit} "
                    "bytes): ask for less (a page or a filter)",
                    {"reply_bytes": len(body), "max_payload": limit})).model_dump_json().encode()
            with contextlib.suppress(Exception):
                await msg.respond(body)

    async def _call(self, handler: Handler, msg: Msg, headers: dict[str, str]) -> Reply:
        try:
            payload = json.loads(msg.data) if msg.data else {}
            if not isinstance(payload, dict):
                raise Invalid("the request body must be a JSON object")
            nul_field = _nul_field(payload)
            if nul_field is not None:
                # PostgreSQL text cannot hold NUL: refuse it here, naming the field, not as an internal error
                raise invalid_fields(f"{nul_field or 'body'}: text must not contain NUL characters",
                                     {nul_field or "body": "contains a NUL character"})
            claimed = Metadata.model_validate_json(headers[rpc.META_HEADER]) if rpc.META_HEADER in headers else Metadata()
            meta = self._authenticated(msg.subject, claimed, headers.get(TOKEN_HEADER))
        except json.JSONDecodeError as exc:
            return Reply.failure(Invalid(f"the request body is not JSON: {exc.msg}"))
        except ValidationError as exc:
            return Reply.failure(invalid(exc, "bad request metadata: "))
        except OmbudsmanError as exc:
            return Reply.failure(exc)
        # Events appended by this handler carry the span of this hop (same trace as the caller).
        meta = meta.model_copy(update={"traceparent": tracing.current_traceparent() or meta.traceparent})
        try:
            return Reply.success(await handler(payload, meta, self.ctx))
        except OmbudsmanError as exc:
            return Reply.failure(exc)
        except ValidationError as exc:
            return Reply.failure(invalid(exc, "invalid request: "))
        except Exception:
            log.exception("%s: unexpected error handling %s", self.name, msg.subject)
            return Reply.failure(OmbudsmanError("internal error", {"subject": msg.subject}))

    def _authenticated(self, subject: str, claimed: Metadata, token: str | None) -> Metadata:
        """The request's metadata with its actor proven: the person of a verified bus token, or (no
        token) a service, which only the subjects `contracts.access` opens to services accept.
        The actor a header claims is never taken as is."""
        access = "either" if subject == health_subject(self.name) else request_access(subject)
        if token:
            if access == "service":
                raise Forbidden(f"{subject} answers services only", {"subject": subject})
            if self.verifier is None:
                raise Unauthorized("this service cannot verify bus tokens")
            return claimed.model_copy(update={"actor": self.verifier.actor(token), "token": token})
        if access == "user":
            raise Unauthorized(f"{subject} needs a user token signed by the gateway", {"subject": subject})
        name = claimed.actor.name if claimed.actor.role == "service" else "unknown"
        return claimed.model_copy(update={"actor": Actor.service(name), "token": None})

    def run(self) -> None:
        """Run until SIGINT/SIGTERM, then stop gracefully (`python -m ombudsman.<service>`)."""
        setup_logging(self.settings.log_level, self.name)
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()


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


async def connect_nats(url: str, *, name: str, timeout: float = 30.0,  # noqa: ASYNC109
                       user: str | None = None, password: str | None = None, reconnect: bool = True) -> NATS:
    """Connect to NATS as `user` (its password, its private reply inbox), waiting up to `timeout` for a
    server (it may still be starting); reconnects forever after unless `reconnect` is False.

    Raises `ConnectionError` naming the server (never its credentials) when none answered in time,
    and `PermissionError` when the server refused the credentials.
    """
    servers = [u.strip() for u in url.split(",") if u.strip()]
    refused = asyncio.Event()

    async def on_error(exc: Exception) -> None:
        if "authorization" in str(exc).lower():
            refused.set()

    # max_reconnect_attempts=-1 also makes the first connect keep trying; the deadline bounds it.
    connecting = asyncio.create_task(nats.connect(
        servers, name=name, max_reconnect_attempts=-1 if reconnect else 0, allow_reconnect=reconnect,
        reconnect_time_wait=0.5, connect_timeout=2, error_cb=on_error, **connect_options(user, password)))
    waiting = asyncio.create_task(refused.wait())
    try:
        await asyncio.wait({connecting, waiting}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    if connecting.done() and not refused.is_set():
        try:
            return connecting.result()
        except Exception as exc:
            if "authorization" not in str(exc).lower():
                raise ConnectionError(f"could not connect to NATS at {_redacted(url)}: {type(exc).__name__}") from None
            refused.set()
    connecting.cancel()
    with contextlib.suppress(BaseException):
        await connecting
    if refused.is_set():
        raise PermissionError(f"NATS at {_redacted(url)} refused the credentials of {user or 'this client'}")
    raise ConnectionError(f"could not connect to NATS at {_redacted(url)} within {timeout}s")


def _redacted(url: str) -> str:
    """Server URLs without any user:password part."""
    return ",".join(u.rsplit("@", 1)[-1] if "@" in u else u for u in url.split(","))

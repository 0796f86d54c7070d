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

Commands (`omb.cmd.<service>.<name>`) and queries (`omb.qry.<service>.<name>`) are subscribed in
the queue group `omb-<service>`, so replicas share them, each with up to `handler_concurrency`
requests at once. Commands are FastStream subscribers of the service's `ServiceBroker` (a
`NatsBroker` on the principal's authenticated connection, broker.py); queries take the direct path
(direct.py: the same middlewares and endpoint without FastStream's per-message dispatch, which
costs the read path too much; `OMB_BUS_DIRECT_QUERIES=false` serves them with FastStream too).
The middlewares (middlewares.py) count and time requests, open the SERVER span of the caller's
trace, answer with the one `Reply` shape (a handler's return value → `Reply.success(result)`; an
`OmbudsmanError` → `Reply.failure`; a pydantic `ValidationError` → `invalid` with the fields;
anything else `internal`, logged, never its traceback) and prove the actor from the bus token
before the handler runs. Every subject is in the AsyncAPI document FastStream generates (asyncapi.py).

What FastStream does not do stays here and in its own modules: the outbox relay (batched publish
acks), projection consumers with tracking records, replay, and the audit's ordered reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from faststream import ContextRepo
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.subjects import (
    EVENTS_STREAM,
    command_subject,
    health_subject,
    query_subject,
    queue_group,
)
from ombudsman.eventstore import metrics, rpc, tracing
from ombudsman.eventstore.broker import ServiceBroker, connect_nats, raw_body
from ombudsman.eventstore.bustoken import BusTokenVerifier
from ombudsman.eventstore.db import create_engine
from ombudsman.eventstore.direct import DirectSubscriptions
from ombudsman.eventstore.logging import setup_logging
from ombudsman.eventstore.middlewares import (
    REQUEST_KEY,
    AuthMiddleware,
    BusState,
    MetricsMiddleware,
    ReplyMiddleware,
    TracingMiddleware,
)
from ombudsman.eventstore.migrations import ensure_event_tables, run_migrations
from ombudsman.eventstore.outbox import OutboxRelay
from ombudsman.eventstore.projections import Projection, ProjectionConsumer, setup_projections
from ombudsman.eventstore.settings import Settings
from ombudsman.eventstore.store import EventStore
from ombudsman.eventstore.streams import ensure_streams
from ombudsman.eventstore.uow import UnitOfWork

__all__ = ["Handler", "Service", "ServiceContext", "connect_nats"]

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
        self.broker: ServiceBroker | None = None
        self.direct: DirectSubscriptions | None = None
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: list[ProjectionConsumer] = []
        self._handlers: dict[str, Handler] = {}
        # subjects answered only while opened (a leader's; eventstore.lease), on a direct path of their own
        self._held: set[str] = set()
        self._held_direct: DirectSubscriptions | None = None
        self._started = False
        self.stopping = False  # set when stop() begins: requests already taken are still answered
        self.verifier: BusTokenVerifier | None = None
        self.bus = BusState(name, health_subject(name), max_payload=self._max_payload)

        async def health(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
            """Whether this service answers (any replica)."""
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
            self._held.add(subject)

    async def open_held(self) -> None:
        """Start answering the held subjects (in the service's queue group, through the same
        middlewares and endpoints as every request, on a direct subscription of their own)."""
        assert self.nc is not None and self.broker is not None, "service not started"
        if self._held_direct is not None:
            return
        held = DirectSubscriptions(self.nc, self._middlewares(), self.broker.context, self.settings.handler_concurrency)
        for subject in sorted(self._held):
            await held.subscribe(subject, queue_group(self.name), self._endpoint(self._handlers[subject], self.broker.context))
        self._held_direct = held
        await self.nc.flush()

    async def close_held(self) -> None:
        """Stop answering the held subjects (requests already taken finish)."""
        if self._held_direct is not None:
            held, self._held_direct = self._held_direct, None
            await held.stop(self.settings.request_timeout)

    @property
    def subjects(self) -> list[str]:
        return sorted(self._handlers)

    def _max_payload(self) -> int:
        return self.nc.max_payload if self.nc is not None else 0

    def _middlewares(self) -> list[Callable[..., Any]]:
        return [partial(m, state=self.bus)
                for m in (MetricsMiddleware, TracingMiddleware, ReplyMiddleware, AuthMiddleware)]

    def direct_subjects(self) -> set[str]:
        """The subjects served on the direct path (direct.py): the queries, unless switched off."""
        if not self.settings.bus_direct_queries:
            return set()
        prefix = query_subject(self.name, "x")[:-1]
        return {subject for subject in self._handlers if subject.startswith(prefix)}

    def build_broker(self, url: str | None = None, *, leave_out: set[str] | frozenset[str] = frozenset()) -> ServiceBroker:
        """A FastStream broker with this service's handlers (but `leave_out`) subscribed in its queue
        group and the runtime's middlewares; with no `url` it only describes them (the AsyncAPI document)."""
        broker = ServiceBroker(url, name=f"omb-{self.name}", user=self.settings.nats_user,
                               password=self.settings.nats_password, timeout=self.settings.connect_timeout,
                               middlewares=self._middlewares(), graceful_timeout=self.settings.request_timeout,
                               description=f"the {self.name} service's commands and queries")
        group = queue_group(self.name)
        for subject, handler in self._handlers.items():
            if subject in leave_out:
                continue
            broker.subscriber(subject, queue=group, max_workers=self.settings.handler_concurrency,
                              decoder=raw_body, no_reply=True,  # ReplyMiddleware answers
                              title=subject, description=_summary(handler),
                              )(self._endpoint(handler, broker.context))
        return broker

    def _endpoint(self, handler: Handler, context: ContextRepo) -> Callable[[dict[str, Any]], Awaitable[Any]]:
        """The FastStream handler of one subject: the request AuthMiddleware parsed and proved, to `handler`."""

        async def endpoint(body: dict[str, Any]) -> Any:  # the annotation is for the AsyncAPI document
            payload, meta = context.get_local(REQUEST_KEY)
            return await handler(payload, meta, self.ctx)

        endpoint.__name__ = getattr(handler, "__name__", "handler")
        endpoint.__doc__ = handler.__doc__
        return endpoint

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
        self.bus.verifier = self.verifier
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
        direct = self.direct_subjects()
        self.broker = self.build_broker(nats_url, leave_out=direct | self._held)
        self.nc = await self.broker.connect()
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
        metrics.sample_with(self.name, self.sample_metrics)
        self.direct = DirectSubscriptions(self.nc, self._middlewares(), self.broker.context,
                                          self.settings.handler_concurrency)
        for subject in sorted(direct - self._held):
            await self.direct.subscribe(subject, queue_group(self.name),
                                        self._endpoint(self._handlers[subject], self.broker.context))
        await self.broker.start()
        await self.nc.flush()
        self._started = True

    def durable_consumers(self) -> list[tuple[str, str]]:
        """The JetStream durable consumers this service reads, as (stream, consumer) — its metrics
        report their pending messages and redeliveries (services add their own)."""
        return [(EVENTS_STREAM, consumer.durable) for consumer in self.consumers]

    async def sample_metrics(self) -> metrics.ServiceSample:
        """The outbox lag and the durable consumers' state, read when /metrics is scraped."""
        pending, oldest = await self.relay.lag() if self.relay is not None else (0, 0.0)
        consumers = []
        if self.js is not None:
            for stream, durable in self.durable_consumers():
                try:
                    info = await self.js.consumer_info(stream, durable, timeout=1.0)
                except Exception:  # not created yet, or NATS away: left out of this sample
                    continue
                consumers.append(metrics.ConsumerSample(stream, durable, int(info.num_pending or 0),
                                                        int(info.num_ack_pending or 0),
                                                        int(info.num_redelivered or 0)))
        return metrics.ServiceSample(pending, oldest, consumers)

    async def stop(self) -> None:
        """Stop taking requests, finish those in flight, flush the outbox, stop consumers, close."""
        self.stopping = True
        if self.direct is not None:
            await self.direct.stop(self.settings.request_timeout)
            self.direct = None
        if self.broker is not None and self.broker.running:
            for subscriber in self.broker.subscribers:
                # Drain first, as the direct path does: the server routes new requests to other
                # replicas while those already delivered here are still answered, then the
                # subscriber waits for those in flight (FastStream's stop alone drops late arrivals).
                subscription = getattr(subscriber, "subscription", None)
                if subscription is not None:
                    with contextlib.suppress(Exception):
                        await subscription.drain()
                    subscriber.subscription = None
                with contextlib.suppress(Exception):
                    await subscriber.stop()
        await self.close_held()
        for consumer in self.consumers:
            await consumer.stop()
        self.consumers.clear()
        if self.relay is not None:
            await self.relay.stop(flush=True)
            self.relay = None
        if self.broker is not None:
            with contextlib.suppress(Exception):
                await self.broker.stop()  # drains the connection
            self.broker = None
        elif self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        self.nc = None
        if self.engine is not None:
            metrics.forget(self.name)
            await self.engine.dispose()
            self.engine = None
        self._started = False
        log.info("service %s stopped", self.name)

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


def _summary(handler: Handler) -> str | None:
    """The first line of a handler's docstring (its description in the AsyncAPI document)."""
    doc = (handler.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else None

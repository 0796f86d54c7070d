"""OpenTelemetry across NATS: a trace started by a caller (the gateway) continues through the
request into the service handler, into the event's envelope, onto the published message and into
a consumer; JSON logs carry the trace ids and never a secret."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import nats
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.registry import Event, event
from ombudsman.eventstore import rpc
from ombudsman.eventstore.db import create_engine
from ombudsman.eventstore.logging import JsonFormatter
from ombudsman.eventstore.runtime import Service, ServiceContext
from ombudsman.eventstore.settings import Settings
from tests.eventstore.helpers import SCHEMA, CountsProjection, read_stream
from tests.support import eventually


@event
class EsTestTraced(Event):
    stream_type: ClassVar[str] = "thing"
    label: str


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # stop collecting for the other tests of this worker


def trace_id_of(traceparent: str | None) -> str:
    assert traceparent, "no traceparent"
    return traceparent.split("-")[1]


async def test_trace_crosses_nats_into_the_event(database_url: str, nats_url: str, spans: InMemorySpanExporter) -> None:
    service = Service("estest", schema=SCHEMA, settings=Settings(database_url=database_url, nats_url=nats_url),
                      consumers=[(CountsProjection(), "traced", "omb.evt.thing.>")])

    @service.command("make")
    async def make(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> str:
        async with ctx.uow() as uow:
            (envelope,) = await uow.emit(payload["id"], [EsTestTraced(label="x")], meta, expected_version=0)
        return envelope.event_id

    await service.start()
    nc = await nats.connect(nats_url)
    try:
        with trace.get_tracer("gateway").start_as_current_span("POST /things", kind=SpanKind.SERVER) as root:
            event_id = await rpc.request(nc, "omb.cmd.estest.make", {"id": "traced-1"})
        root_trace = f"{root.get_span_context().trace_id:032x}"
        (message,) = await read_stream(nats_url, expect=1)
        await eventually(lambda: service.consumers[0].applied == 1, timeout=30, what="the consumer applied the event")
    finally:
        await nc.close()
        await service.stop()

    async with service_engine(database_url) as conn:
        (stored,) = await service.store.load_stream(conn, "traced-1")
    assert stored.event_id == event_id
    assert trace_id_of(stored.traceparent) == root_trace  # the event's envelope continues the caller's trace
    assert trace_id_of(message.headers["traceparent"]) == root_trace  # ... and so does the published message
    assert json.loads(message.data)["traceparent"] == stored.traceparent

    finished = [s for s in spans.get_finished_spans() if f"{s.context.trace_id:032x}" == root_trace]
    by_name = {s.name: s for s in finished}
    server = by_name["omb.cmd.estest.make"]
    client = by_name["request omb.cmd.estest.make"]
    assert server.kind is SpanKind.SERVER and server.parent is not None
    assert server.parent.span_id == client.context.span_id and client.parent.span_id == root.get_span_context().span_id
    assert stored.traceparent.split("-")[2] == f"{server.context.span_id:016x}"  # the handler's span
    consumer_span = by_name["apply thing_counts"]
    assert consumer_span.kind is SpanKind.CONSUMER and consumer_span.parent.span_id == server.context.span_id


@contextlib.asynccontextmanager
async def service_engine(database_url: str) -> AsyncIterator[AsyncConnection]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


def test_json_logs_carry_trace_ids_and_no_secrets(spans: InMemorySpanExporter) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("estest"))
    logger = logging.getLogger("estest.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with trace.get_tracer("t").start_as_current_span("work") as span:
            logger.info("connecting to postgresql://bo:hunter2@db.example/prod",
                        extra={"password": "hunter2", "user": "bo", "conn": {"api_key": "k-123", "host": "h"}})
        logger.info("outside any span")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert first["span_id"] == f"{span.get_span_context().span_id:016x}"
    assert first["service"] == "estest" and first["level"] == "INFO" and first["user"] == "bo"
    assert "hunter2" not in stream.getvalue() and "k-123" not in stream.getvalue()
    assert first["message"] == "connecting to postgresql://bo:***@db.example/prod"
    assert first["password"] == "***" and first["conn"] == {"api_key": "***", "host": "h"}
    assert "trace_id" not in second

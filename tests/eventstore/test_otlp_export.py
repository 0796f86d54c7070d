"""Traces exported by OTLP/HTTP (and the sampled metric series) from real processes: `OTEL_EXPORTER_OTLP_ENDPOINT` set for a stack of
the gateway and the projects service (started by the launcher, as `ombudsman up` does), one HTTP
request with a known trace id, and a receiver written here (real HTTP, the OTLP protobuf body)
collecting what the processes ship."""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client.parser import text_string_to_metric_families

from ombudsman.eventstore.embedded import free_port
from ombudsman.eventstore.launcher import Stack, start_stack, stop_stack
from tests.support import eventually


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    kind: int


class Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: POST /v1/traces with an `ExportTraceServiceRequest`."""

    spans: list[ReceivedSpan] = []
    paths: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).paths.append(self.path)
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    type(self).spans.append(ReceivedSpan(attributes.get("service.name", ""), span.name,
                                                         span.trace_id.hex(), span.kind))
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    Receiver.spans, Receiver.paths = [], []
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def traced_stack(receiver: tuple[str, type[Receiver]], monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The gateway and the projects service as processes, exporting to the receiver."""
    endpoint, _ = receiver
    for name in ("OMB_NATS_URL", "OMB_DATABASE_URL", "OMB_NATS_USER", "OMB_NATS_PASSWORD", "OMB_GATEWAY_PORT",
                 "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED", "OMB_TRACE_SAMPLE_RATIO"):
        monkeypatch.delenv(name, raising=False)
    # not under pytest's tmp_path (mode 0700): the embedded PostgreSQL runs as its own user under root
    base = Path(tempfile.mkdtemp(prefix="omb-otlp-"))
    base.chmod(0o755)
    monkeypatch.setenv("OMB_HOME", str(base / "home"))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)  # what turns the export on
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")  # ms: ship spans soon after they end
    stack = start_stack(detach=True, workers=0, only=["projects", "gateway"], gateway_port=free_port(),
                        nats_port=free_port(), timeout=180)
    try:
        yield stack
    finally:
        stop_stack(stack)
        shutil.rmtree(base, ignore_errors=True)


async def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample a process's /metrics serves, by name and sorted labels."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_spans_of_one_request_arrive_by_otlp_with_the_service_names(
        receiver: tuple[str, type[Receiver]], traced_stack: Stack) -> None:
    _, received = receiver
    stack = traced_stack
    trace_id = secrets.token_hex(16)
    health = (("method", "GET"), ("route", "/api/v1/health"), ("status", "2xx"))
    before = await _scrape(stack.metrics["gateway"])  # the launcher asked the health route while starting
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.get(f"{stack.gateway_url}/api/v1/health",
                                  headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-trace-id"] == trace_id
    assert answer.json()["services"]["projects"]["status"] == "ok"

    def names_by_service() -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for span in received.spans:
            if span.trace_id == trace_id:
                found.setdefault(span.service, set()).add(span.name)
        return found

    def request_traced() -> dict[str, set[str]] | None:
        found = names_by_service()
        whole = ("GET /api/v1/health" in found.get("ombudsman-gateway", set())
                 and "omb.qry.projects.health" in found.get("ombudsman-projects", set()))
        return found if whole else None

    found = await eventually(request_traced, timeout=30,
                             what="the request's spans from the gateway and the projects service")
    # the gateway's HTTP span and its bus request; the projects service's span answering it, same trace
    assert "request omb.qry.projects.health" in found["ombudsman-gateway"], found
    assert set(received.paths) == {"/v1/traces"}
    # nothing of another trace was made up: every span received belongs to a service of the stack
    assert {s.service for s in received.spans} <= {"ombudsman-gateway", "ombudsman-projects"}

    # the same real process serves the sampled series on its /metrics: its outbox (nothing waits) and
    # its durable consumer of the metadata events, read from JetStream when scraped
    label = next(label for label in stack.metrics if label.startswith("projects"))
    samples = await _scrape(stack.metrics[label])
    assert samples[("omb_outbox_pending_events", (("service", "projects"),))] == 0
    assert samples[("omb_outbox_oldest_event_seconds", (("service", "projects"),))] == 0
    flags = (("consumer", "projects-flags"), ("service", "projects"), ("stream", "OMB_EVENTS"))
    assert samples[("omb_consumer_pending", flags)] == 0
    assert samples[("omb_consumer_ack_pending", flags)] == 0

    # the gateway serves its own /metrics too (on a port of its own, never the API's): the HTTP request
    # above counted once under its route template with its status class, and its PostgreSQL pool
    after = await _scrape(stack.metrics["gateway"])
    assert after[("omb_http_requests_total", health)] - before.get(("omb_http_requests_total", health), 0) == 1
    assert ("omb_db_pool_connections", (("service", "gateway"), ("state", "size"))) in after

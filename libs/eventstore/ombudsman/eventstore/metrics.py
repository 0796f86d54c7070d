"""Prometheus metrics of a service process, served at `http://<OMB_METRICS_ADDR>:<OMB_METRICS_PORT>/metrics`
when `OMB_METRICS_PORT` is set (`ombudsman up` gives each process a port; `ombudsman status` lists them).

Series every service has (label `service`):
- `omb_requests_total{service,kind,name,outcome}` and `omb_request_seconds{service,kind,name}`: the
  commands and queries it answered (`outcome` is `ok` or the error code) and how long each took;
- `omb_events_appended_total{service,stream_type}`: events committed to its store;
- `omb_db_pool_connections{service,state}`: its PostgreSQL pool (`checked_out`, `idle`, `overflow`, `size`);
- `omb_outbox_pending_events{service}` and `omb_outbox_oldest_event_seconds{service}`: the outbox lag,
  events committed and not yet published to JetStream, and how long the oldest of them has waited;
- `omb_consumer_pending{service,stream,consumer}`, `omb_consumer_ack_pending{...}` and
  `omb_consumer_redelivered{...}`: each of its JetStream durable consumers as the server's consumer
  info tells (messages not yet delivered; delivered and not yet acked; delivered more than once and
  not yet acked).

The outbox and consumer series are sampled when scraped (`Service.sample_metrics`, run on the
service's event loop with a deadline of `SAMPLE_TIMEOUT` seconds; a loop too busy to answer in time
leaves the previous sample), never per message.

The gateway adds `omb_http_requests_total{method,route,status}` and `omb_http_request_seconds{method,route}`
(route templates, status classes). Services add their own (the executor: steps by validator and status with durations, batch progress,
the coordinator's lease). Metric objects are made once per process (prometheus_client's registry is
global), so several services in one process (tests) share them, told apart by `service`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

REQUESTS = Counter("omb_requests", "Commands and queries answered", ["service", "kind", "name", "outcome"])
REQUEST_SECONDS = Histogram("omb_request_seconds", "Time to answer a command or query", ["service", "kind", "name"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
log = logging.getLogger(__name__)
SAMPLE_TIMEOUT = 2.0  # seconds a scrape waits for a service's sample

HTTP_REQUESTS = Counter("omb_http_requests", "HTTP requests the gateway answered", ["method", "route", "status"])
HTTP_SECONDS = Histogram("omb_http_request_seconds", "Time the gateway took to answer an HTTP request", ["method", "route"],
                         buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
EVENTS_APPENDED = Counter("omb_events_appended", "Events committed to the service's store", ["service", "stream_type"])


class _Pools(Collector):
    """The PostgreSQL pool of every service of this process, read when scraped."""

    def __init__(self) -> None:
        self.engines: dict[str, AsyncEngine] = {}
        self._lock = threading.Lock()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("omb_db_pool_connections", "PostgreSQL pool connections by state",
                                   labels=["service", "state"])
        with self._lock:
            engines = dict(self.engines)
        for service, engine in engines.items():
            pool: Any = engine.pool
            with contextlib.suppress(AttributeError):
                family.add_metric([service, "checked_out"], pool.checkedout())
                family.add_metric([service, "idle"], pool.checkedin())
                family.add_metric([service, "overflow"], max(0, pool.overflow()))
                family.add_metric([service, "size"], pool.size())
        yield family


POOLS = _Pools()
REGISTRY.register(POOLS)


@dataclass(frozen=True)
class ConsumerSample:
    """One durable consumer as JetStream's consumer info showed it."""

    stream: str
    consumer: str
    pending: int
    ack_pending: int
    redelivered: int


@dataclass(frozen=True)
class ServiceSample:
    """What a service's sampler reports when scraped: its outbox lag and its durable consumers."""

    outbox_pending: int = 0
    outbox_oldest_seconds: float = 0.0
    consumers: list[ConsumerSample] = field(default_factory=list)


Sampler = Callable[[], Awaitable[ServiceSample]]


class _Samples(Collector):
    """The outbox and consumer series of every service of this process, sampled when scraped."""

    def __init__(self) -> None:
        self.samplers: dict[str, tuple[asyncio.AbstractEventLoop, Sampler]] = {}
        self.last: dict[str, ServiceSample] = {}
        self._lock = threading.Lock()

    def _sample(self, service: str, loop: asyncio.AbstractEventLoop, sampler: Sampler) -> ServiceSample | None:
        try:
            if asyncio.get_running_loop() is loop:
                return self.last.get(service)  # scraped from the service's own loop: cannot wait for it
        except RuntimeError:
            pass
        if loop.is_closed() or not loop.is_running():  # the service's loop is gone or idle: nobody would answer
            return self.last.get(service)
        future = asyncio.run_coroutine_threadsafe(sampler(), loop)
        try:
            sample = future.result(timeout=SAMPLE_TIMEOUT)
        except Exception as exc:  # busy loop, database or NATS away: the last sample stands
            future.cancel()
            log.debug("metrics sample of %s failed: %s", service, type(exc).__name__)
            return self.last.get(service)
        self.last[service] = sample
        return sample

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pending = GaugeMetricFamily("omb_outbox_pending_events", "Events committed and not yet published",
                                    labels=["service"])
        oldest = GaugeMetricFamily("omb_outbox_oldest_event_seconds",
                                   "How long the oldest unpublished event has waited in the outbox", labels=["service"])
        labels = ["service", "stream", "consumer"]
        consumer_pending = GaugeMetricFamily("omb_consumer_pending", "Messages not yet delivered to the consumer",
                                             labels=labels)
        ack_pending = GaugeMetricFamily("omb_consumer_ack_pending", "Messages delivered and not yet acked",
                                        labels=labels)
        redelivered = GaugeMetricFamily("omb_consumer_redelivered",
                                        "Messages delivered more than once and not yet acked", labels=labels)
        with self._lock:
            samplers = dict(self.samplers)
        for service, (loop, sampler) in samplers.items():
            sample = self._sample(service, loop, sampler)
            if sample is None:
                continue
            pending.add_metric([service], sample.outbox_pending)
            oldest.add_metric([service], sample.outbox_oldest_seconds)
            for c in sample.consumers:
                consumer_pending.add_metric([service, c.stream, c.consumer], c.pending)
                ack_pending.add_metric([service, c.stream, c.consumer], c.ack_pending)
                redelivered.add_metric([service, c.stream, c.consumer], c.redelivered)
        yield from (pending, oldest, consumer_pending, ack_pending, redelivered)


SAMPLES = _Samples()
REGISTRY.register(SAMPLES)
_servers: dict[int, Any] = {}


def serve(service: str, port: int | None, engine: AsyncEngine | None, addr: str = "127.0.0.1") -> None:
    """Watch the service's pool and, when `port` is given, serve /metrics on it (once per process)."""
    if engine is not None:
        with POOLS._lock:
            POOLS.engines[service] = engine
    if port and port not in _servers:
        server, _thread = start_http_server(port, addr=addr)
        _servers[port] = server


def sample_with(service: str, sampler: Sampler) -> None:
    """Report the service's outbox and consumers as `sampler` (run on the calling event loop) tells."""
    with SAMPLES._lock:
        SAMPLES.samplers[service] = (asyncio.get_running_loop(), sampler)


def forget(service: str) -> None:
    """The service stopped: its pool, outbox and consumers are no longer reported."""
    with POOLS._lock:
        POOLS.engines.pop(service, None)
    with SAMPLES._lock:
        SAMPLES.samplers.pop(service, None)
        SAMPLES.last.pop(service, None)


def observe_request(service: str, subject: str, outcome: str, seconds: float) -> None:
    """One command or query answered (`omb.cmd.<service>.<name>` / `omb.qry...` / health)."""
    parts = subject.split(".")
    kind = {"cmd": "command", "qry": "query"}.get(parts[1], parts[1]) if len(parts) > 2 else "other"
    name = parts[-1]
    REQUESTS.labels(service, kind, name, outcome).inc()
    REQUEST_SECONDS.labels(service, kind, name).observe(seconds)


def observe_appended(service: str, stream_types: Sequence[str]) -> None:
    """Events committed (one stream type per event)."""
    for stream_type in stream_types:
        EVENTS_APPENDED.labels(service, stream_type).inc()


def observe_http(method: str, route: str, status: int, seconds: float) -> None:
    """One HTTP request the gateway answered, labelled by its route template (`/api/v1/runs/{run_id}`,
    never the concrete path, so the series stay few) and its status class (`2xx`, `4xx`...)."""
    HTTP_REQUESTS.labels(method, route, f"{status // 100}xx").inc()
    HTTP_SECONDS.labels(method, route).observe(seconds)

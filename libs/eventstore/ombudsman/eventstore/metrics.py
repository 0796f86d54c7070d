"""Prometheus metrics of a service process, served at `http://<OMB_METRICS_ADDR>:<OMB_METRICS_PORT>/metrics`
when `OMB_METRICS_PORT` is set (`ombudsman up` gives each process a port; `ombudsman status` lists them).

Series every service has (label `service`):
- `omb_requests_total{service,kind,name,outcome}` and `omb_request_seconds{service,kind,name}`: the
  commands and queries it answered (`outcome` is `ok` or the error code) and how long each took;
- `omb_events_appended_total{service,stream_type}`: events committed to its store;
- `omb_db_pool_connections{service,state}`: its PostgreSQL pool (`checked_out`, `idle`, `overflow`, `size`).

Services add their own (the executor: steps by validator and status with durations, batch progress,
the coordinator's lease). Metric objects are made once per process (prometheus_client's registry is
global), so several services in one process (tests) share them, told apart by `service`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

REQUESTS = Counter("omb_requests", "Commands and queries answered", ["service", "kind", "name", "outcome"])
REQUEST_SECONDS = Histogram("omb_request_seconds", "Time to answer a command or query", ["service", "kind", "name"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
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
_servers: dict[int, Any] = {}


def serve(service: str, port: int | None, engine: AsyncEngine | None, addr: str = "127.0.0.1") -> None:
    """Watch the service's pool and, when `port` is given, serve /metrics on it (once per process)."""
    if engine is not None:
        with POOLS._lock:
            POOLS.engines[service] = engine
    if port and port not in _servers:
        server, _thread = start_http_server(port, addr=addr)
        _servers[port] = server


def forget(service: str) -> None:
    """The service stopped: its pool is no longer reported."""
    with POOLS._lock:
        POOLS.engines.pop(service, None)


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

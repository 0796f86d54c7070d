"""The service runtime's cost per request: a query served through FastStream's dispatch (a
`NatsBroker` subscriber) against the direct path (direct.py), side by side in one process on a real
NATS and PostgreSQL. Both run the same middlewares and handler; the figure is the process's CPU
(client and service: the client's share is the same in both) per request, over 1500 requests sent
10 at a time, three rounds each, interleaved. Every reply is checked to be the handler's exact
answer. Run: `make bench` or `pytest -q -s tests/perf/bench_bus_runtime.py`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

import nats

from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.subjects import query_subject
from ombudsman.eventstore import rpc
from ombudsman.eventstore.runtime import Service, ServiceContext
from ombudsman.eventstore.settings import Settings
from tests.eventstore.helpers import SCHEMA

REQUESTS = int(os.environ.get("OMB_BENCH_BUS_REQUESTS", "1500"))
ANSWER = {"items": [{"id": i, "name": f"project {i}", "tags": ["a", "b"]} for i in range(10)]}


async def _cpu_ms_per_request(database_url: str, nats_url: str, *, direct: bool) -> float:
    service = Service("busbench", schema=SCHEMA, settings=Settings(
        database_url=database_url, nats_url=nats_url, bus_direct_queries=direct))

    async def listing(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> Any:
        return ANSWER

    service.query("list")(listing)
    await service.start()
    assert (query_subject("busbench", "list") in service.direct_subjects()) is direct
    nc = await nats.connect(nats_url)
    subject = query_subject("busbench", "list")
    try:
        for _ in range(100):  # warm-up
            await rpc.request(nc, subject, {})
        started = time.process_time()
        for _ in range(REQUESTS // 10):
            replies = await asyncio.gather(*[rpc.request(nc, subject, {"page": 1}) for _ in range(10)])
            assert all(reply == ANSWER for reply in replies)  # the exact answer, every time
        return 1000 * (time.process_time() - started) / (REQUESTS // 10 * 10)
    finally:
        await nc.close()
        await service.stop()


async def test_faststream_dispatch_against_the_direct_path(database_url: str, nats_url: str) -> None:
    figures: dict[str, list[float]] = {"faststream": [], "direct": []}
    for _ in range(3):
        figures["faststream"].append(await _cpu_ms_per_request(database_url, nats_url, direct=False))
        figures["direct"].append(await _cpu_ms_per_request(database_url, nats_url, direct=True))
    medians = {name: statistics.median(values) for name, values in figures.items()}
    print(f"\nbus runtime, one query answering {len(str(ANSWER))} characters, {REQUESTS} requests 10 at a time, "
          f"CPU ms per request (client + service, one process; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}):")
    for name, values in figures.items():
        print(f"  {name:10s} median {medians[name]:.3f}   rounds {[round(v, 3) for v in values]}")
    print(f"  FastStream dispatch / direct path: {medians['faststream'] / medians['direct']:.2f}x")

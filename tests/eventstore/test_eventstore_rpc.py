"""Request/reply through the service runtime on a real NATS: results, the error model, timeouts,
health, and two replicas sharing commands through one queue group."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import nats
import pytest
from pydantic import BaseModel

from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.replies import (
    ErrorCode,
    Invalid,
    NotFound,
    OmbudsmanError,
    Reply,
    Timeout,
    Unavailable,
)
from ombudsman.contracts.subjects import command_subject, health_subject, query_subject
from ombudsman.eventstore import rpc
from ombudsman.eventstore.runtime import Service, ServiceContext
from ombudsman.eventstore.settings import Settings
from tests.eventstore.helpers import SCHEMA
from tests.support import eventually


class Greeting(BaseModel):
    name: str
    times: int = 1


def make_service(database_url: str, nats_url: str, replica: str = "a") -> tuple[Service, Counter[str]]:
    service = Service("estest", schema=SCHEMA, settings=Settings(database_url=database_url, nats_url=nats_url))
    handled: Counter[str] = Counter()

    @service.command("greet")
    async def greet(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
        request = Greeting.model_validate(payload)
        handled[replica] += 1
        return {"text": " ".join([f"hello {request.name}"] * request.times), "actor": meta.actor.name,
                "correlation_id": meta.correlation_id, "replica": replica}

    @service.query("find")
    async def find(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> Any:
        raise NotFound(f"thing {payload.get('id')!r} not found", {"id": payload.get("id")})

    @service.command("crash")
    async def crash(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> Any:
        raise RuntimeError("secret internals: password=hunter2")

    @service.query("slow")
    async def slow(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> Any:
        await asyncio.sleep(float(payload["seconds"]))  # the behaviour under test: a handler slower than the caller
        return "late"

    return service, handled


@pytest.fixture
async def client(nats_url: str):  # type: ignore[no-untyped-def]
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


async def test_result_metadata_and_error_model(database_url: str, nats_url: str, client: Any) -> None:
    service, _ = make_service(database_url, nats_url)
    await service.start()
    try:
        meta = Metadata(actor=Actor(id="u-7", name="Grace", role="admin"), correlation_id="corr-42")
        result = await rpc.request(client, command_subject("estest", "greet"), {"name": "Bo", "times": 2}, meta=meta)
        assert result == {"text": "hello Bo hello Bo", "actor": "Grace", "correlation_id": "corr-42", "replica": "a"}

        with pytest.raises(NotFound) as not_found:
            await rpc.request(client, query_subject("estest", "find"), {"id": "x9"})
        assert not_found.value.code is ErrorCode.NOT_FOUND and not_found.value.details == {"id": "x9"}

        with pytest.raises(Invalid) as invalid:  # pydantic validation in the handler -> invalid, naming the field
            await rpc.request(client, command_subject("estest", "greet"), {"times": "many"})
        fields = {e["field"] for e in invalid.value.details["fields"]}
        assert fields == {"name", "times"}

        with pytest.raises(OmbudsmanError) as internal:  # an unexpected error: internal, no internals leaked
            await rpc.request(client, command_subject("estest", "crash"), {})
        assert internal.value.code is ErrorCode.INTERNAL and "hunter2" not in internal.value.message

        raw = await client.request(command_subject("estest", "greet"), b"{not json", timeout=5)
        reply = Reply.model_validate_json(raw.data)
        assert not reply.ok and reply.error is not None and reply.error.code is ErrorCode.INVALID

        health = await rpc.request(client, health_subject("estest"), {})
        assert health == {"service": "estest", "status": "ok"}
    finally:
        await service.stop()


async def test_no_responder_and_timeout(database_url: str, nats_url: str, client: Any) -> None:
    with pytest.raises(Unavailable):
        await rpc.request(client, command_subject("nobody", "home"), {}, timeout=2)
    service, _ = make_service(database_url, nats_url)
    await service.start()
    try:
        with pytest.raises(Timeout):
            await rpc.request(client, query_subject("estest", "slow"), {"seconds": 3}, timeout=0.3)
        assert await rpc.request(client, query_subject("estest", "slow"), {"seconds": 0}, timeout=5) == "late"
    finally:
        await service.stop()


async def test_two_replicas_share_commands(database_url: str, nats_url: str, client: Any) -> None:
    first, handled = make_service(database_url, nats_url, "a")
    second, handled_b = make_service(database_url, nats_url, "b")
    await first.start()
    await second.start()
    try:
        replies = await asyncio.gather(*[
            rpc.request(client, command_subject("estest", "greet"), {"name": f"n{i}"}) for i in range(60)
        ])
    finally:
        await first.stop()
        await second.stop()
    by_replica = Counter(r["replica"] for r in replies)
    # each command handled exactly once, by one replica or the other; both took a share
    assert handled["a"] + handled_b["b"] == 60
    assert by_replica == Counter({"a": handled["a"], "b": handled_b["b"]})
    assert handled["a"] > 0 and handled_b["b"] > 0


async def test_request_accepts_a_faststream_broker(database_url: str, nats_url: str) -> None:
    from faststream.nats import NatsBroker

    service, _ = make_service(database_url, nats_url)
    await service.start()
    broker = NatsBroker(nats_url)
    await broker.connect()
    try:
        result = await rpc.request(broker, command_subject("estest", "greet"), {"name": "Fa"})
        assert result["text"] == "hello Fa"
    finally:
        await broker.stop()
        await service.stop()


async def test_start_without_nats_fails_and_releases_everything(database_url: str) -> None:
    from ombudsman.eventstore.embedded import free_port

    settings = Settings(database_url=database_url, nats_url=f"nats://127.0.0.1:{free_port()}", connect_timeout=1)
    service, _ = make_service(database_url, settings.nats_url or "")
    service.settings = settings
    with pytest.raises(ConnectionError, match=r"could not connect to NATS at nats://127\.0\.0\.1:"):
        await service.start()
    assert service.engine is None and service.nc is None and service.relay is None
    unconfigured = Service("estest", schema=SCHEMA, settings=Settings(database_url=None, nats_url=None))
    with pytest.raises(RuntimeError, match="OMB_DATABASE_URL and OMB_NATS_URL must be set"):
        await unconfigured.start()


@pytest.mark.parametrize("direct", [True, False], ids=["direct-queries", "faststream-queries"])
async def test_queries_answer_alike_on_both_paths_and_are_counted(database_url: str, nats_url: str, client: Any,
                                                                   direct: bool) -> None:
    service, _ = make_service(database_url, nats_url)
    service.settings = Settings(database_url=database_url, nats_url=nats_url, bus_direct_queries=direct)
    await service.start()
    try:
        assert (query_subject("estest", "find") in service.direct_subjects()) is direct
        assert command_subject("estest", "greet") not in service.direct_subjects()  # commands: FastStream
        with pytest.raises(NotFound) as not_found:
            await rpc.request(client, query_subject("estest", "find"), {"id": "x9"})
        assert not_found.value.details == {"id": "x9"}
        raw = await client.request(query_subject("estest", "find"), b"[1, 2]", timeout=5)
        reply = Reply.model_validate_json(raw.data)
        assert reply.error is not None and reply.error.code is ErrorCode.INVALID and "JSON object" in reply.error.message
        assert await rpc.request(client, query_subject("estest", "slow"), {"seconds": 0}) == "late"
        assert await rpc.request(client, health_subject("estest"), {}) == {"service": "estest", "status": "ok"}
    finally:
        await service.stop()
    metrics = service.bus.metrics.snapshot()
    find = metrics[query_subject("estest", "find")]
    assert find["requests"] == 2 and find["failures"] == {"not_found": 1, "invalid": 1}
    assert metrics[query_subject("estest", "slow")]["failures"] == {}


@pytest.mark.parametrize("direct", [True, False], ids=["direct-queries", "faststream-queries"])
async def test_stop_answers_the_requests_in_flight(database_url: str, nats_url: str, client: Any, direct: bool) -> None:
    service = Service("estest", schema=SCHEMA, settings=Settings(database_url=database_url, nats_url=nats_url,
                                                                 bus_direct_queries=direct))
    reached = asyncio.Event()

    @service.query("hold")
    async def hold(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> str:
        reached.set()
        # the behaviour under test: a request still running when stop begins
        await eventually(lambda: service.stopping, timeout=20, what="the service to begin stopping")
        return "answered"

    await service.start()
    in_flight = asyncio.create_task(rpc.request(client, query_subject("estest", "hold"), {}, timeout=20))
    try:
        await asyncio.wait_for(reached.wait(), timeout=20)
    finally:
        await service.stop()
    assert await in_flight == "answered"  # answered before the service let go of its connection
    assert service.bus.metrics.requests[query_subject("estest", "hold")] == 1

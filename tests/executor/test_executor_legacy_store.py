"""An executor database written by the interim private store (events with `published_at`, uuid event
ids, `occurred_at` in the metadata) is converted in place by the first migration: unpublished
events go to the shared outbox, and a step whose work the old relay already sent is not sent again."""

from __future__ import annotations

import json

import asyncpg
import nats

from ombudsman.contracts import events as ev
from ombudsman.contracts import subjects
from ombudsman.contracts.envelope import Actor, EventEnvelope, Metadata
from ombudsman.contracts.registry import envelope_for
from ombudsman.eventstore.streams import ensure_streams
from ombudsman.executor import projections
from ombudsman.executor.app import running
from ombudsman.executor.work import DURABLE
from tests.executor.conftest import Bus, Warehouse, pipeline, settings
from tests.support import eventually

LEGACY_EVENTS = """
CREATE SCHEMA executor;
CREATE TABLE executor.events (
    global_position bigserial PRIMARY KEY, event_id uuid NOT NULL UNIQUE, stream_type text NOT NULL,
    stream_id text NOT NULL, version integer NOT NULL, event_type text NOT NULL,
    schema_version integer NOT NULL DEFAULT 1, data jsonb NOT NULL, metadata jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(), published_at timestamptz, UNIQUE (stream_id, version));
CREATE INDEX events_unpublished ON executor.events (global_position) WHERE published_at IS NULL;
"""


async def test_interim_store_is_converted_without_dispatching_twice(nats_url: str, database_url: str,
                                                                    warehouse: Warehouse) -> None:
    meta = Metadata(actor=Actor.service("executor"))
    run_id = "legacy-run"
    yaml_text = pipeline(warehouse, "legacy", 2)
    old = [ev.RunQueued(run_id=run_id, pipeline_name="legacy", steps=["s000", "s001"], pipeline_yaml=yaml_text,
                        max_parallel=1),
           ev.RunStarted(run_id=run_id), ev.StepDispatched(run_id=run_id, step="s000", dispatch=1)]
    envelopes = [envelope_for(e, stream_id=run_id, version=i, meta=meta) for i, e in enumerate(old, start=1)]
    unpublished = envelope_for(ev.StepStarted(run_id=run_id, step="s000", worker="w0", attempt=1),
                               stream_id=run_id, version=4, meta=meta)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(LEGACY_EVENTS)
        for env in [*envelopes, unpublished]:
            await conn.execute(
                "INSERT INTO executor.events (event_id, stream_type, stream_id, version, event_type, data, metadata,"
                " published_at) VALUES ($1,$2,$3,$4,$5,$6::jsonb,$7::jsonb,$8)",
                env.event_id, env.stream_type, env.stream_id, env.version, env.event_type, json.dumps(env.data),
                json.dumps({"occurred_at": env.occurred_at.isoformat(), "actor": env.actor.model_dump(),
                            "correlation_id": env.correlation_id}),
                None if env is unpublished else env.occurred_at)
    finally:
        await conn.close()
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    for env in envelopes:  # what the old relay had published (its work message was consumed since)
        await js.publish(subjects.event_subject(env.stream_type, env.stream_id, env.event_type), env.wire(),
                         headers={"Nats-Msg-Id": env.event_id})
    got: list[EventEnvelope] = []

    async def received(msg: nats.aio.msg.Msg) -> None:
        got.append(EventEnvelope.from_wire(msg.data))

    await nc.subscribe(subjects.events_filter("run", run_id, "StepStarted"), cb=received)
    try:
        async with running(settings(nats_url, database_url)) as service:
            bus = Bus(nc, service)
            async def relayed() -> bool:
                return bool(got)

            await eventually(relayed, timeout=20, what="the unpublished event to be relayed")
            assert [e.event_id for e in got] == [unpublished.event_id]

            async def dispatcher_caught_up() -> bool:
                info = await js.consumer_info("OMB_EVENTS", DURABLE)
                return info.num_pending == 0 and info.num_ack_pending == 0

            await eventually(dispatcher_caught_up, timeout=20, what="the dispatcher to read the old StepDispatched")
            assert (await js.stream_info(subjects.WORK_STREAM)).state.messages == 0  # not dispatched again
            assert await projections.rebuild_all(service.engine) == 4
            run = await bus.query("run", {"run_id": run_id})
            assert run["status"] == "running"
            assert [(s["step"], s["state"]) for s in run["steps"]] == [("s000", "running"), ("s001", "pending")]
            stored = await bus.stored("SELECT event_id, occurred_at FROM executor.events ORDER BY version")
            assert [r["event_id"] for r in stored] == [e.event_id for e in [*envelopes, unpublished]]
            assert stored[0]["occurred_at"] == envelopes[0].occurred_at
            await bus.close()
    finally:
        await nc.close()

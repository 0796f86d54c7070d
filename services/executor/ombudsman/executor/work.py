"""Step work: each `StepDispatched` event becomes one work message on `OMB_WORK`.

The coordinator only appends `StepDispatched` (through the unit of work, with the other events and
the read models); the shared outbox relay publishes it to `OMB_EVENTS`. `StepWork` is fed by a
durable `ProjectionConsumer` on `omb.evt.run.*.StepDispatched`: per event, in ONE transaction, it
claims the event in `executor.tracking` (consumer `step_work`), publishes the work message to
`omb.work.step.<run_id>` and waits for JetStream's ack, then commits. So:

- a redelivered event whose claim committed is skipped: a step is never re-dispatched, however late;
- a publish that failed rolls the claim back and the event is nak'ed and retried;
- a publish acked whose commit was then lost is re-published on redelivery (seconds later) with the
  same `Nats-Msg-Id` (`step:<run>:<step>:<dispatch>`), which JetStream's duplicate window drops.

Workers pull the messages through one shared durable consumer (`work_consumer_config`).

`StepWork` is not a read model: it has no rows and is not among `all_projections()`, so a replay
never re-dispatches anything.
"""

from __future__ import annotations

import json

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ombudsman.contracts import events as ev
from ombudsman.contracts import subjects
from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.registry import decode
from ombudsman.eventstore.projections import Projection, ProjectionConsumer
from ombudsman.executor.settings import WORK_CONSUMER, ExecutorSettings

DURABLE = "executor-step-work"
FILTER = subjects.events_filter("run", "*", "StepDispatched")


def work_consumer_config(settings: ExecutorSettings) -> ConsumerConfig:
    """The one durable pull consumer every worker shares (the service and workers agree on it)."""
    return ConsumerConfig(
        durable_name=WORK_CONSUMER, ack_policy=AckPolicy.EXPLICIT, ack_wait=settings.executor_ack_wait,
        max_deliver=settings.executor_max_deliver, filter_subject=f"{subjects.WORK_PREFIX}.step.>",
        max_ack_pending=10_000,
    )


def work_message_id(run_id: str, step: str, dispatch: int) -> str:
    """The deterministic `Nats-Msg-Id` of a step's work message (one per run, step and dispatch)."""
    return f"step:{run_id}:{step}:{dispatch}"


class StepWork(Projection):
    """Publishes the work message of a `StepDispatched` event (a side effect, tracked like a projection)."""

    name = "step_work"
    event_types = frozenset({"StepDispatched"})

    def __init__(self, js: JetStreamContext, ack_timeout: float = 5.0) -> None:
        self.js = js
        self.ack_timeout = ack_timeout

    async def setup(self, conn: AsyncConnection) -> None:
        """No rows of its own: what was dispatched is in `executor.tracking`."""

    async def reset(self, conn: AsyncConnection) -> None:
        raise RuntimeError("step_work is not a read model: replaying it would dispatch every step again")

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        data = decode(envelope)
        assert isinstance(data, ev.StepDispatched)
        work = {"run_id": data.run_id, "step": data.step, "dispatch": data.dispatch}
        headers = {"Nats-Msg-Id": work_message_id(data.run_id, data.step, data.dispatch)}
        if envelope.traceparent:
            headers["traceparent"] = envelope.traceparent
        await self.js.publish(subjects.step_work_subject(data.run_id), json.dumps(work).encode(),
                              headers=headers, timeout=self.ack_timeout)


# A dispatch given up would leave its run waiting forever: retry (backoff up to 30 s) for weeks, not minutes.
MAX_DELIVER = 100_000


def step_work_consumer(engine: AsyncEngine, schema: str, js: JetStreamContext) -> ProjectionConsumer:
    """The dispatcher: a durable consumer of the executor's `StepDispatched` events."""
    return ProjectionConsumer(engine, schema, js, StepWork(js), durable=DURABLE, filter_subject=FILTER,
                              max_deliver=MAX_DELIVER)

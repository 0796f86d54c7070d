"""The work queue's JetStream side: the durable pull consumer every worker shares, and what
becomes of a work message that ran out of deliveries (`error: worker lost`)."""

from __future__ import annotations

import json
import logging

from nats.js.api import AckPolicy, ConsumerConfig

from ombudsman.contracts import subjects
from ombudsman.eventstore.runtime import ServiceContext
from ombudsman.executor.runs import Runs
from ombudsman.executor.settings import WORK_CONSUMER, ExecutorSettings
from ombudsman.executor.streams import SERVICE_META

log = logging.getLogger("ombudsman.executor")


def work_consumer_config(settings: ExecutorSettings) -> ConsumerConfig:
    """The one durable pull consumer every worker shares (the service and workers agree on it)."""
    return ConsumerConfig(
        durable_name=WORK_CONSUMER, ack_policy=AckPolicy.EXPLICIT, ack_wait=settings.executor_ack_wait,
        max_deliver=settings.executor_max_deliver, filter_subject=f"{subjects.WORK_PREFIX}.step.>",
        max_ack_pending=10_000,
    )


class WorkQueue:
    """Administers `OMB_WORK`'s shared consumer and ends the steps whose messages were lost."""

    def __init__(self, ctx: ServiceContext, runs: Runs, settings: ExecutorSettings) -> None:
        self.ctx = ctx
        self.runs = runs
        self.settings = settings

    async def ensure_work_consumer(self) -> None:
        """Create the workers' durable consumer unless it exists."""
        js = self.ctx.js
        try:
            await js.consumer_info(subjects.WORK_STREAM, WORK_CONSUMER)
        except Exception:
            await js.add_consumer(subjects.WORK_STREAM, work_consumer_config(self.settings))

    async def worker_lost(self, stream_seq: int, deliveries: int) -> None:
        """A work message ran out of deliveries: its step ends as `error: worker lost`."""
        try:
            msg = await self.ctx.js.get_msg(subjects.WORK_STREAM, stream_seq)
        except Exception as exc:
            log.warning("worker lost: message %s is gone (%s)", stream_seq, exc)
            return
        work = json.loads(msg.data or b"{}")
        result = {
            "step": work["step"], "validator": "", "status": "error", "severity": "critical",
            "message": f"error: worker lost (no result after {deliveries} deliveries)",
        }
        try:
            await self.runs.record_step_result(work["run_id"], work["step"], result, SERVICE_META)
        finally:
            try:
                await self.ctx.js.delete_msg(subjects.WORK_STREAM, stream_seq)
            except Exception:  # already gone
                pass


"""The work queue's JetStream side: the durable pull consumer every worker shares is made here
(its configuration is work.py's), and a work message that ran out of deliveries becomes
`error: worker lost`."""

from __future__ import annotations

import json
import logging

from ombudsman.contracts import subjects
from ombudsman.eventstore.runtime import ServiceContext
from ombudsman.executor.runs import Runs
from ombudsman.executor.settings import WORK_CONSUMER, ExecutorSettings
from ombudsman.executor.streams import SERVICE_META
from ombudsman.executor.work import work_consumer_config

log = logging.getLogger("ombudsman.executor")


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


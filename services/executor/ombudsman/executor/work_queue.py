"""The work queue's JetStream side: the durable pull consumer every worker shares is made here
(its configuration is work.py's), and a work message that ran out of deliveries becomes
`error: worker lost`.

JetStream tells that a message ran out of deliveries once, with an advisory, whoever listens. The
advisories are kept in the stream `OMB_WORK_LOST` (it captures them as they are published) and read
by the leading coordinator through the durable consumer `executor-worker-lost`, acked once handled:
an advisory published while no replica leads (the leader killed, the standby not yet leading) waits
there for the next leader, which reads on from where the last one acked. Handling one twice (a
leader killed between recording and acking) changes nothing: a step's second result is dropped.
The stream keeps an advisory until it is acked (work-queue retention), at most `LOST_MAX_AGE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from nats.errors import ConnectionClosedError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from ombudsman.contracts import subjects
from ombudsman.eventstore.runtime import ServiceContext
from ombudsman.executor.runs import Runs
from ombudsman.executor.settings import WORK_CONSUMER, ExecutorSettings
from ombudsman.executor.streams import SERVICE_META
from ombudsman.executor.work import work_consumer_config

log = logging.getLogger("ombudsman.executor")
LOST_CONSUMER = "executor-worker-lost"
LOST_MAX_AGE = 30 * 24 * 3600.0  # seconds: an advisory no leader read for a month is dropped


def lost_stream_config(replicas: int = 1) -> StreamConfig:
    """`OMB_WORK_LOST`: the max-deliveries advisories of `OMB_WORK`, each kept until a leader acks it."""
    return StreamConfig(
        name=subjects.WORK_LOST_STREAM, subjects=[subjects.max_deliveries_advisories(subjects.WORK_STREAM)],
        storage=StorageType.FILE, retention=RetentionPolicy.WORK_QUEUE, max_age=LOST_MAX_AGE, num_replicas=replicas,
    )


def lost_consumer_config() -> ConsumerConfig:
    """The leader's durable consumer of `OMB_WORK_LOST` (one, whichever replica leads)."""
    return ConsumerConfig(durable_name=LOST_CONSUMER, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
                          ack_wait=30.0, max_deliver=-1)


class WorkQueue:
    """Administers `OMB_WORK`'s shared consumer and ends the steps whose messages were lost."""

    def __init__(self, ctx: ServiceContext, runs: Runs, settings: ExecutorSettings) -> None:
        self.ctx = ctx
        self.runs = runs
        self.settings = settings
        self.lost_handled = 0  # advisories this replica handled (tests, logs)

    async def ensure_work_consumer(self) -> None:
        """Create the workers' durable consumer, the advisories' stream and its consumer unless they exist."""
        js = self.ctx.js
        try:
            await js.consumer_info(subjects.WORK_STREAM, WORK_CONSUMER)
        except Exception:
            await js.add_consumer(subjects.WORK_STREAM, work_consumer_config(self.settings))
        try:
            await js.stream_info(subjects.WORK_LOST_STREAM)
        except NotFoundError:
            try:
                await js.add_stream(lost_stream_config(self.settings.events_replicas))
            except BadRequestError as exc:  # another replica created it in between
                if "already in use" not in str(exc):
                    raise
        try:
            await js.consumer_info(subjects.WORK_LOST_STREAM, LOST_CONSUMER)
        except NotFoundError:
            await js.add_consumer(subjects.WORK_LOST_STREAM, lost_consumer_config())

    async def follow_lost(self, stopping: asyncio.Event) -> None:
        """While leading: turn every advisory of `OMB_WORK_LOST` (kept ones first) into `worker lost`."""
        sub = await self.ctx.js.pull_subscribe_bind(durable=LOST_CONSUMER, stream=subjects.WORK_LOST_STREAM)
        try:
            while not stopping.is_set():
                try:
                    msgs = await sub.fetch(20, timeout=1.0)
                except (NatsTimeout, TimeoutError):  # nothing to read (nats-py raises either)
                    continue
                except ConnectionClosedError:  # closed for good (the process stops): asking again would spin
                    log.info("worker-lost advisories: the connection is closed, stopped following")
                    return
                except Exception as exc:  # NATS away: ask again
                    log.warning("worker-lost advisories: fetch failed (%s)", type(exc).__name__)
                    await asyncio.sleep(0.5)
                    continue
                for msg in msgs:
                    await self._handle_advisory(msg)
        finally:
            try:
                await sub.unsubscribe()
            except Exception:  # the connection is closing
                pass

    async def _handle_advisory(self, msg: Any) -> None:
        try:
            advisory = json.loads(msg.data)
            await self.worker_lost(int(advisory["stream_seq"]), int(advisory.get("deliveries", 0)))
        except (ValueError, KeyError, TypeError):
            log.error("worker-lost advisory unreadable: dropped")
        except Exception:
            log.exception("worker-lost handling failed; the advisory comes back")
            with contextlib.suppress(Exception):  # else it comes back after the ack wait
                await msg.nak(delay=1.0)
            return
        self.lost_handled += 1
        try:
            await msg.ack_sync()
        except Exception as exc:  # it comes back and finds the step recorded: nothing changes
            log.warning("worker-lost advisory handled but not acked: %s", type(exc).__name__)

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
            except Exception:  # already gone, or not this principal's to delete
                pass

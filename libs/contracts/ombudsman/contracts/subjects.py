"""NATS subjects and stream names as functions: no subject literal lives anywhere else."""

from __future__ import annotations

import re

EVENTS_STREAM = "OMB_EVENTS"
WORK_STREAM = "OMB_WORK"
# JetStream's max-deliveries advisories of OMB_WORK, kept until the leading executor has read them
WORK_LOST_STREAM = "OMB_WORK_LOST"
EVENTS_PREFIX = "omb.evt"
WORK_PREFIX = "omb.work"

_TOKEN = re.compile(r"^[A-Za-z0-9_\-:]+$")


def _token(value: str, what: str) -> str:
    if not value or not _TOKEN.match(value):
        raise ValueError(f"{what} {value!r} cannot be a NATS subject token (letters, digits, _ - : only)")
    return value


def event_subject(stream_type: str, stream_id: str, event_type: str) -> str:
    """`omb.evt.<stream_type>.<stream_id>.<EventType>`"""
    return (
        f"{EVENTS_PREFIX}.{_token(stream_type, 'stream type')}."
        f"{_token(stream_id, 'stream id')}.{_token(event_type, 'event type')}"
    )


def events_filter(stream_type: str = "*", stream_id: str = "*", event_type: str = "*") -> str:
    """A subject filter over events; any part left out matches everything."""
    return f"{EVENTS_PREFIX}.{stream_type}.{stream_id}.{event_type}"


def all_events() -> str:
    return f"{EVENTS_PREFIX}.>"


def command_subject(service: str, command: str) -> str:
    """`omb.cmd.<service>.<command>`: request/reply, queue group per service."""
    return f"omb.cmd.{_token(service, 'service')}.{_token(command, 'command')}"


def query_subject(service: str, query: str) -> str:
    """`omb.qry.<service>.<query>`"""
    return f"omb.qry.{_token(service, 'service')}.{_token(query, 'query')}"


def health_subject(service: str) -> str:
    return query_subject(service, "health")


def worker_plan_subject() -> str:
    """`omb.qry.worker.plan_run`: the price of a pipeline before running it (`POST /runs?dry_run=true`),
    asked by the executor and answered by one step worker (queue group `workers`), which can reach
    the databases."""
    return "omb.qry.worker.plan_run"


def worker_stats_subject() -> str:
    """`omb.workers.stats`: a broadcast every step worker answers (no queue group) with its figures
    and its connection pools; ask with `rpc.gather`."""
    return "omb.workers.stats"


def step_work_subject(run_id: str) -> str:
    """`omb.work.step.<run_id>`: one message per step to execute."""
    return f"{WORK_PREFIX}.step.{_token(run_id, 'run id')}"


def max_deliveries_advisories(stream: str) -> str:
    """The subjects on which JetStream tells that a message of `stream` ran out of deliveries."""
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.>"


def all_work() -> str:
    return f"{WORK_PREFIX}.>"


def queue_group(service: str) -> str:
    return f"omb-{service}"

"""The JetStream streams every service relies on, created if missing."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from ombudsman.contracts.subjects import EVENTS_STREAM, WORK_STREAM, all_events, all_work

DUPLICATE_WINDOW = 120.0  # seconds: JetStream drops a re-published Nats-Msg-Id within this window


def stream_configs(replicas: int = 1) -> list[StreamConfig]:
    """OMB_EVENTS (all events, kept) and OMB_WORK (work queue: a message leaves once acked)."""
    return [
        StreamConfig(
            name=EVENTS_STREAM, subjects=[all_events()], storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS, duplicate_window=DUPLICATE_WINDOW, num_replicas=replicas,
        ),
        StreamConfig(
            name=WORK_STREAM, subjects=[all_work()], storage=StorageType.FILE,
            retention=RetentionPolicy.WORK_QUEUE, duplicate_window=DUPLICATE_WINDOW, num_replicas=replicas,
        ),
    ]


async def ensure_streams(js: JetStreamContext, *, replicas: int = 1) -> None:
    """Create the streams that do not exist yet; existing ones are left as configured (operators may tune)."""
    for config in stream_configs(replicas):
        assert config.name is not None
        try:
            await js.stream_info(config.name)
            continue
        except NotFoundError:
            pass
        try:
            await js.add_stream(config)
        except BadRequestError as exc:  # another process created it in between
            if "already in use" not in str(exc):
                raise

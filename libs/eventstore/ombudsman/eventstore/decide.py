"""Load → decide → append with optimistic concurrency, retried on a version conflict.

This is the platform's one conflict-retry. A writer loads a stream, decides (pure) which events
follow, and appends them at the version it loaded; when another writer appended first, the store
raises `StreamConflict` and the whole attempt runs again on the fresh stream, after a jittered
exponential back-off, a bounded number of times. A decision's own refusal (`Conflict` raised by a
domain rule, e.g. "already exists") is not a race and is never retried.

- `decide(uow, stream_id, decision, meta)`: the whole cycle over one unit of work.
- `retry_conflicts(attempt, stream_id=…)`: the retry alone, for a writer whose attempt is more than
  load/decide/append (several streams, private rows, a state loaded another way).

Retries are counted in `CONFLICT_RETRIES` (in-process, by outcome) and in the OpenTelemetry counter
`ombudsman.eventstore.conflict_retries` (attribute `outcome`: `retried` or `gave_up`).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from opentelemetry import metrics

from ombudsman.contracts.envelope import EventEnvelope, Metadata
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import Conflict
from ombudsman.eventstore.store import StreamConflict
from ombudsman.eventstore.uow import UnitOfWork

T = TypeVar("T")

CONFLICT_RETRIES: Counter[str] = Counter()
_RETRY_COUNTER = metrics.get_meter("ombudsman.eventstore").create_counter(
    "ombudsman.eventstore.conflict_retries", unit="1",
    description="load/decide/append attempts run again after a stream version conflict",
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a conflicting attempt runs again.

    Back-off before retry n (0-based) is uniform in [0, min(max_delay, first_delay * 2**n)]
    ("full jitter"): writers that collided once spread out instead of colliding again in step.
    """

    attempts: int = 8
    first_delay: float = 0.005
    max_delay: float = 0.25

    def delay(self, retry: int) -> float:
        return random.uniform(0.0, min(self.max_delay, self.first_delay * 2 ** retry))


DEFAULT_RETRY = RetryPolicy()


class ConflictsExhausted(Conflict):
    """Every attempt met a concurrent append: the caller may try again later (HTTP 409)."""


async def retry_conflicts(
    attempt: Callable[[], Awaitable[T]], *, stream_id: str, policy: RetryPolicy = DEFAULT_RETRY
) -> T:
    """Run `attempt()` (a whole load/decide/append in its own transaction); when it raises
    `StreamConflict`, run it again after the policy's back-off. After `policy.attempts` conflicts
    raise `ConflictsExhausted` naming the stream and the number of attempts."""
    for retry in range(policy.attempts):
        try:
            return await attempt()
        except StreamConflict as exc:
            last = exc
            if retry == policy.attempts - 1:
                break
            CONFLICT_RETRIES["retried"] += 1
            _RETRY_COUNTER.add(1, {"outcome": "retried"})
            await asyncio.sleep(policy.delay(retry))
    CONFLICT_RETRIES["gave_up"] += 1
    _RETRY_COUNTER.add(1, {"outcome": "gave_up"})
    raise ConflictsExhausted(
        f"stream {stream_id!r} kept changing under this command: {policy.attempts} attempts each met a "
        "concurrent write; try again",
        {"stream_id": stream_id, "attempts": policy.attempts},
    ) from last


@dataclass(frozen=True)
class Decided:
    """What `decide` saw and wrote: the stream's events before, and the envelopes it appended."""

    history: list[EventEnvelope]
    appended: list[EventEnvelope]

    @property
    def version(self) -> int:
        """The stream's version after the append."""
        last = (self.appended or self.history)
        return last[-1].version if last else 0


Decision = Callable[[list[EventEnvelope]], Sequence[Event]]
AlsoWrite = Callable[[UnitOfWork, Sequence[Event]], Awaitable[None]]


async def decide(
    uow: Callable[[], UnitOfWork],
    stream_id: str,
    decision: Decision,
    meta: Metadata,
    *,
    also: AlsoWrite | None = None,
    policy: RetryPolicy = DEFAULT_RETRY,
) -> Decided:
    """Load `stream_id`, run `decision(history) -> events`, append them at the loaded version, all
    in one unit of work from `uow()`; `also(uow, events)` writes the service's private rows in the
    same transaction. On a concurrent append the whole cycle runs again (`retry_conflicts`)."""

    async def attempt() -> Decided:
        async with uow() as work:
            history = await work.load(stream_id)
            events = list(decision(history))
            version = history[-1].version if history else 0
            appended = await work.emit(stream_id, events, meta, expected_version=version) if events else []
            if also is not None:
                await also(work, events)
            return Decided(history, appended)

    return await retry_conflicts(attempt, stream_id=stream_id, policy=policy)

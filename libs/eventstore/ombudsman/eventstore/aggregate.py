"""The one shape of an event-sourced aggregate's fold, and the registry that finds folds by stream type.

An aggregate is its state before any event (`initial(stream_id)`) and one event applied
(`apply(state, envelope) -> state`); the state after a stream is `fold`: `apply` reduced over its
envelopes in stream order. Decisions (command + state -> events) are plain functions beside it.

Where folds live (design-notes item 18): an aggregate's state, fold and decisions live in its
owning service's `domain.py`, and the service registers the aggregate under its stream type in the
entry-point group `ombudsman.aggregates`. Another service that needs a fold — the audit service's
replay as of an instant — finds it here by stream type (`registered()`), never by importing the
owning service.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any, Protocol, TypeVar

from pydantic import TypeAdapter

from ombudsman.contracts.envelope import EventEnvelope

S = TypeVar("S")
ENTRY_POINT_GROUP = "ombudsman.aggregates"


class Aggregate(Protocol[S]):
    """An aggregate's fold: `stream_type` names its streams (the events' `stream_type`)."""

    stream_type: str

    def initial(self, stream_id: str) -> S:
        """The state of a stream with no events."""
        ...

    def apply(self, state: S, envelope: EventEnvelope) -> S:
        """The state after one more event. It may change `state` itself and return it: a fold owns
        the state it starts from, so a caller keeping a state folds from a copy."""
        ...


def fold(aggregate: Aggregate[S], stream_id: str, envelopes: Iterable[EventEnvelope], state: S | None = None) -> S:
    """The state after `envelopes` (in stream order), from `state` or the aggregate's initial state."""
    start = aggregate.initial(stream_id) if state is None else state
    return functools.reduce(aggregate.apply, envelopes, start)


@functools.cache
def registered() -> dict[str, Aggregate[Any]]:
    """Every installed aggregate by stream type (entry points `ombudsman.aggregates`: name = stream
    type, value = the aggregate object)."""
    found: dict[str, Aggregate[Any]] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        aggregate = point.load()
        if aggregate.stream_type != point.name:
            raise ValueError(f"aggregate {point.value} is registered as {point.name!r} but folds "
                             f"{aggregate.stream_type!r} streams")
        found[point.name] = aggregate
    return found


def state_json(state: Any) -> Any:
    """A folded state as JSON values (pydantic models and dataclasses alike)."""
    return TypeAdapter(type(state)).dump_python(state, mode="json")

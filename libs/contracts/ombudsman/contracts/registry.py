"""The registry of event types, their schema versions and upcasters.

An event type is a pydantic model subclassing `Event`, registered under its class name. When an
event type changes shape, bump its `schema_version` and register an upcaster from the old version:
readers always see the current shape, whatever was stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from ombudsman.contracts.envelope import EventEnvelope, Metadata

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Event(BaseModel):
    """Base class of every event's data. Subclasses set `stream_type` (and `schema_version`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    stream_type: ClassVar[str]
    schema_version: ClassVar[int] = 1

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__


E = TypeVar("E", bound=type[Event])

_EVENTS: dict[str, type[Event]] = {}
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class UnknownEventType(KeyError):
    pass


def event(cls: E) -> E:
    """Class decorator: register an event type under its class name."""
    name = cls.__name__
    if name in _EVENTS and _EVENTS[name] is not cls:
        raise ValueError(f"event type {name} is registered twice")
    if not getattr(cls, "stream_type", None):
        raise ValueError(f"event type {name} has no stream_type")
    _EVENTS[name] = cls
    return cls


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Decorator: register a function turning `from_version` data into `from_version + 1` data."""

    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def event_types() -> dict[str, type[Event]]:
    """Every registered event type by name."""
    return dict(_EVENTS)


def event_class(event_type: str) -> type[Event]:
    try:
        return _EVENTS[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


def upcast(event_type: str, schema_version: int, data: dict[str, Any]) -> dict[str, Any]:
    """Bring stored data of `schema_version` up to the event type's current version."""
    target = event_class(event_type).schema_version
    version = schema_version
    while version < target:
        step = _UPCASTERS.get((event_type, version))
        if step is None:
            raise ValueError(f"no upcaster for {event_type} from schema version {version}")
        data = step(dict(data))
        version += 1
    return data


def decode(envelope: EventEnvelope) -> Event:
    """The typed, current-version data of an envelope."""
    cls = event_class(envelope.event_type)
    return cls.model_validate(upcast(envelope.event_type, envelope.schema_version, envelope.data))


def to_current(envelope: EventEnvelope) -> EventEnvelope:
    """The envelope with its data upcast to the current schema version (unknown types unchanged)."""
    if envelope.event_type not in _EVENTS:
        return envelope
    cls = _EVENTS[envelope.event_type]
    if envelope.schema_version == cls.schema_version:
        return envelope
    data = upcast(envelope.event_type, envelope.schema_version, envelope.data)
    return envelope.model_copy(update={"data": data, "schema_version": cls.schema_version})


def envelope_for(event: Event, *, stream_id: str, version: int, meta: Metadata) -> EventEnvelope:
    """Wrap typed event data into an envelope at `version` of stream `stream_id`."""
    return EventEnvelope(
        event_type=event.event_type(),
        schema_version=type(event).schema_version,
        stream_type=type(event).stream_type,
        stream_id=stream_id,
        version=version,
        actor=meta.actor,
        correlation_id=meta.correlation_id,
        causation_id=meta.causation_id,
        traceparent=meta.traceparent,
        data=event.model_dump(mode="json"),
    )

"""The event envelope (ARCHITECTURE.md §2) and helpers to build one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from uuid6 import uuid7


def new_id() -> str:
    """A new time-ordered identifier (UUIDv7) as text."""
    return str(uuid7())


def utcnow() -> datetime:
    return datetime.now(UTC)


ActorRole = Literal["admin", "user", "viewer", "service", "system"]


class Actor(BaseModel):
    """Who caused an event: a person (id, name, role) or a service."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    role: ActorRole = "user"

    @classmethod
    def service(cls, name: str) -> Actor:
        return cls(id=f"service:{name}", name=name, role="service")

    @classmethod
    def system(cls) -> Actor:
        return cls(id="system", name="system", role="system")


class EventEnvelope(BaseModel):
    """One event as it is stored, published and replayed."""

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(default_factory=new_id)
    event_type: str
    schema_version: int = 1
    stream_type: str
    stream_id: str
    version: int = Field(ge=1, description="1-based position of the event in its stream")
    occurred_at: datetime = Field(default_factory=utcnow)
    actor: Actor
    correlation_id: str
    causation_id: str | None = None
    traceparent: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def wire(self) -> bytes:
        """The JSON form published on the bus."""
        return self.model_dump_json().encode()

    @classmethod
    def from_wire(cls, payload: bytes | str) -> EventEnvelope:
        return cls.model_validate_json(payload)


class Metadata(BaseModel):
    """Who and why: carried from a command into the events it produces.

    `token` is the bus token a request arrived with (the person it acts for, signed by the gateway);
    it is forwarded on the calls made for that person and never serialised (not in events or headers
    other than `Omb-Token`)."""

    actor: Actor = Field(default_factory=Actor.system)
    correlation_id: str = Field(default_factory=new_id)
    causation_id: str | None = None
    traceparent: str | None = None
    token: str | None = Field(default=None, exclude=True, repr=False)

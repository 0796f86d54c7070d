"""The public event interface as an AsyncAPI 3.0 document, built from the event registry.

Other teams subscribe to `OMB_EVENTS`; this is their reference: one channel per stream type
(`omb.evt.<stream_type>.{stream_id}.{event_type}`), one message per event type with the JSON
Schema of its `data`, its schema version, and the envelope every event shares.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ombudsman.contracts import events as _events  # noqa: F401  (registers every event type)
from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.registry import event_types
from ombudsman.contracts.subjects import EVENTS_PREFIX, EVENTS_STREAM


def asyncapi_document() -> dict[str, Any]:
    """AsyncAPI 3.0 description of every event type Ombudsman publishes."""
    try:
        release = version("ombudsman-contracts")
    except PackageNotFoundError:
        release = "0"
    by_stream: dict[str, list[str]] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"EventEnvelope": EventEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")}
    for name, cls in sorted(event_types().items()):
        by_stream.setdefault(cls.stream_type, []).append(name)
        data_schema = cls.model_json_schema(ref_template="#/components/schemas/{model}")
        for key, sub in data_schema.pop("$defs", {}).items():
            schemas.setdefault(key, sub)
        schemas[name] = data_schema
        messages[name] = {
            "name": name,
            "title": name,
            "summary": (cls.__doc__ or "").strip().split("\n")[0] or f"{name} ({cls.stream_type})",
            "contentType": "application/json",
            "headers": {"type": "object", "properties": {"Nats-Msg-Id": {"type": "string",
                                                                           "description": "the event_id"}}},
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/EventEnvelope"},
                    {"type": "object", "properties": {
                        "event_type": {"const": name},
                        "schema_version": {"const": cls.schema_version},
                        "stream_type": {"const": cls.stream_type},
                        "data": {"$ref": f"#/components/schemas/{name}"},
                    }},
                ]
            },
        }
    channels = {
        stream_type: {
            "address": f"{EVENTS_PREFIX}.{stream_type}.{{stream_id}}.{{event_type}}",
            "description": f"Events of {stream_type} streams, in JetStream stream {EVENTS_STREAM}.",
            "parameters": {"stream_id": {"description": "the aggregate's id"},
                           "event_type": {"enum": names}},
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
        }
        for stream_type, names in sorted(by_stream.items())
    }
    operations = {
        f"receive_{stream_type}": {"action": "receive", "channel": {"$ref": f"#/channels/{stream_type}"}}
        for stream_type in channels
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Ombudsman events",
            "version": release,
            "description": "Every fact Ombudsman records, published on NATS JetStream stream "
            f"{EVENTS_STREAM} (subjects {EVENTS_PREFIX}.>). Event types are versioned: readers of an "
            "older schema_version get it upcast by libs/contracts.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }

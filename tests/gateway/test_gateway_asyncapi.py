"""The bus's AsyncAPI document (FastStream's, from the services' real handlers, plus the event
registry) names every subject a service answers and every event type, served by the real gateway
at GET /asyncapi."""

from __future__ import annotations

import httpx

from ombudsman.contracts.access import SERVICES
from ombudsman.contracts.registry import event_types
from ombudsman.contracts.subjects import queue_group
from ombudsman.eventstore.asyncapi import services
from ombudsman.gateway.app import create_app
from tests.gateway.conftest import ensure_events_stream, gateway_settings, serving


async def test_gateway_serves_every_service_subject_and_event_type(database_url: str, nats_url: str) -> None:
    built = services()
    # every bus service is in it (the gateway is the web app, not a bus service)
    assert sorted(s.name for s in built) == sorted(name for name in SERVICES if name != "gateway")
    await ensure_events_stream(nats_url)
    app = create_app(gateway_settings(database_url, nats_url))
    async with serving(app) as port, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
        r = await c.get("/asyncapi")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["asyncapi"] == "3.0.0"
    channels = doc["channels"]
    by_address = {channel["address"]: channel for channel in channels.values()}
    for service in built:
        assert len(service.subjects) > 1, service.name  # health and its own handlers
        for subject in service.subjects:
            channel = by_address.get(subject)
            assert channel is not None, f"{subject} of {service.name} missing from /asyncapi"
            assert channel["bindings"]["nats"]["queue"] == queue_group(service.name), subject
            operation = doc["operations"][next(key for key, ch in channels.items() if ch is channel)]
            assert operation["action"] == "receive", subject
    messages = doc["components"]["messages"]
    for name, cls in event_types().items():
        assert name in messages, f"event type {name} missing from /asyncapi"
        channel = channels[cls.stream_type]
        assert channel["address"].startswith(f"omb.evt.{cls.stream_type}.") and name in channel["messages"]
        assert set(cls.model_fields) <= set(doc["components"]["schemas"][name]["properties"])
    # the document says nothing of the deployment: no credentials, no generated secret
    assert "@" not in str(doc.get("servers", {}))

"""A trace started by the caller continues through the gateway, over NATS, into the projects
service and into the event it appends."""

from __future__ import annotations

import asyncpg

from ombudsman.eventstore.db import asyncpg_dsn

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_traceparent_reaches_the_event_metadata(gateway, projects_service, database_url: str) -> None:
    _, alice = await gateway.user("alice")
    headers = {**alice, "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
    created = await gateway.client.post("/api/v1/projects", json={"id": "traced", "name": "Traced"}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.headers["x-trace-id"] == TRACE_ID
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        traceparent = await conn.fetchval(
            "SELECT metadata->>'traceparent' FROM projects.events WHERE stream_id = 'traced' AND version = 1")
    finally:
        await conn.close()
    assert traceparent is not None and traceparent.split("-")[1] == TRACE_ID
    untraced = await gateway.client.get("/api/v1/projects", headers=alice)
    assert untraced.status_code == 200 and len(untraced.headers["x-trace-id"]) == 32
    assert untraced.headers["x-trace-id"] != TRACE_ID

"""WebSockets: `/ws/runs/{run_id}` (a run's events, replay then live) and `/ws/events` (filtered)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.replies import Invalid, NotFound, OmbudsmanError, Unauthorized
from ombudsman.contracts.subjects import all_events
from ombudsman.gateway.deps import Principal, authenticate, visible_project, visible_run
from ombudsman.gateway.runevents import ws_message
from ombudsman.gateway.runwatch import RunFeeds

router = APIRouter()
log = logging.getLogger("ombudsman.gateway.ws")

AUTH_TIMEOUT = 10.0
RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_INVALID = 4422
CLOSE_UNAVAILABLE = 4503


async def _authenticate(ws: WebSocket) -> Principal:
    """Token from the `token` query parameter, else from a first message `{"token": "..."}`."""
    token = ws.query_params.get("token")
    if not token:
        try:
            first = await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT)
            token = str(json.loads(first).get("token") or "")
        except (TimeoutError, ValueError, AttributeError):
            token = ""
    if not token:
        raise Unauthorized("send the access token as ?token= or as a first message {\"token\": ...}")
    return await authenticate(ws, token)  # type: ignore[arg-type]


async def _fail(ws: WebSocket, exc: OmbudsmanError) -> None:
    code = {401: CLOSE_UNAUTHORIZED, 404: CLOSE_NOT_FOUND, 422: CLOSE_INVALID}.get(exc.http_status, CLOSE_UNAVAILABLE)
    with contextlib.suppress(Exception):
        await ws.send_json({"type": "error", "error": exc.info().model_dump(mode="json")})
        await ws.close(code=code, reason=exc.message[:120])


async def _watch_disconnect(ws: WebSocket) -> None:
    """Return when the client goes away (messages it sends after auth are ignored)."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await ws.receive()
            if message.get("type") == "websocket.disconnect":
                return


@router.websocket("/ws/runs/{run_id}")
async def run_events(ws: WebSocket, run_id: str) -> None:
    """Every event of the run from its first, then live ones, until the run ends.

    The run's feed (runwatch.py: one ordered JetStream consumer on `omb.evt.run.<run_id>.>` from
    the stream's start, shared by every watcher of the run) gives the replay and the live tail in one
    sequence: no gap between them and no duplicate.
    """
    await ws.accept()
    try:
        if not RUN_ID.match(run_id):
            raise NotFound(f"run {run_id!r} not found", {"run_id": run_id})
        principal = await _authenticate(ws)
        await visible_run(ws.app.state.bus, principal, run_id)
    except OmbudsmanError as exc:
        await _fail(ws, exc)
        return
    feeds: RunFeeds = ws.app.state.run_feeds
    try:
        feed, queue = await feeds.join(run_id)
    except Exception as exc:
        log.warning("cannot subscribe to run %s: %s", run_id, exc)
        await _fail(ws, NotFound(f"no events for run {run_id!r} yet", {"run_id": run_id}))
        return
    # the client leaving puts None in the queue: no task or wait per message (one feed event is
    # sent to every watcher, so the per-message cost is paid watchers times)
    gone = asyncio.create_task(_watch_disconnect(ws))
    gone.add_done_callback(lambda _: queue.put_nowait(None))
    try:
        while (item := await queue.get()) is not None:
            text, ends = item
            await ws.send_text(text)
            if ends:
                await ws.close(code=1000)
                return
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        gone.cancel()
        await feeds.leave(feed, queue)


def _project_of(envelope: EventEnvelope, run_projects: dict[str, str | None]) -> str | None:
    if envelope.stream_type == "project":
        return envelope.stream_id
    project = envelope.data.get("project_id")
    if project:
        if envelope.stream_type == "run":
            run_projects[envelope.stream_id] = project
        return str(project)
    if envelope.stream_type == "run":
        return run_projects.get(envelope.stream_id)
    return None


@router.websocket("/ws/events")
async def events(ws: WebSocket) -> None:
    """Live events for dashboards. Query: `project` (required unless admin), `types` (comma-separated
    event types like `StepCompleted` or socket names like `step.completed`). The first message,
    `{"type": "subscribed"}`, says the live subscription is in place: every later event arrives."""
    await ws.accept()
    project = ws.query_params.get("project") or None
    types = {t.strip() for t in (ws.query_params.get("types") or "").split(",") if t.strip()}
    try:
        principal = await _authenticate(ws)
        if project:
            await visible_project(ws.app.state.bus, principal, project)
        elif not principal.is_admin:
            raise Invalid("the project filter is required (only an admin watches every project)", {"field": "project"})
    except OmbudsmanError as exc:
        await _fail(ws, exc)
        return
    run_projects: dict[str, str | None] = {}
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=10_000)

    async def on_message(msg: Any) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a slow dashboard drops events, never the gateway
            queue.put_nowait(msg)

    sub = await ws.app.state.nc.subscribe(all_events(), cb=on_message)
    await ws.app.state.nc.flush()  # the server has the subscription: every event from now on arrives
    await ws.send_json({"type": "subscribed"})
    gone = asyncio.create_task(_watch_disconnect(ws))
    bus = ws.app.state.bus
    try:
        while True:
            getter = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({getter, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone in done:
                getter.cancel()
                return
            try:
                envelope = EventEnvelope.from_wire(getter.result().data)
            except ValueError:
                continue
            socket_message = ws_message(envelope) if envelope.stream_type == "run" else None
            if types and envelope.event_type not in types and (socket_message or {}).get("type") not in types:
                continue
            if project:
                owner = _project_of(envelope, run_projects)
                if owner is None and envelope.stream_type == "run" and envelope.stream_id not in run_projects:
                    with contextlib.suppress(OmbudsmanError):
                        run = await bus.query("executor", "run", {"run_id": envelope.stream_id}, principal.actor)
                        run_projects[envelope.stream_id] = run.get("project_id")
                        owner = run_projects[envelope.stream_id]
                if owner != project:
                    continue
            payload = envelope.model_dump(mode="json")
            if socket_message:
                payload["type"] = socket_message["type"]
            await ws.send_json(payload)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        gone.cancel()
        with contextlib.suppress(Exception):
            await sub.unsubscribe()

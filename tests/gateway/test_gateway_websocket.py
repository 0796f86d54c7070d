"""WebSockets over a real uvicorn server: a run's events replayed then live, in order, no gap, no duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
import websockets

from ombudsman.contracts import events as ev
from tests.gateway.conftest import Served
from tests.support import eventually


async def _run_setup(served: Served, run_id: str, member: str) -> None:
    if "p1" not in served.created:
        await served.create_project("p1", member)
        served.created.add("p1")
    served.executor.runs[run_id] = {"run_id": run_id, "project_id": "p1", "status": "running"}


async def _receive_all(ws: Any) -> list[dict[str, Any]]:
    messages = []
    with contextlib.suppress(websockets.ConnectionClosedOK):
        while True:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    return messages


async def test_late_joiner_gets_replay_then_live_in_order(served: Served) -> None:
    user_id, token = await served.token("wendy")
    run = "run-late-1"
    await _run_setup(served, run, user_id)
    steps = ["s1", "s2", "s3", "s4"]
    await served.publish(run, ev.RunQueued(run_id=run, project_id="p1", steps=steps), ev.RunStarted(run_id=run),
                         ev.StepStarted(run_id=run, step="s1"), ev.StepCompleted(run_id=run, step="s1", status="passed"),
                         ev.StepStarted(run_id=run, step="s2"), ev.StepCompleted(run_id=run, step="s2", status="failed"))
    # Another run's events must not leak into this socket.
    await served.publish("run-other", ev.RunStarted(run_id="run-other"))

    async with websockets.connect(served.ws_url(f"/ws/runs/{run}?token={token}")) as ws:
        first = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(6)]
        await served.publish(run, ev.StepStarted(run_id=run, step="s3"), ev.StepSkipped(run_id=run, step="s4", reason="dep"),
                             ev.StepCompleted(run_id=run, step="s3", status="passed"),
                             ev.RunCompleted(run_id=run, status="failed", total_steps=4, successful_steps=1, failed_steps=1))
        rest = await _receive_all(ws)
    messages = first + rest
    assert [m["type"] for m in messages] == [
        "pipeline.queued", "pipeline.started", "step.started", "step.completed", "step.started", "step.failed",
        "step.started", "step.completed", "step.completed", "pipeline.failed",
    ]
    assert [m.get("step") for m in messages][2:9] == ["s1", "s1", "s2", "s2", "s3", "s4", "s3"]
    assert messages[0]["steps"] == steps
    assert [m["version"] for m in messages] == list(range(1, 11))
    sequences = [m["sequence"] for m in messages]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert {m["run_id"] for m in messages} == {run}


async def test_events_published_while_joining_arrive_once_each(served: Served) -> None:
    user_id, token = await served.token("xena")
    run = "run-race-1"
    await _run_setup(served, run, user_id)
    total = 60
    await served.publish(run, ev.RunStarted(run_id=run))

    published = 0

    async def producer() -> None:
        nonlocal published
        for i in range(total):
            await served.publish(run, ev.StepCompleted(run_id=run, step=f"s{i}", status="passed"))
            published += 1
            if i % 10 == 0:
                await asyncio.sleep(0.005)  # the behaviour under test: a producer still going while a client joins
        await served.publish(run, ev.RunCompleted(run_id=run, status="completed", total_steps=total,
                                                  successful_steps=total, failed_steps=0))

    producing = asyncio.create_task(producer())
    await eventually(lambda: published >= 10, interval=0.001, what="the producer mid-way")  # join now
    async with websockets.connect(served.ws_url(f"/ws/runs/{run}")) as ws:
        await ws.send(json.dumps({"token": token}))  # auth by first message
        messages = await _receive_all(ws)
    await producing
    steps = [m["step"] for m in messages if m["type"] == "step.completed"]
    assert steps == [f"s{i}" for i in range(total)]
    assert messages[0]["type"] == "pipeline.started" and messages[-1]["type"] == "pipeline.completed"
    assert [m["version"] for m in messages] == list(range(1, total + 3))


async def test_run_socket_refuses_bad_tokens_and_non_members(served: Served) -> None:
    member_id, _ = await served.token("yuri")
    _, outsider = await served.token("zack")
    run = "run-private"
    await _run_setup(served, run, member_id)
    await served.publish(run, ev.RunStarted(run_id=run))
    for url, code in [(f"/ws/runs/{run}?token=garbage", 4401), (f"/ws/runs/{run}?token={outsider}", 4404),
                      (f"/ws/runs/no-such-run?token={outsider}", 4404)]:
        async with websockets.connect(served.ws_url(url)) as ws:
            error = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert error["type"] == "error"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == code


async def test_events_socket_filters_by_project_and_type(served: Served) -> None:
    user_id, token = await served.token("amy")
    await _run_setup(served, "r-in", user_id)
    served.executor.runs["r-out"] = {"run_id": "r-out", "project_id": "p2"}
    url = served.ws_url(f"/ws/events?project=p1&types=step.completed,RunCompleted&token={token}")
    async with websockets.connect(url) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "subscribed"}  # live from here on
        await served.publish("r-out", ev.StepCompleted(run_id="r-out", step="x", status="passed"))
        await served.publish("r-in", ev.StepStarted(run_id="r-in", step="a"),
                             ev.StepCompleted(run_id="r-in", step="a", status="passed"),
                             ev.RunCompleted(run_id="r-in", status="completed", total_steps=1, successful_steps=1,
                                             failed_steps=0))
        got = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]
    assert [(g["stream_id"], g["event_type"]) for g in got] == [("r-in", "StepCompleted"), ("r-in", "RunCompleted")]
    assert got[0]["type"] == "step.completed"
    # Without a project filter a non-admin is refused.
    async with websockets.connect(served.ws_url(f"/ws/events?token={token}")) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["error"]["code"] == "invalid"


async def test_watchers_of_one_run_share_one_feed_and_each_get_every_event(served: Served) -> None:
    """Many watchers of a run share one JetStream consumer (runwatch.py); each still gets the whole
    run in order, a late joiner its replay first; the feed stops with its last watcher."""
    user_id, token = await served.token("yuri")
    run = "run-shared-1"
    await _run_setup(served, run, user_id)
    await served.publish(run, ev.RunQueued(run_id=run, project_id="p1", steps=["s1", "s2"]), ev.RunStarted(run_id=run))
    feeds = served.app.state.run_feeds
    url = served.ws_url(f"/ws/runs/{run}?token={token}")
    async with contextlib.AsyncExitStack() as stack:
        early = [await stack.enter_async_context(websockets.connect(url)) for _ in range(3)]
        heads = [[json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(2)] for ws in early]
        assert len(feeds._feeds) == 1 and len(feeds._feeds[run].watchers) == 3  # one consumer for three sockets
        await served.publish(run, ev.StepStarted(run_id=run, step="s1"), ev.StepCompleted(run_id=run, step="s1", status="passed"))
        late = await stack.enter_async_context(websockets.connect(url))
        late_head = [json.loads(await asyncio.wait_for(late.recv(), 10)) for _ in range(4)]
        await served.publish(run, ev.StepCompleted(run_id=run, step="s2", status="failed"),
                             ev.RunCompleted(run_id=run, status="failed", total_steps=2, successful_steps=1, failed_steps=1))
        seen = [head + await _receive_all(ws) for head, ws in zip(heads, early, strict=True)]
        seen.append(late_head + await _receive_all(late))
    expected = ["pipeline.queued", "pipeline.started", "step.started", "step.completed", "step.failed", "pipeline.failed"]
    for messages in seen:
        assert [m["type"] for m in messages] == expected
        assert [m["version"] for m in messages] == list(range(1, 7))
    assert all(messages == seen[0] for messages in seen)  # the same messages, byte for byte in content
    await eventually(lambda: not feeds._feeds, timeout=10, interval=0.02, what="the feed to stop with its last watcher")

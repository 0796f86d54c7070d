"""Runs on the work queue: real NATS, real PostgreSQL, workers as real processes."""

from __future__ import annotations

import asyncio
import contextlib
import json

import nats

from ombudsman.contracts.replies import Conflict, Invalid, NotFound
from tests.executor.conftest import Bus, Warehouse, Workers, pipeline
from tests.support import eventually


async def test_run_records_each_step_and_totals(bus: Bus, workers: Workers, warehouse: Warehouse) -> None:
    workers.start("w1", concurrency=2)
    yaml_text = pipeline(warehouse, "five", 5, tables=["t0", "t1", "t7"])
    run_id = (await bus.command("queue_run", {"pipeline_yaml": yaml_text}))["run_id"]
    run = await bus.wait_run(run_id)
    statuses = {s["step"]: s["status"] for s in run["steps"]}
    assert statuses == {"s000": "passed", "s001": "passed", "s002": "failed", "s003": "passed", "s004": "passed"}
    assert (run["status"], run["total_steps"], run["successful_steps"], run["failed_steps"]) == ("failed", 5, 4, 1)
    assert run["score"] == 80.0
    failed = next(s for s in run["steps"] if s["step"] == "s002")
    assert failed["result"]["source"] == {"row_count": 100} and failed["result"]["target"] == {"row_count": 97}
    assert failed["worker"] == "w1"
    types = [r["event_type"] for r in await bus.stored(
        "SELECT event_type FROM executor.events WHERE stream_id=$1 ORDER BY version", run_id)]
    assert types[:2] == ["RunQueued", "RunStarted"] and types[-1] == "RunCompleted"
    assert types.count("StepDispatched") == types.count("StepStarted") == types.count("StepCompleted") == 5


async def test_dependencies_release_in_order_and_failed_dependency_skips(bus: Bus, workers: Workers,
                                                                        warehouse: Warehouse) -> None:
    workers.start("w1", concurrency=3)
    spec = {
        "name": "deps", "connections": {"source": warehouse.source_url, "target": warehouse.target_url},
        "steps": [
            {"id": "a", "validator": "record_counts", "table": "main.t7"},
            {"id": "b", "validator": "record_counts", "table": "main.t1", "depends_on": ["a"], "skip_on_failure": True},
            {"id": "c", "validator": "record_counts", "table": "main.t2", "depends_on": ["b"], "skip_on_failure": True},
            {"id": "d", "validator": "record_counts", "table": "main.t3"},
        ],
    }
    run_id = (await bus.command("queue_run", {"pipeline_yaml": json.dumps(spec)}))["run_id"]
    run = await bus.wait_run(run_id)
    assert {s["step"]: s["status"] for s in run["steps"]} == {"a": "failed", "b": "skipped", "c": "skipped", "d": "passed"}, [
        s["message"] for s in run["steps"]]
    events = await bus.stored("SELECT event_type, data FROM executor.events WHERE stream_id=$1 ORDER BY version", run_id)
    dispatched = [json.loads(e["data"])["step"] for e in events if e["event_type"] == "StepDispatched"]
    assert sorted(dispatched) == ["a", "d"]


async def test_fifty_steps_three_workers_one_killed_mid_run(bus: Bus, workers: Workers, warehouse: Warehouse) -> None:
    received: dict[str, str] = {}

    async def on_event(msg) -> None:
        envelope = json.loads(msg.data)
        received[envelope["event_id"]] = envelope["data"]["step"]

    for name in ("w1", "w2", "w3"):
        workers.start(name, concurrency=1)
    yaml_text = pipeline(warehouse, "fifty", 50, slow=10_000_000)
    run_id = (await bus.command("queue_run", {"pipeline_yaml": yaml_text, "max_parallel": 6}))["run_id"]
    await bus.nc.subscribe(f"omb.evt.run.{run_id}.StepCompleted", cb=on_event)

    async def victim_busy() -> str | None:
        # A step w2 began a moment ago is still running when the kill lands; one it began earlier may
        # already be reported (its result recorded, the redelivered message then finds it done).
        rows = await bus.stored(
            "SELECT step FROM executor.steps WHERE run_id=$1 AND worker='w2' AND state='running'"
            " AND started_at > now() - interval '150 milliseconds'", run_id)
        done = await bus.stored("SELECT count(*) AS n FROM executor.steps WHERE run_id=$1 AND status IS NOT NULL", run_id)
        return rows[0]["step"] if rows and done[0]["n"] >= 5 else None

    interrupted = await eventually(victim_busy, timeout=60, what="worker w2 to be in the middle of a step")
    workers.kill("w2")
    run = await bus.wait_run(run_id, timeout=120)

    assert run["status"] == "completed" and run["successful_steps"] == 50
    completed = await bus.stored(
        "SELECT data->>'step' AS step FROM executor.events WHERE stream_id=$1 AND event_type='StepCompleted'", run_id)
    assert len(completed) == 50 and len({r["step"] for r in completed}) == 50
    redone = next(s for s in run["steps"] if s["step"] == interrupted)
    assert redone["status"] == "passed" and redone["worker"] in ("w1", "w3") and redone["attempts"] >= 2
    await eventually(lambda: len(received) >= 50, timeout=10, what="50 StepCompleted events on the bus")
    assert sorted(received.values()) == sorted(r["step"] for r in completed)


async def test_redelivered_result_is_recorded_once(bus: Bus, workers: Workers, warehouse: Warehouse) -> None:
    workers.start("w1")
    run_id = (await bus.command("queue_run", {"pipeline_yaml": pipeline(warehouse, "one", 1)}))["run_id"]
    await bus.wait_run(run_id)
    again = await bus.command("record_step_result", {"run_id": run_id, "step": "s000", "result": {
        "validator": "record_counts", "status": "failed", "message": "late duplicate"}})
    assert again == {"recorded": False}
    rows = await bus.stored("SELECT count(*) AS n FROM executor.events WHERE stream_id=$1 AND event_type='StepCompleted'",
                            run_id)
    assert rows[0]["n"] == 1
    run = await bus.query("run", {"run_id": run_id})
    assert run["steps"][0]["status"] == "passed"


async def test_worker_lost_after_max_deliveries(bus: Bus, workers: Workers, warehouse: Warehouse) -> None:
    """A step no worker ever finishes ends as `error: worker lost`, and the run completes."""
    run_id = (await bus.command("queue_run", {"pipeline_yaml": pipeline(warehouse, "lost", 1)}))["run_id"]
    js = bus.nc.jetstream()
    sub = await js.pull_subscribe_bind(durable="omb-executor-workers", stream="OMB_WORK")
    deliveries = 0
    for _ in range(bus.service.settings.executor_max_deliver):
        msgs = await sub.fetch(1, timeout=10)
        deliveries += len(msgs)  # taken and dropped, as by a worker that dies every time
    # JetStream notices the exhausted message when a worker asks for more work
    with contextlib.suppress(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=4)
    run = await bus.wait_run(run_id, timeout=30)
    assert deliveries == 3
    step = run["steps"][0]
    assert step["status"] == "error" and "worker lost" in step["message"]
    assert run["status"] == "failed"


async def test_cancel_run_lets_running_steps_finish_and_starts_nothing(bus: Bus, workers: Workers,
                                                                       warehouse: Warehouse) -> None:
    workers.start("w1", concurrency=2)
    yaml_text = pipeline(warehouse, "chain", 6, chain=True, slow=30_000_000)
    run_id = (await bus.command("queue_run", {"pipeline_yaml": yaml_text}))["run_id"]

    async def second_running() -> bool:
        rows = await bus.stored("SELECT step FROM executor.steps WHERE run_id=$1 AND state='running'", run_id)
        return any(r["step"] == "s001" for r in rows)

    await eventually(second_running, timeout=60, what="step s001 to run")
    assert (await bus.command("cancel_run", {"run_id": run_id}))["status"] == "cancelled"

    async def settled() -> dict | None:
        run = await bus.query("run", {"run_id": run_id})
        return run if all(s["status"] for s in run["steps"]) else None

    run = await eventually(settled, timeout=30, what="the running step to finish")
    statuses = [s["status"] for s in run["steps"]]
    assert run["status"] == "cancelled"
    assert statuses[:2] == ["passed", "passed"] and statuses[2:] == ["skipped"] * 4
    events = await bus.stored("SELECT event_type FROM executor.events WHERE stream_id=$1 ORDER BY version", run_id)
    types = [e["event_type"] for e in events]
    assert "StepDispatched" not in types[types.index("RunCancelled"):]
    try:
        await bus.command("cancel_run", {"run_id": run_id})
        raise AssertionError("a second cancel must be refused")
    except Conflict:
        pass


async def test_bad_input_gets_clear_errors(bus: Bus) -> None:
    for payload, expected in [
        ({"pipeline_yaml": "name: x\nsteps: []"}, Invalid),
        ({"pipeline_yaml": "name: [unclosed"}, Invalid),
        ({}, Invalid),
        ({"pipeline_yaml": "name: x\nconnections: {source: 'duckdb:///:memory:', target: 'duckdb:///:memory:'}\n"
                           "steps: [{id: a, validator: record_counts, table: t}]", "steps": ["zzz"]}, Invalid),
    ]:
        try:
            await bus.command("queue_run", payload)
            raise AssertionError(f"{payload} was accepted")
        except expected as exc:
            assert exc.message
    for name, payload in [("run", {"run_id": "nope"}), ("batch", {"batch_id": "nope"})]:
        try:
            await bus.query(name, payload)
            raise AssertionError("found a missing thing")
        except NotFound:
            pass
    try:
        await bus.query("export", {"run_id": "x", "format": "docx"})
        raise AssertionError("unknown format accepted")
    except Invalid as exc:
        assert "format" in exc.message


async def test_per_connection_limit_holds_across_runs(nats_url: str, database_url: str, workers: Workers,
                                                      warehouse: Warehouse) -> None:
    """Two runs on the same databases, each allowed 4 steps at once, share one connection slot."""
    from ombudsman.executor.app import running
    from tests.executor.conftest import settings

    workers.start("w1", concurrency=4)
    async with running(settings(nats_url, database_url, executor_per_connection=1)) as service:
        nc = await nats.connect(nats_url)
        bus = Bus(nc, service)
        yaml_text = pipeline(warehouse, "shared", 4, slow=2_000_000)
        run_ids = [(await bus.command("queue_run", {"pipeline_yaml": yaml_text, "max_parallel": 4}))["run_id"]
                   for _ in range(2)]
        for run_id in run_ids:
            assert (await bus.wait_run(run_id))["status"] == "completed"
        events = await bus.stored("SELECT event_type FROM executor.events WHERE event_type IN"
                                  " ('StepDispatched','StepCompleted') ORDER BY global_position")
        await bus.close()
        await nc.close()
    in_flight, peak = 0, 0
    for e in events:
        in_flight += 1 if e["event_type"] == "StepDispatched" else -1
        peak = max(peak, in_flight)
    assert peak == 1 and len(events) == 16


async def test_run_survives_a_restart_of_the_executor(nats_url: str, database_url: str, workers: Workers,
                                                      warehouse: Warehouse) -> None:
    """The executor stops mid-run (workers keep their messages, retry their reports); a new executor
    process on the same database finishes the run with exactly one result per step."""
    from ombudsman.executor.app import running
    from tests.executor.conftest import settings

    workers.start("w1", concurrency=2)
    cfg = settings(nats_url, database_url)
    async with running(cfg) as service:
        nc = await nats.connect(nats_url)
        bus = Bus(nc, service)
        run_id = (await bus.command("queue_run", {"pipeline_yaml": pipeline(warehouse, "restart", 20,
                                                                            slow=10_000_000)}))["run_id"]

        async def some_done() -> bool:
            rows = await bus.stored("SELECT count(*) AS n FROM executor.steps WHERE run_id=$1 AND status IS NOT NULL",
                                    run_id)
            return rows[0]["n"] >= 4

        await eventually(some_done, timeout=60, what="four results")
        await bus.close()
        await nc.close()
    await asyncio.sleep(1.0)  # the behaviour under test: an executor outage, workers find no executor meanwhile
    async with running(cfg) as service:
        nc = await nats.connect(nats_url)
        bus = Bus(nc, service)
        run = await bus.wait_run(run_id, timeout=120)
        completed = await bus.stored("SELECT data->>'step' AS step FROM executor.events WHERE stream_id=$1"
                                     " AND event_type='StepCompleted'", run_id)
        await bus.close()
        await nc.close()
    assert run["status"] == "completed" and run["successful_steps"] == 20
    assert len(completed) == 20 and len({r["step"] for r in completed}) == 20

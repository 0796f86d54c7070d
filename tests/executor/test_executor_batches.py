"""Batches: bounded parallelism measured from events, continue-on-error, cancel, retry of failed steps."""

from __future__ import annotations

import json

from ombudsman.contracts.replies import Conflict
from tests.executor.conftest import Bus, Warehouse, Workers, pipeline
from tests.support import eventually


async def _run_events(bus: Bus, batch_id: str) -> list[dict]:
    return await bus.stored(
        "SELECT e.event_type, e.stream_id, e.data FROM executor.events e JOIN executor.runs r ON r.run_id = e.stream_id"
        " WHERE r.batch_id=$1 AND e.event_type IN ('RunStarted','RunCompleted','RunCancelled')"
        " ORDER BY e.global_position", batch_id)


async def test_batch_of_twenty_never_runs_more_than_four(bus: Bus, workers: Workers, warehouse: Warehouse) -> None:
    workers.start("w1", concurrency=4)
    workers.start("w2", concurrency=4)
    pipelines = [{"pipeline_yaml": pipeline(warehouse, f"p{i:02d}", 2, tables=[f"t{i % 7}"], slow=5_000_000),
                  "name": f"p{i:02d}"} for i in range(20)]
    batch_id = (await bus.command("create_batch", {"name": "twenty", "pipelines": pipelines, "max_parallel": 4,
                                                   "continue_on_error": True}))["batch_id"]
    await bus.command("execute_batch", {"batch_id": batch_id})
    batch = await bus.wait_batch(batch_id, timeout=120)
    assert (batch["status"], batch["total"], batch["completed"], batch["failed"]) == ("completed", 20, 20, 0)
    running, peak = 0, 0
    for e in await _run_events(bus, batch_id):
        running += 1 if e["event_type"] == "RunStarted" else -1
        peak = max(peak, running)
    assert peak == 4  # parallel indeed, and never more than max_parallel
    runs = await bus.query("runs", {"batch_id": batch_id, "limit": 100})
    assert runs["total"] == 20 and {r["status"] for r in runs["items"]} == {"completed"}


async def test_sequential_batch_stops_on_error_without_continue(bus: Bus, workers: Workers,
                                                                warehouse: Warehouse) -> None:
    workers.start("w1", concurrency=2)
    pipelines = [{"pipeline_yaml": pipeline(warehouse, "ok", 1, tables=["t0"])},
                 {"pipeline_yaml": pipeline(warehouse, "bad", 1, tables=["t7"])},
                 {"pipeline_yaml": pipeline(warehouse, "never", 1, tables=["t1"])}]
    batch_id = (await bus.command("create_batch", {"name": "seq", "pipelines": pipelines, "sequential": True,
                                                   "continue_on_error": False}))["batch_id"]
    await bus.command("execute_batch", {"batch_id": batch_id})
    batch = await bus.wait_batch(batch_id)
    assert (batch["status"], batch["completed"], batch["failed"]) == ("failed", 1, 1)
    assert sorted(batch["runs"]) == ["0", "1"]  # the third never started
    running, peak = 0, 0
    for e in await _run_events(bus, batch_id):
        running += 1 if e["event_type"] == "RunStarted" else -1
        peak = max(peak, running)
    assert peak == 1


async def test_cancel_batch_finishes_running_steps_and_starts_nothing(bus: Bus, workers: Workers,
                                                                      warehouse: Warehouse) -> None:
    workers.start("w1", concurrency=2)
    pipelines = [{"pipeline_yaml": pipeline(warehouse, f"c{i}", 4, chain=True, slow=30_000_000)} for i in range(6)]
    batch_id = (await bus.command("create_batch", {"name": "cancel me", "pipelines": pipelines,
                                                   "max_parallel": 2}))["batch_id"]
    await bus.command("execute_batch", {"batch_id": batch_id})

    async def some_step_running() -> bool:
        rows = await bus.stored("SELECT 1 FROM executor.steps s JOIN executor.runs r USING (run_id)"
                                " WHERE r.batch_id=$1 AND s.state='running'", batch_id)
        return bool(rows)

    await eventually(some_step_running, timeout=60, what="a step of the batch to run")
    assert (await bus.command("cancel_batch", {"batch_id": batch_id}))["status"] == "cancelled"

    async def settled() -> list[dict] | None:
        rows = await bus.stored("SELECT s.status, s.state FROM executor.steps s JOIN executor.runs r USING (run_id)"
                                " WHERE r.batch_id=$1", batch_id)
        return rows if all(r["status"] for r in rows) else None

    steps = await eventually(settled, timeout=30, what="running steps to finish")
    batch = await bus.query("batch", {"batch_id": batch_id})
    assert batch["status"] == "cancelled"
    assert len(batch["runs"]) == 2  # the other four pipelines never started
    statuses = [s["status"] for s in steps]
    assert statuses.count("passed") >= 1 and "failed" not in statuses and "error" not in statuses
    assert statuses.count("skipped") == 8 - statuses.count("passed")
    for run_id in batch["runs"].values():
        types = [e["event_type"] for e in await bus.stored(
            "SELECT event_type FROM executor.events WHERE stream_id=$1 ORDER BY version", run_id)]
        assert "RunCancelled" in types and "StepDispatched" not in types[types.index("RunCancelled"):]
    events = [e["event_type"] for e in await bus.stored(
        "SELECT event_type FROM executor.events WHERE stream_id=$1 ORDER BY version", batch_id)]
    assert "BatchPipelineStarted" not in events[events.index("BatchCancelled"):]


async def test_retry_runs_only_the_failed_steps(bus: Bus, workers: Workers, warehouse: Warehouse) -> None:
    workers.start("w1", concurrency=3)
    pipelines = [{"pipeline_yaml": pipeline(warehouse, "clean", 3, tables=["t0", "t1", "t2"])},
                 {"pipeline_yaml": pipeline(warehouse, "broken", 3, tables=["t3", "t7", "t4"])}]
    batch_id = (await bus.command("create_batch", {"name": "retry", "pipelines": pipelines}))["batch_id"]
    await bus.command("execute_batch", {"batch_id": batch_id})
    batch = await bus.wait_batch(batch_id)
    assert (batch["status"], batch["completed"], batch["failed"]) == ("failed", 1, 1)
    first_runs = dict(batch["runs"])

    warehouse.set_target_rows("t7", 100)  # the defect is fixed in the target
    result = await bus.command("retry_batch", {"batch_id": batch_id})
    assert result["retried"] == {"1": 1}
    batch = await bus.wait_batch(batch_id)
    assert (batch["status"], batch["completed"], batch["failed"]) == ("completed", 2, 0)
    assert batch["runs"]["0"] == first_runs["0"]  # the clean pipeline did not run again
    retry = await bus.query("run", {"run_id": batch["runs"]["1"]})
    assert retry["retry_of"] == first_runs["1"]
    assert [(s["step"], s["status"]) for s in retry["steps"]] == [("s001", "passed")]
    try:
        await bus.command("retry_batch", {"batch_id": batch_id})
        raise AssertionError("nothing left to retry")
    except Conflict as exc:
        assert "nothing to retry" in exc.message


async def test_batch_progress_and_listing(bus: Bus, workers: Workers, warehouse: Warehouse) -> None:
    workers.start("w1", concurrency=2)
    pipelines = [{"pipeline_yaml": pipeline(warehouse, f"l{i}", 1, tables=[f"t{i}"])} for i in range(3)]
    batch_id = (await bus.command("create_batch", {"name": "listed", "pipelines": pipelines}))["batch_id"]
    created = await bus.query("batch", {"batch_id": batch_id})
    assert created["status"] == "created" and created["progress"]["total"] == 3
    assert all("pipeline_yaml" not in p for p in created["pipelines"])
    await bus.command("execute_batch", {"batch_id": batch_id})
    done = await bus.wait_batch(batch_id)
    assert done["progress"] == {"total": 3, "completed": 3, "failed": 0, "running": 0}
    listed = await bus.query("batches", {"offset": 0, "limit": 10})
    assert listed["total"] == 1 and listed["items"][0]["batch_id"] == batch_id
    await bus.command("delete_batch", {"batch_id": batch_id})
    assert (await bus.query("batches", {}))["total"] == 0
    events = await bus.stored("SELECT data FROM executor.events WHERE stream_id=$1 AND event_type='BatchCreated'",
                              batch_id)
    assert json.loads(events[0]["data"])["name"] == "listed"  # deleted from the read model, kept in the log

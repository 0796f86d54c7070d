"""A run whose results are larger together than one bus message: its detail still answers (the
largest samples left out, each step readable whole), and its export travels through the JetStream
object store. Real NATS, real PostgreSQL; the results are reported as a worker reports them."""

from __future__ import annotations

import json

import nats

from ombudsman.eventstore.files import INLINE_MAX, read_file
from tests.executor.conftest import Bus, Warehouse, pipeline

STEPS = 8
ROWS = 900  # sample rows per step: about 200 KiB of result each, 1.6 MiB for the run


def big_result(step: str) -> dict:
    sample = [{"id": i, "source": {"note": f"{step}-source-{i:04d}-" + "x" * 80},
               "target": {"note": f"{step}-target-{i:04d}-" + "y" * 80}} for i in range(ROWS)]
    return {"step": step, "validator": "record_counts", "status": "failed", "message": f"{ROWS} rows differ",
            "source": {"row_count": 100}, "target": {"row_count": 97}, "sample": sample}


async def test_a_run_larger_than_a_message_reads_and_exports_whole(bus: Bus, warehouse: Warehouse,
                                                                  nats_url: str) -> None:
    run_id = (await bus.command("queue_run", {"pipeline_yaml": pipeline(warehouse, "big", STEPS)}))["run_id"]
    steps = [f"s{i:03d}" for i in range(STEPS)]
    for step in steps:  # no worker: the test reports each step as one would
        await bus.command("record_step_started", {"run_id": run_id, "step": step, "worker": "w-test"})
        await bus.command("record_step_result", {"run_id": run_id, "step": step, "result": big_result(step)})
    run = await bus.wait_run(run_id)
    assert (run["status"], run["failed_steps"]) == ("failed", STEPS)
    assert len(json.dumps(run)) < 1024 * 1024
    omitted = [s for s in run["steps"] if "sample_omitted" in s["result"]]
    assert omitted and all(s["result"]["sample_omitted"] > 0 and "sample" not in s["result"] for s in omitted)
    kept = [s for s in run["steps"] if "sample_omitted" not in s["result"]]
    assert all(len(s["result"]["sample"]) == len(big_result(s["step"])["sample"]) or s["result"].get("truncated")
               for s in kept)

    # one step whole, and the recorded bound (256 KiB a result) still applies to it
    whole = await bus.query("step", {"run_id": run_id, "step": omitted[0]["step"]})
    assert whole["result"]["sample"] and whole["result"]["sample"][0]["id"] == 0
    assert len(json.dumps(whole["result"])) <= 256 * 1024

    exported = await bus.query("export", {"run_id": run_id, "format": "json"})
    assert "object" in exported and "content_b64" not in exported and exported["size"] > INLINE_MAX
    nc = await nats.connect(nats_url)
    try:
        content = await read_file(nc.jetstream(), exported["object"])
    finally:
        await nc.close()
    assert len(content) == exported["size"]
    report = json.loads(content)
    assert [s["step"] for s in report["steps"]] == steps
    assert all(s["result"]["sample"] for s in report["steps"])  # the export has every step's sample

    small = await bus.query("export", {"run_id": run_id, "format": "junit"})
    assert "content_b64" in small and "object" not in small

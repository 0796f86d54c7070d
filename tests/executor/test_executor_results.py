"""Results: discrepancies (resolve, accept as known difference), exports opened by their readers,
scores, trends, comparison with a baseline, schedules across a restart, retention, replay."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import nats
import openpyxl
import pypdf
import yaml

from ombudsman.contracts.replies import Conflict, Invalid
from ombudsman.executor import projections
from ombudsman.executor.app import running
from tests.executor.conftest import Bus, Warehouse, Workers, pipeline, settings


def nulls_pipeline(wh: Warehouse) -> str:
    """t0 passes; t7 loses rows (record_counts fails); a nulls check on t7 has sample rows."""
    return yaml.safe_dump({
        "name": "mixed", "connections": {"source": wh.source_url, "target": wh.target_url},
        "steps": [
            {"id": "counts_t0", "validator": "record_counts", "table": "main.t0"},
            {"id": "counts_t7", "validator": "record_counts", "table": "main.t7"},
            {"id": "nulls_t6", "validator": "nulls", "table": "main.t6"},
        ],
    })


async def test_discrepancy_accepted_stops_failing_later_runs(bus: Bus, workers: Workers, warehouse: Warehouse) -> None:
    workers.start("w1", concurrency=2)
    yaml_text = pipeline(warehouse, "accept", 2, tables=["t0", "t7"])
    first = await bus.wait_run((await bus.command("queue_run", {"pipeline_yaml": yaml_text}))["run_id"])
    assert first["status"] == "failed"
    found = await bus.query("discrepancies", {"run_id": first["run_id"]})
    assert len(found) == 1
    d = found[0]
    assert (d["type"], d["severity"], d["table_name"], d["status"]) == ("record_counts", "critical", "main.t7", "open")

    accepted = await bus.command("accept_discrepancy", {"discrepancy_id": d["discrepancy_id"],
                                                        "note": "3 test rows purged on purpose"})
    assert accepted["status"] == "accepted"
    stored = (await bus.query("discrepancies", {"run_id": first["run_id"]}))[0]
    assert (stored["status"], stored["decided_by"], stored["note"]) == ("accepted", "alice", "3 test rows purged on purpose")
    assert stored["decided_at"]
    try:
        await bus.command("resolve_discrepancy", {"discrepancy_id": d["discrepancy_id"]})
        raise AssertionError("an accepted discrepancy cannot be resolved again")
    except Conflict:
        pass

    second = await bus.wait_run((await bus.command("queue_run", {"pipeline_yaml": yaml_text}))["run_id"])
    assert second["status"] == "completed" and second["warnings"] == 1
    step = next(s for s in second["steps"] if s["step"] == "s001")
    assert step["status"] == "warning" and "accepted known difference" in step["message"]
    seen = await bus.query("discrepancies", {"run_id": second["run_id"]})  # the same one, seen again
    assert [(x["discrepancy_id"], x["status"], x["occurrences"]) for x in seen] == [(d["discrepancy_id"], "accepted", 2)]

    warehouse.set_target_rows("t7", 90)  # a different difference is not covered by the acceptance
    third = await bus.wait_run((await bus.command("queue_run", {"pipeline_yaml": yaml_text}))["run_id"])
    assert third["status"] == "failed"
    new = await bus.query("discrepancies", {"run_id": third["run_id"]})
    assert [(x["discrepancy_id"], x["status"]) for x in new] == [(d["discrepancy_id"], "open")]
    resolved = await bus.command("resolve_discrepancy", {"discrepancy_id": new[0]["discrepancy_id"], "note": "fixed"})
    assert resolved["status"] == "resolved"


async def test_discrepancy_has_identity_across_runs(bus: Bus, workers: Workers, warehouse: Warehouse) -> None:
    """Three runs of one pipeline find one discrepancy three times; accepted, it stays accepted while
    the figures hold; changed figures reopen it; a fixed table resolves it by the run."""
    workers.start("w1", concurrency=2)
    yaml_text = pipeline(warehouse, "identity", 2, tables=["t0", "t7"])

    async def run() -> dict:
        return await bus.wait_run((await bus.command("queue_run", {"pipeline_yaml": yaml_text}))["run_id"])

    runs = [await run() for _ in range(3)]
    assert [r["status"] for r in runs] == ["failed"] * 3
    found = await bus.query("discrepancies", {})
    assert len(found) == 1, found
    d = found[0]
    assert (d["occurrences"], d["status"], d["table_name"], d["step"]) == (3, "open", "main.t7", "s001")
    assert d["run_id"] == runs[0]["run_id"] and d["last_run_id"] == runs[2]["run_id"]
    assert d["first_seen_at"] < d["last_seen"]
    for r in runs:  # each run lists it among its findings
        assert [x["discrepancy_id"] for x in await bus.query("discrepancies", {"run_id": r["run_id"]})] == [
            d["discrepancy_id"]]

    await bus.command("accept_discrepancy", {"discrepancy_id": d["discrepancy_id"], "note": "known"})
    fourth = await run()
    assert fourth["status"] == "completed" and fourth["warnings"] == 1
    after = (await bus.query("discrepancies", {}))
    assert [(x["status"], x["occurrences"]) for x in after] == [("accepted", 4)]

    warehouse.set_target_rows("t7", 95)  # the figures change: reopened, the run fails again
    fifth = await run()
    assert fifth["status"] == "failed"
    after = await bus.query("discrepancies", {})
    assert [(x["discrepancy_id"], x["status"], x["occurrences"]) for x in after] == [(d["discrepancy_id"], "open", 5)]
    assert "figures changed" in after[0]["note"]

    warehouse.set_target_rows("t7", 100)  # fixed in the data: resolved by the next run
    sixth = await run()
    assert sixth["status"] == "completed"
    after = await bus.query("discrepancies", {})
    assert [(x["status"], x["resolved_by_run"], x["occurrences"]) for x in after] == [
        ("resolved", sixth["run_id"], 5)]

    warehouse.set_target_rows("t7", 97)  # back again: the same discrepancy reopens
    seventh = await run()
    assert seventh["status"] == "failed"
    after = await bus.query("discrepancies", {})
    assert [(x["discrepancy_id"], x["status"], x["occurrences"]) for x in after] == [(d["discrepancy_id"], "open", 6)]

    types = [r["event_type"] for r in await bus.stored(
        "SELECT event_type FROM executor.events WHERE stream_id=$1 ORDER BY version", d["discrepancy_id"])]
    assert types == ["DiscrepancyRecorded", "DiscrepancyOccurred", "DiscrepancyOccurred", "DiscrepancyAccepted",
                     "DiscrepancyOccurred", "DiscrepancyOccurred", "DiscrepancyReopened", "DiscrepancyResolved",
                     "DiscrepancyOccurred", "DiscrepancyReopened"]


async def test_exports_open_in_their_readers(bus: Bus, workers: Workers, warehouse: Warehouse) -> None:
    workers.start("w1", concurrency=3)
    with __import__("duckdb").connect(str(warehouse.target)) as db:
        db.execute("UPDATE t6 SET amount = NULL WHERE id < 5")  # nulls differ: a sample per column
    run = await bus.wait_run((await bus.command("queue_run", {"pipeline_yaml": nulls_pipeline(warehouse)}))["run_id"])
    statuses = {s["step"]: s["status"] for s in run["steps"]}
    assert statuses == {"counts_t0": "passed", "counts_t7": "failed", "nulls_t6": "failed"}

    async def export(fmt: str) -> tuple[bytes, dict]:
        reply = await bus.query("export", {"run_id": run["run_id"], "format": fmt})
        return base64.b64decode(reply["content_b64"]), reply

    data, reply = await export("json")
    assert json.loads(data)["run_id"] == run["run_id"] and reply["content_type"] == "application/json"

    data, _ = await export("csv")
    lines = data.decode().strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("run_id,pipeline,step")

    data, reply = await export("xlsx")
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Summary", "counts_t0", "counts_t7", "nulls_t6"]
    nulls_sheet = [list(r) for r in book["nulls_t6"].iter_rows(values_only=True)]
    assert ["Status", "failed"] in [r[:2] for r in nulls_sheet]
    figures = next(i for i, r in enumerate(nulls_sheet) if r[:3] == ["Figure", "Source", "Target"])
    assert ["nulls.amount", 0, 5] in [r[:3] for r in nulls_sheet[figures + 1:]]
    assert reply["filename"].endswith(".xlsx")

    data, _ = await export("pdf")
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)
    assert "Validation report" in text and "mixed" in text
    assert text.index("counts_t7") < text.index("counts_t0")  # failures first

    data, _ = await export("junit")
    suite = ET.fromstring(data).find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "2"
    assert len(suite.findall("testcase/failure")) == 2

    data, _ = await export("html")
    assert b"<table>" in data and b"counts_t7" in data and data.startswith(b"<!doctype html>")


async def test_scores_trends_history_compare_and_paging(bus: Bus, workers: Workers, warehouse: Warehouse) -> None:
    workers.start("w1", concurrency=3)
    yaml_text = pipeline(warehouse, "scored", 4, tables=["t0", "t1", "t7", "t2"])
    bad = await bus.wait_run((await bus.command("queue_run", {"pipeline_yaml": yaml_text}))["run_id"])
    warehouse.set_target_rows("t7", 100)
    good = await bus.wait_run((await bus.command("queue_run", {"pipeline_yaml": yaml_text}))["run_id"])
    assert (bad["score"], good["score"]) == (75.0, 100.0)

    compared = await bus.query("compare", {"run_id": good["run_id"], "baseline_run_id": bad["run_id"]})
    assert compared["score_delta"] == 25.0
    assert [b["step"] for b in compared["better"]] == ["s002"] and compared["worse"] == []
    tables = await bus.query("table_scores", {"run_id": bad["run_id"]})
    assert {t["table"]: t["score"] for t in tables} == {"main.t0": 100.0, "main.t1": 100.0, "main.t2": 100.0,
                                                        "main.t7": 0.0}

    trends = await bus.query("trends", {"days": 7})
    assert len(trends) == 1 and trends[0]["runs"] == 2 and trends[0]["score"] == 87.5 and trends[0]["failed"] == 1
    history = await bus.query("history", {"pipeline_name": "scored"})
    assert [h["run_id"] for h in history] == [good["run_id"], bad["run_id"]]

    page = await bus.query("runs", {"limit": 1, "offset": 1})
    assert page["total"] == 2 and [r["run_id"] for r in page["items"]] == [bad["run_id"]]
    assert (await bus.query("runs", {"status": "failed"}))["total"] == 1
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await bus.query("runs", {"since": later}))["total"] == 0
    try:
        await bus.query("runs", {"status": "bogus"})
        raise AssertionError("bad status accepted")
    except Invalid as exc:
        assert "status" in exc.message


async def test_schedule_fires_each_instant_once_across_restart(nats_url: str, database_url: str,
                                                               warehouse: Warehouse) -> None:
    cfg = settings(nats_url, database_url, executor_tick_seconds=3600)  # the test drives the clock
    pipelines = [{"pipeline_yaml": pipeline(warehouse, "nightly", 1, tables=["t0"])}]
    async with running(cfg) as service:
        nc = await nats.connect(nats_url)
        bus = Bus(nc, service)
        batch_id = (await bus.command("create_batch", {"name": "sched", "pipelines": pipelines}))["batch_id"]
        try:
            await bus.command("schedule", {"cron": "every minute", "batch_id": batch_id})
            raise AssertionError("bad cron accepted")
        except Invalid as exc:
            assert "cron" in exc.message
        schedule_id = (await bus.command("schedule", {"cron": "*/5 * * * *", "batch_id": batch_id}))["schedule_id"]
        created = (await bus.query("schedules", {}))[0]["created_at"]
        base = datetime.fromisoformat(created)
        first_due = base.replace(second=0, microsecond=0) + timedelta(minutes=5 - base.minute % 5)
        at = first_due + timedelta(minutes=11)  # three instants are due: +0, +5, +10
        assert await service.coordinator.fire_due_schedules(at) == 3
        assert await service.coordinator.fire_due_schedules(at) == 0
        await bus.close()
        await nc.close()
    async with running(cfg) as service:  # a restart: the firings are in the event log
        assert await service.coordinator.fire_due_schedules(at) == 0
        assert await service.coordinator.fire_due_schedules(at + timedelta(minutes=5)) == 1
        bus = Bus(nc, service)
        instants = [datetime.fromisoformat(r["i"]) for r in await bus.stored(
            "SELECT data->>'instant' AS i FROM executor.events WHERE stream_id=$1 AND event_type='ScheduleFired'"
            " ORDER BY version", schedule_id)]
        await bus.close()
    assert instants == [first_due + timedelta(minutes=m) for m in (0, 5, 10, 15)]


async def test_retention_archives_results_and_replay_rebuilds(bus: Bus, workers: Workers,
                                                              warehouse: Warehouse) -> None:
    workers.start("w1", concurrency=2)
    run = await bus.wait_run((await bus.command("queue_run", {"pipeline_yaml": pipeline(warehouse, "old", 2)}))["run_id"])
    before = await bus.query("steps", {"run_id": run["run_id"]})
    assert (await bus.command("archive_results", {"older_than_days": 1}))["archived"] == 0
    assert (await bus.command("archive_results", {"older_than_days": 0}))["archived"] == 1
    rows = await bus.stored("SELECT result FROM executor.steps WHERE run_id=$1", run["run_id"])
    assert len(rows) == 2 and all(r["result"] is None for r in rows)  # both steps' results moved out of the read model ...
    archived = await bus.stored("SELECT length(content) AS n FROM executor.archive WHERE run_id=$1", run["run_id"])
    assert archived[0]["n"] > 0
    assert await bus.query("steps", {"run_id": run["run_id"]}) == [{**s, "result": s["result"]} for s in before]
    completed = await bus.stored("SELECT count(*) AS n FROM executor.events WHERE stream_id=$1 AND"
                                 " event_type='StepCompleted'", run["run_id"])
    assert completed[0]["n"] == 2  # ... never from the event log

    snapshot = await bus.stored("SELECT * FROM executor.runs ORDER BY run_id")
    steps_snapshot = await bus.stored("SELECT * FROM executor.steps ORDER BY run_id, step")
    assert await projections.rebuild_all(bus.service.engine) > 0
    assert await bus.stored("SELECT * FROM executor.runs ORDER BY run_id") == snapshot
    assert await bus.stored("SELECT * FROM executor.steps ORDER BY run_id, step") == steps_snapshot

"""Step workers keep their database connections open between steps and report their pools:
real PostgreSQL as source and target, real DuckDB files, real NATS and worker processes."""

from __future__ import annotations

import asyncpg
import nats
import yaml

from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.pipeline import parse_pipeline
from ombudsman.contracts.subjects import worker_stats_subject
from ombudsman.eventstore.rpc import gather
from ombudsman.executor.connections import ConnectionCache
from ombudsman.executor.worker import run_one_step
from tests.executor.conftest import Bus, Warehouse, Workers
from tests.support import eventually


async def make_tables(warehouse_url: str, broken: str = "t2") -> None:
    conn = await asyncpg.connect(warehouse_url)
    try:
        for schema in ("src", "tgt"):
            await conn.execute(f"CREATE SCHEMA {schema}")
            for i in range(4):
                rows = 47 if (schema, f"t{i}") == ("tgt", broken) else 50
                await conn.execute(f"CREATE TABLE {schema}.t{i} AS SELECT g AS id FROM generate_series(1, {rows}) g")
    finally:
        await conn.close()


def pg_pipeline(warehouse_url: str, steps: int = 4, name: str = "pg") -> str:
    return yaml.safe_dump({
        "name": name, "connections": {"source": warehouse_url, "target": warehouse_url},
        "steps": [{"id": f"s{i}", "validator": "record_counts", "tables": {"source": f"src.t{i % 4}",
                                                                 "target": f"tgt.t{i % 4}"}} for i in range(steps)],
    })


async def test_steps_share_one_kept_connector_and_an_error_drops_it(warehouse_url: str, warehouse: Warehouse) -> None:
    await make_tables(warehouse_url)
    spec = parse_pipeline(yaml.safe_load(pg_pipeline(warehouse_url)))
    cache = ConnectionCache(idle_seconds=3600)
    try:
        results = [await run_one_step(spec, f"s{i}", cache, "p1") for i in range(4)]
        assert [r.status for r in results] == ["passed", "passed", "failed", "passed"]
        kept = cache.stats()
        assert {(k["project_id"], k["connection"], k["kind"]) for k in kept} == {("p1", "source", "postgres"),
                                                                               ("p1", "target", "postgres")}
        assert all(k["steps_served"] == 4 and k["steps_using"] == 0 for k in kept)
        assert all(k["open"] >= 1 and k["in_use"] == 0 and k["idle"] == k["open"] for k in kept)
        assert "postgresql" not in repr(kept) and warehouse_url not in repr(kept)  # no URL, no secret
        assert cache.stats("p1", "target")[0]["connection"] == "target" and cache.stats("p2") == []

        # the same connection of another project is a connector of its own
        await run_one_step(spec, "s0", cache, "p2")
        assert len(cache.stats("p2")) == 2 and cache.stats("p1", "source")[0]["steps_served"] == 4

        # a step that ends in error (the table is gone) closes what it used; the next opens anew
        broken = parse_pipeline(yaml.safe_load(pg_pipeline(warehouse_url).replace("tgt.t3", "tgt.missing")))
        errored = await run_one_step(broken, "s3", cache, "p1")
        assert errored.status == "error" and "missing" in (errored.message or "")
        assert cache.stats("p1") == []
        again = await run_one_step(spec, "s1", cache, "p1")
        assert again.status == "passed" and [k["steps_served"] for k in cache.stats("p1")] == [1, 1]

        # idle connectors are closed by the sweep; DuckDB files are never kept (a kept file is locked)
        cache.idle_seconds = 0
        assert await cache.sweep() == 4 and cache.stats() == []
        duck = parse_pipeline({"name": "duck", "connections": {"source": warehouse.source_url,
                                                                "target": warehouse.target_url},
                               "steps": [{"id": "d", "validator": "record_counts", "table": "main.t7"}]})
        assert (await run_one_step(duck, "d", cache, "p1")).status == "failed" and cache.stats() == []
    finally:
        await cache.close()


async def test_workers_report_their_pools_over_nats(bus: Bus, workers: Workers, nats_url: str,
                                                    warehouse_url: str) -> None:
    await make_tables(warehouse_url)
    workers.start("w1", concurrency=2)
    workers.start("w2", concurrency=1)
    run_id = (await bus.command("queue_run", {"pipeline_yaml": pg_pipeline(warehouse_url, steps=12)}))["run_id"]
    run = await bus.wait_run(run_id)
    assert (run["total_steps"], run["failed_steps"]) == (12, 3)

    nc = await nats.connect(nats_url)
    try:
        async def both_answer() -> list[dict] | None:
            found = await gather(nc, worker_stats_subject(), {}, meta=Metadata(actor=Actor.system()), wait=0.5)
            return found if len(found) == 2 else None

        answers = await eventually(both_answer, timeout=30, what="both workers to answer")
        by_name = {a["worker"]: a for a in answers}
        assert set(by_name) == {"w1", "w2"}
        assert sum(a["steps_done"] for a in answers) == 12
        assert by_name["w1"]["concurrency"] == 2
        for answer in answers:
            served = {c["connection"]: c["steps_served"] for c in answer["connections"]}
            # every step a worker ran used its one kept source and target connector
            expected = {"source": answer["steps_done"], "target": answer["steps_done"]} if answer["steps_done"] else {}
            assert served == expected
            assert all(c["project_id"] is None and c["in_use"] == 0 for c in answer["connections"])
        filtered = await gather(nc, worker_stats_subject(), {"connection": "nope"}, wait=0.5)
        assert len(filtered) == 2 and all(a["connections"] == [] for a in filtered)
    finally:
        await nc.close()

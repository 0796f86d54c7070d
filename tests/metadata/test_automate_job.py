"""Issue 15 item 9: automate is a tracked job. Over real NATS and PostgreSQL next to the real projects
service: the command answers with a job id at once, the job's events arrive in phase order, a second
job of the same project is refused while one runs, and a job left running by a dead process is
marked failed when the service starts again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.replies import Conflict, NotFound
from ombudsman.eventstore.settings import Settings
from ombudsman.metadata.app import RuntimePorts
from ombudsman.metadata.app import create_service as metadata_service
from ombudsman.metadata.automate_job import ABANDONED, STOPPED
from ombudsman.projects.app import create_service as projects_service
from tests.metadata.test_metadata_service import call, md, wait_job
from tests.support import eventually


@pytest.fixture
def settings(nats_url: str, database_url: str) -> Settings:
    return Settings(database_url=database_url, nats_url=nats_url, secret_key="k" * 32, request_timeout=60)


@pytest.fixture
async def bus(settings: Settings) -> AsyncIterator[nats.NATS]:
    projects = projects_service(settings)
    await projects.start()
    nc = await nats.connect(settings.nats_url)
    try:
        yield nc
    finally:
        await nc.close()
        await projects.stop()


async def project_with_connections(nc: nats.NATS, source_url: str, target_url: str) -> None:
    await call(nc, "cmd", "projects", "create", {"id": "dw", "name": "Sales DW"})
    for side, url in (("source", source_url), ("target", target_url)):
        await call(nc, "cmd", "projects", "add_connection", {"project_id": "dw", "name": side, "role": side, "url": url})


JOB = {"project_id": "dw", "source_schemas": ["sales"], "target_schemas": ["SALES"], "auto_approve_threshold": 0.8}


async def test_a_job_reports_its_phases_in_order_and_one_runs_at_a_time(
    bus: nats.NATS, settings: Settings, source_url: str, target_url: str
) -> None:
    metadata = metadata_service(settings)
    await metadata.start()
    try:
        await project_with_connections(bus, source_url, target_url)
        seen: list[dict[str, Any]] = []

        async def on_event(msg: Any) -> None:
            seen.append(json.loads(msg.data))

        sub = await bus.subscribe("omb.evt.automate.>", cb=on_event)
        # two requests at once: one job starts, the other is refused naming it
        outcomes = await asyncio.gather(md(bus, "automate", JOB), md(bus, "automate", JOB), return_exceptions=True)
        started = [o for o in outcomes if isinstance(o, dict)]
        refused = [o for o in outcomes if isinstance(o, Conflict)]
        assert len(started) == 1 and len(refused) == 1, outcomes
        job_id = started[0]["job_id"]
        assert refused[0].details["job_id"] == job_id and job_id in refused[0].message
        running = await md(bus, "automate_job", {"project_id": "dw", "job_id": job_id}, "qry")
        assert running["status"] == "running"

        job = await wait_job(bus, "dw", job_id)
        assert job["status"] == "completed", job
        assert [p["phase"] for p in job["phases"]] == list(ev.AUTOMATE_PHASES)
        assert job["summary"]["auto_approved"] == 12 and len(job["summary"]["pipeline_ids"]) == 13
        assert job["phases"][0]["counts"]["tables"] == 25 and job["phases"][-1]["counts"]["saved"] == 13
        assert job["started_by"] == "ana" and job["finished_at"]

        await eventually(lambda: seen and seen[-1]["event_type"] == "AutomateCompleted", timeout=10,
                         what="AutomateCompleted on the bus")
        await sub.unsubscribe()
        assert [e["event_type"] for e in seen] == ["AutomateStarted", *["AutomatePhaseCompleted"] * 6, "AutomateCompleted"]
        assert [e["data"]["phase"] for e in seen[1:-1]] == list(ev.AUTOMATE_PHASES)
        assert {e["stream_id"] for e in seen} == {job_id} and {e["data"]["project_id"] for e in seen} == {"dw"}
        assert [e["version"] for e in seen] == list(range(1, 9))
        assert seen[0]["actor"]["name"] == "ana"

        # once it ended, the next job may start
        again = await md(bus, "automate", {**JOB, "extract": False})
        assert (await wait_job(bus, "dw", again["job_id"]))["status"] == "completed"
        with pytest.raises(NotFound):
            await md(bus, "automate_job", {"project_id": "other", "job_id": job_id}, "qry")
    finally:
        await metadata.stop()


async def test_jobs_left_running_are_failed_at_start_up_and_at_stop(
    bus: nats.NATS, settings: Settings, source_url: str, target_url: str
) -> None:
    await project_with_connections(bus, source_url, target_url)
    first = metadata_service(settings)
    await first.start()
    # a job whose process died: its AutomateStarted is stored, no task runs it
    ports = RuntimePorts(first.ctx, Metadata(actor=Actor(id="u-ana", name="ana", role="user")), first.runner)
    await ports.append_stream("aj-dead", 0, [ev.AutomateStarted(project_id="dw", job_id="aj-dead")], ports.meta)
    await ports.append_stream("aj-dead", 1, [ev.AutomatePhaseCompleted(project_id="dw", job_id="aj-dead",
                                                                       phase="extract")], ports.meta)
    await first.stop()

    second = metadata_service(settings)
    await second.start()
    try:
        dead = await md(bus, "automate_job", {"project_id": "dw", "job_id": "aj-dead"}, "qry")
        assert (dead["status"], dead["error"], dead["failed_phase"]) == ("failed", ABANDONED, "suggest")
        # a job running when the service stops gracefully is recorded failed, not left running
        started = await md(bus, "automate", JOB)
        began = second.runner.began.get(started["job_id"])
        if began is not None:  # stop only once the job runs (it may even have completed already)
            await asyncio.wait_for(began.wait(), 30)
    finally:
        await second.stop()
    third = metadata_service(settings)
    await third.start()
    try:
        job = await md(bus, "automate_job", {"project_id": "dw", "job_id": started["job_id"]}, "qry")
        assert job["status"] in ("failed", "completed") and (job["status"] == "completed" or job["error"] == STOPPED)
        assert await third.fail_abandoned_jobs() == []
    finally:
        await third.stop()


async def test_a_job_running_in_another_replica_is_not_failed_as_abandoned(database_url: str) -> None:
    """A job's process holds its advisory lock while the job runs: a replica starting up finds the
    lock taken and leaves the job alone; once the job ends (or its process dies) the lock is free."""
    from ombudsman.eventstore.db import create_engine
    from ombudsman.metadata import jobs

    engine = create_engine(database_url)
    release, holding = asyncio.Event(), asyncio.Event()

    async def work() -> None:
        holding.set()
        await release.wait()

    runner = jobs.JobRunner(engine)
    try:
        runner.spawn("job-a", work())
        await asyncio.wait_for(holding.wait(), 10)
        async with engine.connect() as conn:
            assert await jobs.job_is_orphaned(conn, "job-a") is False
            assert await jobs.job_is_orphaned(conn, "job-b") is True
        release.set()
        await runner.wait("job-a")
        async with engine.connect() as conn:
            assert await jobs.job_is_orphaned(conn, "job-a") is True
    finally:
        release.set()
        await runner.cancel_all()
        await engine.dispose()

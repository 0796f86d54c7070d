"""Schedules: a cron that starts a saved pipeline or a batch; each due instant fires once, however
many coordinators (or restarts) look at it."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import Metadata, new_id
from ombudsman.contracts.replies import Invalid, NotFound, OmbudsmanError
from ombudsman.eventstore.aggregate import fold
from ombudsman.eventstore.decide import retry_conflicts
from ombudsman.executor import domain
from ombudsman.executor.batches import Batches
from ombudsman.executor.pipelines import Pipelines
from ombudsman.executor.projections import SCHEMA
from ombudsman.executor.runs import Runs
from ombudsman.executor.streams import CONFLICT_RETRY, SERVICE_META, Streams, now_utc

log = logging.getLogger("ombudsman.executor")


class Schedules:
    """The schedule aggregate's writer, and the clock's firing of due schedules."""

    def __init__(self, streams: Streams, runs: Runs, batches: Batches, pipelines: Pipelines) -> None:
        self.streams = streams
        self.runs = runs
        self.batches = batches
        self.pipelines = pipelines

    async def create_schedule(self, payload: dict[str, Any], meta: Metadata) -> str:
        cron = domain.check_cron(str(payload.get("cron") or ""))
        batch_id, pipeline_id = payload.get("batch_id"), payload.get("pipeline_id")
        if bool(batch_id) == bool(pipeline_id):
            raise Invalid("give either pipeline_id (with project_id) or batch_id", {"field": "pipeline_id"})
        if pipeline_id and not payload.get("project_id"):
            raise Invalid("project_id: required with pipeline_id", {"field": "project_id"})
        if batch_id:
            await self.batches.existing_batch(batch_id)
        schedule_id = new_id()
        created = ev.ScheduleCreated(schedule_id=schedule_id, cron=cron, project_id=payload.get("project_id"),
                                     pipeline_id=pipeline_id, batch_id=batch_id)
        await self.streams.append(meta, (schedule_id, 0, [created]))
        return schedule_id

    async def delete_schedule(self, schedule_id: str, meta: Metadata) -> dict[str, Any]:
        """Stop a schedule: `ScheduleDeleted` (its firings stay in the log)."""
        async def go() -> None:
            state = fold(domain.SCHEDULE, schedule_id, await self.streams.events(schedule_id))
            if state.version == 0 or state.deleted:
                raise NotFound(f"schedule {schedule_id} not found", {"schedule_id": schedule_id})
            await self.streams.append(meta, (schedule_id, state.version, [ev.ScheduleDeleted(schedule_id=schedule_id)]))

        await self.streams.retrying(schedule_id, go)
        return {"schedule_id": schedule_id, "deleted": True}

    async def fire_due_schedules(self, now: datetime | None = None) -> int:
        """Fire every due instant of every schedule once: the `ScheduleFired` event is appended at
        the schedule's expected version, so two coordinators (or a restart) cannot fire it twice."""
        now = now or now_utc()
        ids = [r.schedule_id for r in await self.streams.fetch(f"SELECT schedule_id FROM {SCHEMA}.schedules WHERE NOT deleted")]
        fired = 0
        for schedule_id in ids:
            while True:
                async def fire_next(schedule_id: str = schedule_id) -> tuple[domain.ScheduleState, datetime] | None:
                    state = fold(domain.SCHEDULE, schedule_id, await self.streams.events(schedule_id))
                    due = domain.due_instants(state, now)
                    if due:
                        event = ev.ScheduleFired(schedule_id=schedule_id, instant=due[0].isoformat(),
                                                 batch_id=state.batch_id)
                        await self.streams.append(SERVICE_META, (schedule_id, state.version, [event]))
                    return (state, due[0]) if due else None

                fired_next = await retry_conflicts(fire_next, stream_id=schedule_id, policy=CONFLICT_RETRY)
                if fired_next is None:
                    break
                state, instant = fired_next
                fired += 1
                try:
                    if state.batch_id:
                        batch = await self.batches.existing_batch(state.batch_id)
                        if batch.status == "running":
                            log.warning("schedule %s: batch %s still running at %s", schedule_id, state.batch_id, instant)
                        else:
                            await self.batches.execute_batch(state.batch_id, SERVICE_META)
                    else:
                        yaml_text, name = await self.pipelines.resolve_pipeline(
                            state.project_id, state.pipeline_id, None, SERVICE_META)
                        await self.runs.queue_run(yaml_text=yaml_text, project_id=state.project_id,
                                                  pipeline_id=state.pipeline_id, name=name, meta=SERVICE_META)
                except OmbudsmanError as exc:
                    log.warning("schedule %s at %s could not start: %s", schedule_id, instant, exc.message)
        return fired

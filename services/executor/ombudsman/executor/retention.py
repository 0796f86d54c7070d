"""Retention: step results of old runs are archived (gzip, `ResultsArchived`), and the private rows
(full samples, inline-secret pipelines) are removed after the private retention."""

from __future__ import annotations

from datetime import timedelta

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import Metadata
from ombudsman.executor import private
from ombudsman.executor.projections import SCHEMA
from ombudsman.executor.runs import Runs
from ombudsman.executor.settings import ExecutorSettings
from ombudsman.executor.streams import SERVICE_META, Streams, now_utc


class Retention:
    """Archives what is older than the retention (the clock calls it about once a minute)."""

    def __init__(self, streams: Streams, runs: Runs, settings: ExecutorSettings) -> None:
        self.streams = streams
        self.runs = runs
        self.settings = settings

    async def archive_results(self, older_than: timedelta, meta: Metadata = SERVICE_META) -> int:
        """Archive (gzip) the step results of runs finished before now - older_than; remove the private
        rows (full samples, inline-secret pipelines) older than the private retention."""
        async with self.streams.ctx.engine.begin() as conn:
            await private.purge(conn, now_utc() - timedelta(days=self.settings.executor_private_retention_days))
        cutoff = now_utc() - older_than
        run_ids = [r.run_id for r in await self.streams.fetch(
            f"SELECT run_id FROM {SCHEMA}.runs WHERE finished_at < :cutoff AND NOT archived"
            " AND status IN ('completed','failed','cancelled') ORDER BY finished_at LIMIT 500", {"cutoff": cutoff})]
        archived = 0
        for run_id in run_ids:
            async def go(run_id: str = run_id) -> None:
                state = await self.runs.load_run(run_id)
                size = (await self.streams.fetch(
                    f"SELECT coalesce(sum(length(CAST(result AS text))), 0) AS n FROM {SCHEMA}.steps WHERE run_id=:r",
                    {"r": run_id}))[0].n
                event = ev.ResultsArchived(run_id=run_id, archived_bytes=int(size))
                await self.streams.append(meta, (run_id, state.version, [event]))

            await self.streams.retrying(run_id, go)
            archived += 1
        return archived

"""A run's snapshots, pinned by the worker that takes its first step and held until the run ends.

Why a worker and not the coordinator: the executor service never connects to the compared databases
(it has no connection secrets, ARCHITECTURE §7 and design note 7; only workers and metadata may read
them), while a worker already resolves the run's URLs. The first worker to start a step of a run
whose pipeline pins per run (`defaults.snapshot: run`) pins every connection of the run
(ombudsman.engine.snapshots) and reports the pins with `record_run_snapshots`; the first report is the
run's (event `RunSnapshotsPinned`), a later one (two first steps started at once) is released and its
worker reads at the recorded pins. PostgreSQL's snapshot lives as long as the holding connection: the
worker watches the run (`step_task` answers `run_status`) and lets it go when the run ends, when the
worker stops, or after `max_hold_seconds`. Steps on other workers import the snapshot by id; if the
holder's process died, the import fails and the step reports that error rather than read a later state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ombudsman.contracts import subjects
from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.pipeline import PipelineSpec
from ombudsman.contracts.replies import NotFound, OmbudsmanError
from ombudsman.engine.snapshots import RunPin, pin_connectors, release_all

log = logging.getLogger("ombudsman.executor.run_pins")
Request = Callable[..., Awaitable[Any]]
FINISHED = ("completed", "failed", "cancelled")


def run_connections(spec: PipelineSpec) -> list[str]:
    """Every connection a step of the pipeline reads."""
    names = {spec.source_connection(s) for s in spec.steps} | {spec.target_connection(s) for s in spec.steps}
    return sorted(n for n in names if n in spec.connections)


class RunPins:
    """The runs whose snapshots this worker holds open."""

    def __init__(self, worker: str, meta: Metadata, *, poll_seconds: float = 2.0, max_hold_seconds: float = 86_400) -> None:
        self.worker, self.meta = worker, meta
        self.poll_seconds, self.max_hold_seconds = poll_seconds, max_hold_seconds
        self.held: dict[str, asyncio.Task[None]] = {}

    async def pins_for(self, nc: Any, request: Request, spec: PipelineSpec, run_id: str, step: str,
                       recorded: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
        """The run's pins: those recorded, else pinned here now and recorded (first report wins)."""
        if recorded is not None:
            return recorded
        if spec.defaults.snapshot != "run":
            return {}
        from ombudsman.contracts.pipeline import expand_env
        from ombudsman.engine.connectors.sandbox import check_connection_url
        from ombudsman.engine.pipeline.runner import open_connections

        names = run_connections(spec)
        try:
            for name in names:
                check_connection_url(expand_env(spec.connections[name].url), field=f"connections.{name}")
            opened = await open_connections(spec, names)
        except Exception as exc:  # refused by the sandbox or unreachable: the step reports it itself
            log.warning("run %s not pinned: %s", run_id, getattr(exc, "message", None) or exc)
            return {}
        try:
            pins = await pin_connectors(opened)
        finally:
            for connector in opened.values():
                with contextlib.suppress(Exception):
                    await connector.close()  # a PostgreSQL pin holds a connection of its own
        records = {name: pin.record for name, pin in pins.items()}
        try:
            reply = await request(nc, subjects.command_subject("executor", "record_run_snapshots"),
                                  {"run_id": run_id, "snapshots": records, "worker": self.worker}, meta=self.meta)
        except BaseException:
            await release_all(pins)
            raise
        if reply.get("recorded"):
            self.held[run_id] = asyncio.create_task(self._hold(nc, request, run_id, step, pins))
            return records
        await release_all(pins)
        return dict(reply.get("snapshots") or {})

    async def _hold(self, nc: Any, request: Request, run_id: str, step: str, pins: dict[str, RunPin]) -> None:
        """Keep the pins until the run ends (or the hold times out, or the worker stops)."""
        deadline = time.monotonic() + self.max_hold_seconds
        try:
            while time.monotonic() < deadline:
                await asyncio.sleep(self.poll_seconds)
                try:
                    task = await request(nc, subjects.query_subject("executor", "step_task"),
                                         {"run_id": run_id, "step": step}, meta=self.meta)
                except NotFound:
                    break
                except OmbudsmanError:  # the executor is away for a moment: keep holding
                    continue
                if task.get("run_status") in FINISHED:
                    break
        finally:
            await release_all(pins)
            self.held.pop(run_id, None)
            log.info("run %s: snapshots released", run_id)

    async def close(self) -> None:
        """The worker stops: release every pin it holds."""
        for task in list(self.held.values()):
            task.cancel()
        for task in list(self.held.values()):
            with contextlib.suppress(BaseException):
                await task

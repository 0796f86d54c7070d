"""The life of one automate job in the background: its events, in order, on the job's own stream.

    AutomateStarted (by the `automate` command) → AutomatePhaseCompleted × phases →
    AutomateCompleted {summary} | AutomateFailed {error, phase}

The job continues the person's request, so its events carry that person as actor and its calls to
other services forward the person's bus token (`meta.token`). Of those calls only `save_pipelines`
needs the token (`projects.get` and `connection_secret` are open to the metadata service itself); it
comes last, and the gateway's tokens have at least 10 of their 15 minutes left when forwarded, so a
job that saves must end within that time: past it the save is refused and the job fails saying so
(the catalogs, mappings and classes it recorded stay).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pydantic import Field

from ombudsman.contracts import events as ev
from ombudsman.contracts.commands.metadata import AutomateBase
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.replies import OmbudsmanError, Unauthorized
from ombudsman.metadata.handler_base import Ports, ProjectRef, describe
from ombudsman.metadata.relationships import JoinPair

log = logging.getLogger(__name__)

PhaseDone = Callable[[str, dict[str, Any]], Awaitable[None]]
STOPPED = "the metadata service stopped before the job ended"
ABANDONED = "the metadata service stopped before the job ended (found still running when it started again)"


class Automate(ProjectRef, AutomateBase):
    """The automate command: what a job runs with (its options are recorded in AutomateStarted)."""

    join_pairs: list[JoinPair] = Field(default_factory=list)
    measure_inclusion: bool = False
    save: bool = True
    connection_urls: dict[str, str] | None = None
    timeout_seconds: float = Field(default=120.0, gt=0, le=3600)


class Runner(Protocol):
    """What a job needs of the handlers (automate_handlers.AutomateHandlers): its ports, and the
    phases to run."""

    ports: Ports

    async def run_automate(self, cmd: Automate, meta: Metadata, phase_done: PhaseDone) -> dict[str, Any]:
        """Run the phases, awaiting `phase_done` after each; the job's summary."""


class JobStream:
    """Appends the events of one job's stream (this process is its only writer while it runs)."""

    def __init__(self, handlers: Runner, cmd: Automate, job_id: str, meta: Metadata) -> None:
        self.handlers, self.cmd, self.job_id, self.meta = handlers, cmd, job_id, meta
        self.version = 1  # AutomateStarted
        self.phase: str | None = ev.AUTOMATE_PHASES[0]
        self.clock = time.perf_counter()

    async def record(self, event: ev.Event) -> None:
        await self.handlers.ports.append_stream(self.job_id, self.version, [event], self.meta)
        self.version += 1

    async def phase_done(self, phase: str, counts: dict[str, Any]) -> None:
        """Record a finished phase with its counts and its time; the next phase starts."""
        now = time.perf_counter()
        await self.record(ev.AutomatePhaseCompleted(project_id=self.cmd.project_id, job_id=self.job_id, phase=phase,
                                                    counts=counts, seconds=round(now - self.clock, 3)))
        self.clock = now
        following = ev.AUTOMATE_PHASES.index(phase) + 1 if phase in ev.AUTOMATE_PHASES else len(ev.AUTOMATE_PHASES)
        self.phase = ev.AUTOMATE_PHASES[following] if following < len(ev.AUTOMATE_PHASES) else None

    async def failed(self, error: str) -> None:
        """Record `AutomateFailed` in the current phase (never raises: the job is ending anyway)."""
        try:
            await self.record(ev.AutomateFailed(project_id=self.cmd.project_id, job_id=self.job_id, error=error,
                                                phase=self.phase))
        except Exception:
            log.exception("automate job %s: cannot record its failure", self.job_id)


def reason(exc: BaseException, phase: str | None) -> str:
    """What to tell the person about a failed job (never a traceback)."""
    if isinstance(exc, Unauthorized) and phase == "save":
        return (f"the pipelines were generated but not saved: {exc.message} (a job saves with the requester's "
                "bus token, which lasts 15 minutes); run automate again with extract=false")
    return exc.message if isinstance(exc, OmbudsmanError) else describe(exc)


async def run(handlers: Runner, cmd: Automate, job_id: str, meta: Metadata) -> None:
    """Run the job's phases and record how it ended."""
    stream = JobStream(handlers, cmd, job_id, meta)
    started = time.perf_counter()
    try:
        summary = await handlers.run_automate(cmd, meta, stream.phase_done)
    except asyncio.CancelledError:
        await asyncio.shield(stream.failed(STOPPED))
        raise
    except Exception as exc:
        if not isinstance(exc, OmbudsmanError):
            log.exception("automate job %s of project %s failed", job_id, cmd.project_id)
        await stream.failed(reason(exc, stream.phase))
        return
    with contextlib.suppress(Exception):
        await stream.record(ev.AutomateCompleted(project_id=cmd.project_id, job_id=job_id, summary=summary,
                                                 seconds=round(time.perf_counter() - started, 3)))


def next_phase(done: list[dict[str, Any]]) -> str | None:
    """The phase a job was in, given the phases it completed."""
    finished = {p.get("phase") for p in done}
    return next((p for p in ev.AUTOMATE_PHASES if p not in finished), None)


async def fail_abandoned(
    running: list[tuple[str, str, int, list[dict[str, Any]]]],
    append: Callable[[str, int, list[ev.Event], Metadata], Awaitable[None]],
) -> list[str]:
    """Record `AutomateFailed` for jobs left running by a process that died: `running` lists
    (job_id, project_id, stream version, completed phases). The ids of the jobs failed."""
    meta = Metadata(actor=Actor.service("metadata"))
    failed: list[str] = []
    for job_id, project_id, version, done in running:
        try:
            await append(job_id, version, [ev.AutomateFailed(project_id=project_id, job_id=job_id, error=ABANDONED,
                                                             phase=next_phase(done))], meta)
            failed.append(job_id)
        except OmbudsmanError as exc:  # another replica recorded its end first
            log.info("automate job %s: not marked failed (%s)", job_id, exc.message)
    return failed

"""Discrepancies with identity: what a step's result does to the discrepancies of its findings.

A failed step's finding has an identity (`domain.finding_identity`: scope, table, validator, kind,
columns) and one discrepancy stream derived from it. The same finding in a later run is one more
occurrence of that discrepancy, not a new one; an acceptance holds while the figures are unchanged;
changed figures reopen it; a finding that the step no longer makes is resolved by the run.

The run's writer (runs.py) appends what `StepFindings.decide` returns in the same unit of work as
the step's result, so a result and its discrepancies are recorded together or not at all.
`DiscrepancyDecisions` records what a person decides about one (resolved, accepted).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import EventEnvelope, Metadata
from ombudsman.contracts.replies import Invalid
from ombudsman.eventstore.aggregate import fold
from ombudsman.executor import domain
from ombudsman.executor.projections import SCHEMA
from ombudsman.executor.streams import Append, Streams

LoadStream = Callable[[str], Awaitable[list[EventEnvelope]]]
Fetch = Callable[[str, dict[str, Any]], Awaitable[list[Any]]]
# steps whose result says what the step finds now (an error or a skip says nothing about the data)
DECISIVE = ("passed", "failed", "warning")


@dataclass
class StepOutcome:
    """A step's status and result after its findings were weighed, and the discrepancy appends."""

    status: str
    result: dict[str, Any]
    appends: list[Append] = field(default_factory=list)


class StepFindings:
    """Reads discrepancy streams and rows; decides (through the pure domain) what a result changes."""

    def __init__(self, load_stream: LoadStream, fetch: Fetch) -> None:
        self.load_stream = load_stream
        self.fetch = fetch

    async def _state(self, discrepancy_id: str) -> domain.DiscrepancyState:
        return fold(domain.DISCREPANCY, discrepancy_id, await self.load_stream(discrepancy_id))

    async def decide(self, *, run_id: str, step: str, scope: str, pipeline: str, status: str,
                     result: dict[str, Any], finding: ev.DiscrepancyRecorded | None) -> StepOutcome:
        """`finding`: the step's finding as it would first be recorded (None when the step found
        nothing); `scope` and `pipeline` say which earlier findings of this step it replaces."""
        outcome = StepOutcome(status=status, result=result)
        current = None
        if status == "failed" and finding is not None:
            current = finding.discrepancy_id
            state = await self._state(current)
            events, covered = domain.observe_finding(state, finding)
            outcome.appends.append((current, state.version, events))
            if covered:
                outcome.status = "warning"
                outcome.result = await self._as_accepted(result, current, finding.fingerprint)
        if status in DECISIVE:
            outcome.appends += await self._resolve_absent(run_id, step, scope, pipeline, current)
        return outcome

    async def _as_accepted(self, result: dict[str, Any], discrepancy_id: str, fp: str) -> dict[str, Any]:
        rows = await self.fetch(f"SELECT note, decided_by FROM {SCHEMA}.discrepancies WHERE discrepancy_id=:d",
                                {"d": discrepancy_id})
        note, by = (rows[0].note, rows[0].decided_by) if rows else ("", None)
        said = f"accepted known difference ({note or 'no note'}, by {by})"
        return {**result, "status": "warning", "message": f"{result.get('message', '')} — {said}",
                "details": {**(result.get("details") or {}), "accepted_difference": fp,
                            "discrepancy_id": discrepancy_id}}

    async def _resolve_absent(self, run_id: str, step: str, scope: str, pipeline: str,
                              current: str | None) -> list[Append]:
        rows = await self.fetch(
            f"SELECT discrepancy_id FROM {SCHEMA}.discrepancies WHERE scope=:sc AND pipeline=:pl AND step=:s"
            " AND status IN ('open','accepted') AND discrepancy_id <> :d ORDER BY discrepancy_id",
            {"sc": scope, "pl": pipeline, "s": step, "d": current or ""})
        appends: list[Append] = []
        for row in rows:
            state = await self._state(row.discrepancy_id)
            appends.append((row.discrepancy_id, state.version, domain.resolve_absent(state, run_id, step)))
        return appends


class DiscrepancyDecisions:
    """The discrepancy aggregate's writer for a person's decision."""

    def __init__(self, streams: Streams) -> None:
        self.streams = streams

    async def decide_discrepancy(self, discrepancy_id: str, action: str, note: str, meta: Metadata) -> dict[str, Any]:
        """Resolve or accept one discrepancy (`action`), with a note."""
        if action not in ("resolve", "accept"):
            raise Invalid("action: resolve or accept")

        async def go() -> str:
            state = fold(domain.DISCREPANCY, discrepancy_id, await self.streams.events(discrepancy_id))
            decided = domain.decide_discrepancy(state, action, note)  # type: ignore[arg-type]
            await self.streams.append(meta, (discrepancy_id, state.version, [decided]))
            return "resolved" if action == "resolve" else "accepted"

        status = await self.streams.retrying(discrepancy_id, go)
        return {"discrepancy_id": discrepancy_id, "status": status}

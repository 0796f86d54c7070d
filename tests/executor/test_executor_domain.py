"""The executor's pure decisions: folding runs, releasing steps, schedules, bounding results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.registry import Event, envelope_for
from ombudsman.contracts.replies import Conflict, Invalid
from ombudsman.eventstore import aggregate
from ombudsman.executor import domain

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SPEC = yaml.safe_dump({
    "name": "p", "connections": {"source": "duckdb:///:memory:", "target": "duckdb:///:memory:"},
    "steps": [
        {"id": "a", "validator": "record_counts", "table": "t"},
        {"id": "b", "validator": "record_counts", "table": "t", "depends_on": ["a"], "skip_on_failure": True},
        {"id": "c", "validator": "record_counts", "table": "t"},
        {"id": "d", "validator": "record_counts", "table": "t"},
    ],
})


def fold(events: list[Event]) -> domain.RunState:
    meta = Metadata()
    return aggregate.fold(domain.RUN, "r1", [envelope_for(e, stream_id="r1", version=i + 1, meta=meta) for i, e in enumerate(events)])


def queued(max_parallel: int = 2, only: list[str] | None = None) -> ev.RunQueued:
    return domain.queue_run("r1", SPEC, project_id=None, pipeline_id=None, name=None, only=only,
                            max_parallel=max_parallel)


def test_release_respects_dependencies_and_run_parallelism() -> None:
    state = fold([queued(max_parallel=2)])
    decided = domain.advance_run(state, domain.Capacity(), NOW)
    assert [type(e).__name__ for e in decided] == ["RunStarted", "StepDispatched", "StepDispatched"]
    assert [e.step for e in decided if isinstance(e, ev.StepDispatched)] == ["a", "c"]  # b waits for a


def test_connection_limit_blocks_and_reports_it() -> None:
    state = fold([queued(max_parallel=4)])
    capacity = domain.Capacity(per_connection=1)
    decided = domain.advance_run(state, capacity, NOW)
    assert [e.step for e in decided if isinstance(e, ev.StepDispatched)] == ["a"]
    assert capacity.blocked


def test_failed_dependency_skips_and_run_completes_with_totals() -> None:
    events: list[Event] = [queued(max_parallel=4), ev.RunStarted(run_id="r1")]
    events += [ev.StepDispatched(run_id="r1", step=s) for s in ("a", "c", "d")]
    events += [ev.StepCompleted(run_id="r1", step="a", status="failed"),
               ev.StepCompleted(run_id="r1", step="c", status="warning"),
               ev.StepCompleted(run_id="r1", step="d", status="passed")]
    decided = domain.advance_run(fold(events), domain.Capacity(), NOW)
    assert isinstance(decided[0], ev.StepSkipped) and decided[0].step == "b"
    done = decided[-1]
    assert isinstance(done, ev.RunCompleted)
    assert (done.status, done.total_steps, done.successful_steps, done.failed_steps, done.warnings) == (
        "failed", 4, 2, 1, 1)


def test_result_recorded_once_and_unknown_step_refused() -> None:
    state = fold([queued(), ev.StepCompleted(run_id="r1", step="a", status="passed")])
    assert domain.record_step_result(state, "a", "failed", {}) == []
    with pytest.raises(Invalid):
        domain.record_step_result(state, "zz", "passed", {})


def test_cancel_skips_unreleased_steps_and_twice_is_a_conflict() -> None:
    state = fold([queued(), ev.RunStarted(run_id="r1"), ev.StepDispatched(run_id="r1", step="a")])
    decided = domain.cancel_run(state, "stop")
    assert sorted(e.step for e in decided if isinstance(e, ev.StepSkipped)) == ["b", "c", "d"]
    with pytest.raises(Conflict):
        domain.cancel_run(fold([queued(), *decided]), "again")


def test_retry_run_treats_steps_outside_it_as_done() -> None:
    state = fold([queued(only=["b"])])
    decided = domain.advance_run(state, domain.Capacity(), NOW)
    assert [e.step for e in decided if isinstance(e, ev.StepDispatched)] == ["b"]


def test_bound_result_trims_samples_first() -> None:
    big = {"status": "failed", "sample": [{"x": "y" * 1000} for _ in range(1000)], "details": {}}
    bounded = domain.bound_result(big)
    assert bounded["truncated"] and 0 < len(bounded["sample"]) < 1000
    assert len(str(bounded)) <= domain.MAX_RESULT_BYTES * 1.1


def test_due_instants_catch_up_without_repeats() -> None:
    state = domain.ScheduleState("s", cron="0 * * * *", created_at=NOW + timedelta(minutes=1))
    due = domain.due_instants(state, NOW + timedelta(hours=3, minutes=30))
    assert due == [NOW + timedelta(hours=h) for h in (1, 2, 3)]
    state.last_instant = due[-1]
    assert domain.due_instants(state, NOW + timedelta(hours=3, minutes=30)) == []
    with pytest.raises(Invalid):
        domain.check_cron("every hour")


def test_quality_score_and_fingerprint() -> None:
    assert domain.quality_score(["passed", "warning", "failed", "skipped"]) == 50.0
    assert domain.quality_score(["skipped"]) is None
    one = domain.fingerprint("p", "s", "record_counts", "t", {"source": {"n": 1}, "target": {"n": 2}})
    same = domain.fingerprint("p", "s", "record_counts", "t", {"target": {"n": 2}, "source": {"n": 1}})
    other = domain.fingerprint("p", "s", "record_counts", "t", {"source": {"n": 1}, "target": {"n": 3}})
    assert one == same != other


def test_a_schedules_next_runs_preview_names_the_next_instants_of_its_cron() -> None:
    after = datetime(2026, 3, 1, 10, 20, tzinfo=UTC)
    assert domain.upcoming("0 */6 * * *", after) == [datetime(2026, 3, 1, h, 0, tzinfo=UTC) for h in (12, 18)] + [
        datetime(2026, 3, 2, 0, 0, tzinfo=UTC)]
    assert domain.upcoming("30 9 * * 1", after, count=1) == [datetime(2026, 3, 2, 9, 30, tzinfo=UTC)]  # a Monday
    assert domain.upcoming("not a cron", after) == []

"""The DAG runner on real DuckDB databases: order, bounded parallelism, skipping, progress, errors."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from ombudsman.contracts.pipeline import parse_pipeline
from ombudsman.engine.pipeline import (
    ConnectionUnavailable,
    PipelineError,
    StepEvent,
    run_pipeline,
    to_mermaid,
)
from ombudsman.engine.pipeline.sample import source_data, target_data, write_duckdb


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder: Path = tmp_path_factory.mktemp("runner")
    source = source_data()
    write_duckdb(folder / "source.duckdb", source)
    write_duckdb(folder / "target.duckdb", target_data(source))
    return {"source": f"duckdb:///{folder / 'source.duckdb'}", "target": f"duckdb:///{folder / 'target.duckdb'}"}


def spec_with(urls: dict[str, str], steps: list[dict], **extra: object) -> object:
    return parse_pipeline({"name": "p", "connections": urls, "steps": steps, **extra})


async def test_dependents_of_a_failed_step_are_skipped_only_when_asked(urls: dict[str, str]) -> None:
    spec = spec_with(urls, [
        {"id": "counts", "validator": "record_counts", "table": "main.orders"},
        {"id": "skipped", "validator": "metric_sums", "table": "main.orders", "parameters": {"measures": ["amount"]},
         "depends_on": ["counts"], "skip_on_failure": True},
        {"id": "transitively", "validator": "nulls", "table": "main.orders", "depends_on": ["skipped"],
         "skip_on_failure": True},
        {"id": "runs_anyway", "validator": "nulls", "table": "main.products", "depends_on": ["counts"]},
        {"id": "info_only", "validator": "uniqueness", "table": "main.orders", "severity": "info",
         "parameters": {"columns": ["order_id"]}},
    ])
    result = await run_pipeline(spec)
    status = {r.step: r.status for r in result.steps}
    assert status == {"counts": "failed", "skipped": "skipped", "transitively": "skipped", "runs_anyway": "passed",
                      "info_only": "failed"}
    skipped = next(r for r in result.steps if r.step == "skipped")
    assert skipped.details["blocked_by"] == ["counts"] and "'counts'" in skipped.message
    assert result.status == "failed" and result.counts == {"failed": 2, "skipped": 2, "passed": 1}
    assert next(r for r in result.steps if r.step == "info_only").severity == "info"


async def test_parallelism_is_bounded_and_progress_reported(urls: dict[str, str]) -> None:
    steps = [{"id": f"s{i}", "validator": "statistics", "table": "main.orders", "parameters": {"columns": ["amount"]}}
             for i in range(8)]
    steps.append({"id": "last", "validator": "record_counts", "table": "main.products", "depends_on": ["s0", "s7"]})
    spec = spec_with(urls, steps)
    running = 0
    peak = 0
    events: list[StepEvent] = []
    # "started" is reported from inside the step's slot: each s-step holds its slot until another
    # s-step has one too, so two run at once exactly when the runner allows two (a serial runner
    # leaves the first waiting alone: it gives up after a while and the peak stays 1).
    pair = asyncio.Barrier(2)

    async def on_progress(event: StepEvent) -> None:
        nonlocal running, peak
        events.append(event)
        running += 1 if event.kind == "started" else -1
        peak = max(peak, running)
        if event.kind == "started" and event.step_id != "last":
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    await pair.wait()

    result = await run_pipeline(spec, max_parallel=2, on_progress=on_progress)
    assert peak == 2  # two steps overlapped, never more
    # every step ran to its real result (the defective amounts), none gave up waiting
    assert {r.step: r.status for r in result.steps} == {**{f"s{i}": "failed" for i in range(8)}, "last": "passed"}
    assert [e.kind for e in events].count("started") == 9 and [e.kind for e in events].count("completed") == 9
    order = [e.step_id for e in events if e.kind == "completed"]
    assert order.index("last") > max(order.index("s0"), order.index("s7"))
    assert [r.step for r in result.steps] == [s["id"] for s in steps]  # results in pipeline order


async def test_unreachable_connection_is_a_clear_error_without_the_password(urls: dict[str, str]) -> None:
    spec = spec_with({"source": urls["source"], "target": "postgresql://omb:TopSecret@127.0.0.1:1/nowhere"},
                     [{"id": "counts", "validator": "record_counts", "table": "main.orders"}])
    with pytest.raises(ConnectionUnavailable) as caught:
        await run_pipeline(spec)
    assert "connection 'target'" in caught.value.message
    assert "TopSecret" not in caught.value.message


async def test_missing_environment_variable_is_a_pipeline_error(urls: dict[str, str]) -> None:
    spec = spec_with({"source": urls["source"], "target": "${OMB_TEST_UNSET_TARGET_URL}"},
                     [{"id": "counts", "validator": "record_counts", "table": "main.orders"}])
    with pytest.raises(PipelineError) as caught:
        await run_pipeline(spec)
    assert caught.value.errors == ["connections.target: environment variable OMB_TEST_UNSET_TARGET_URL is not set"]
    env_spec = spec_with({"source": urls["source"], "target": "${TARGET_URL}"},
                         [{"id": "counts", "validator": "record_counts", "table": "main.products"}])
    result = await run_pipeline(env_spec, env={"TARGET_URL": urls["target"]})
    assert result.status == "passed"


async def test_a_step_error_does_not_stop_the_others(urls: dict[str, str]) -> None:
    spec = spec_with(urls, [
        {"id": "broken", "validator": "record_counts", "table": "main.missing_table"},
        {"id": "fine", "validator": "record_counts", "table": "main.products"},
    ])
    result = await run_pipeline(spec)
    assert [(r.step, r.status) for r in result.steps] == [("broken", "error"), ("fine", "passed")]
    assert "missing_table" in result.steps[0].message


def test_mermaid_draws_nodes_and_dependencies(urls: dict[str, str]) -> None:
    spec = spec_with(urls, [
        {"id": "a", "validator": "record_counts", "table": "main.orders"},
        {"id": "b", "validator": "nulls", "table": "main.orders", "depends_on": ["a"], "skip_on_failure": True},
        {"id": "c", "validator": "nulls", "table": "main.orders", "depends_on": ["a", "b"]},
    ])
    text = to_mermaid(spec)
    assert text.startswith("flowchart TD\n")
    assert 's0["a<br/><i>record_counts</i><br/>main.orders"]' in text
    assert "s0 -.-> s1" in text and "s0 --> s2" in text and "s1 --> s2" in text


async def test_one_step_with_connections_opened_by_the_caller(urls: dict[str, str]) -> None:
    from ombudsman.engine.pipeline import open_connections, run_step

    spec = spec_with(urls, [{"id": "counts", "validator": "record_counts", "table": "main.orders", "severity": "warning"}])
    opened = await open_connections(spec)
    try:
        result = await run_step(spec, "counts", opened)
        again = await run_pipeline(spec, connectors=opened)  # caller-owned connectors stay open
        assert again.steps[0].status == "failed"
    finally:
        for connector in opened.values():
            await connector.close()
    assert result.status == "failed" and result.severity == "warning"
    assert result.source == {"row_count": 1000} and result.target == {"row_count": 990}
    assert again.status == "warning"  # a failed warning-severity step does not fail the run


async def test_a_malformed_url_is_refused_without_echoing_its_password(urls: dict[str, str]) -> None:
    spec = spec_with({"source": urls["source"], "target": "nosuchdb://admin:Sup3rSecret@host/db"},
                     [{"id": "counts", "validator": "record_counts", "table": "main.orders"}])
    with pytest.raises(PipelineError) as caught:
        await run_pipeline(spec)
    assert caught.value.errors[0].startswith("connections.target: ")
    assert "Sup3rSecret" not in caught.value.message

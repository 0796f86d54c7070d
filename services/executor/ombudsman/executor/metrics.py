"""The executor's Prometheus series (beside libs/eventstore's per-service ones, eventstore/metrics.py):

- `omb_executor_steps_total{validator,status}` and `omb_executor_step_seconds{validator,status}`:
  step results recorded (by the replica that recorded them) and how long each step ran;
- `omb_executor_batch_pipelines_finished_total{status}`: a batch's pipelines as they finish;
- `omb_executor_quality_score{project,pipeline}`: the quality score (0-100, `domain.quality_score`) of
  the last run of each pipeline that finished on this replica (set when the run completes;
  `project` is empty for a run outside projects), and `omb_executor_run_seconds{status}` how long
  finished runs took;
- `omb_executor_leader`, `omb_executor_runs_active`, `omb_executor_steps_in_flight`: per replica,
  whether it holds the coordinator's lease, and the runs and steps it is moving on (the leader's).

A step worker's own process (`python -m ombudsman.executor worker`, `/metrics` on `OMB_METRICS_PORT`):

- `omb_worker_steps_total{validator,status}` and `omb_worker_step_seconds{validator,status}`: the
  steps it ran and how long each took (measured by the worker, whatever became of the report);
- `omb_worker_steps_running`: steps running on it now;
- `omb_worker_connections_opened_total{kind}`: database connections it opened to keep between steps
  (connections.py; DuckDB files are opened per step by the engine and not counted);
- `omb_worker_connections{state}`: its kept connections' pools (`open`, `in_use`, `idle`);
- `omb_worker_in_progress_acks_total`: in-progress acks sent to keep running steps' messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ombudsman.executor.runs import Runs

STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
STEPS = Counter("omb_executor_steps", "Step results recorded", ["validator", "status"])
STEP_SECONDS = Histogram("omb_executor_step_seconds", "How long steps ran, by validator and status",
                         ["validator", "status"], buckets=STEP_BUCKETS)
BATCH_PIPELINES = Counter("omb_executor_batch_pipelines_finished", "Pipelines of batches finished", ["status"])
QUALITY = Gauge("omb_executor_quality_score", "Quality score (0-100) of the last finished run of a pipeline",
                ["project", "pipeline"])
RUN_SECONDS = Histogram("omb_executor_run_seconds", "How long finished runs took", ["status"],
                        buckets=(1, 5, 15, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600))

WORKER_STEPS = Counter("omb_worker_steps", "Steps a worker ran", ["validator", "status"])
WORKER_STEP_SECONDS = Histogram("omb_worker_step_seconds", "How long a worker's steps ran", ["validator", "status"],
                                buckets=STEP_BUCKETS)
WORKER_RUNNING = Gauge("omb_worker_steps_running", "Steps running on this worker")
WORKER_CONNECTIONS_OPENED = Counter("omb_worker_connections_opened", "Connections a worker opened to keep", ["kind"])
WORKER_IN_PROGRESS = Counter("omb_worker_in_progress_acks", "In-progress acks a worker sent for running steps")


def step_recorded(validator: str, status: str, seconds: float) -> None:
    STEPS.labels(validator or "unknown", status).inc()
    STEP_SECONDS.labels(validator or "unknown", status).observe(max(0.0, seconds))


def batch_pipeline_finished(status: str) -> None:
    BATCH_PIPELINES.labels(status).inc()


def run_finished(project_id: str | None, pipeline: str, status: str, score: float | None, seconds: float) -> None:
    """A run completed (or failed): its pipeline's quality score and its duration."""
    if score is not None:
        QUALITY.labels(project_id or "", pipeline).set(score)
    RUN_SECONDS.labels(status).observe(max(0.0, seconds))


def worker_step(validator: str, status: str, seconds: float) -> None:
    """A worker ran a step."""
    WORKER_STEPS.labels(validator or "unknown", status).inc()
    WORKER_STEP_SECONDS.labels(validator or "unknown", status).observe(max(0.0, seconds))


class _Coordinators(Collector):
    """The coordinator state of every executor replica in this process, read when scraped."""

    def __init__(self) -> None:
        self.replicas: dict[int, tuple[Callable[[], bool], Runs]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        leader = GaugeMetricFamily("omb_executor_leader", "1 while this replica holds the coordinator's lease")
        active = GaugeMetricFamily("omb_executor_runs_active", "Runs this replica is moving on")
        in_flight = GaugeMetricFamily("omb_executor_steps_in_flight", "Steps released and not yet reported")
        for leading, runs in list(self.replicas.values()):
            leader.add_metric([], 1.0 if leading() else 0.0)
            active.add_metric([], len(runs.active_runs))
            in_flight.add_metric([], sum(runs.capacity.in_flight.values()))
        yield from (leader, active, in_flight)


COORDINATORS = _Coordinators()
REGISTRY.register(COORDINATORS)


def watch(key: int, leading: Callable[[], bool], runs: Runs) -> None:
    COORDINATORS.replicas[key] = (leading, runs)


def forget(key: int) -> None:
    COORDINATORS.replicas.pop(key, None)


class _WorkerPools(Collector):
    """The pools of the connections a worker keeps (connections.py), read when scraped."""

    def __init__(self) -> None:
        self.stats: Callable[[], list[dict[str, Any]]] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("omb_worker_connections", "Connections of the worker's kept pools by state",
                                   labels=["state"])
        if self.stats is not None:
            kept = self.stats()
            for state in ("open", "in_use", "idle"):
                family.add_metric([state], sum(int(k.get(state) or 0) for k in kept))
        yield family


WORKER_POOLS = _WorkerPools()
REGISTRY.register(WORKER_POOLS)


def watch_worker(stats: Callable[[], list[dict[str, Any]]]) -> None:
    """Report a worker's kept pools (`ConnectionCache.stats`)."""
    WORKER_POOLS.stats = stats

"""The executor's Prometheus series (beside libs/eventstore's per-service ones, eventstore/metrics.py):

- `omb_executor_steps_total{validator,status}` and `omb_executor_step_seconds{validator,status}`:
  step results recorded (by the replica that recorded them) and how long each step ran;
- `omb_executor_batch_pipelines_finished_total{status}`: a batch's pipelines as they finish;
- `omb_executor_leader`, `omb_executor_runs_active`, `omb_executor_steps_in_flight`: per replica,
  whether it holds the coordinator's lease, and the runs and steps it is moving on (the leader's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ombudsman.executor.runs import Runs

STEPS = Counter("omb_executor_steps", "Step results recorded", ["validator", "status"])
STEP_SECONDS = Histogram("omb_executor_step_seconds", "How long steps ran, by validator and status",
                         ["validator", "status"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800))
BATCH_PIPELINES = Counter("omb_executor_batch_pipelines_finished", "Pipelines of batches finished", ["status"])


def step_recorded(validator: str, status: str, seconds: float) -> None:
    STEPS.labels(validator or "unknown", status).inc()
    STEP_SECONDS.labels(validator or "unknown", status).observe(max(0.0, seconds))


def batch_pipeline_finished(status: str) -> None:
    BATCH_PIPELINES.labels(status).inc()


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

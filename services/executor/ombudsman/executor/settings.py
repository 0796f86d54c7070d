"""Settings of the executor service and its workers (environment, prefix OMB_).

The service settings of libs/eventstore (database and NATS URLs, timeouts, pool sizes) plus the
executor's own: work-queue acks and deliveries, parallelism, retention, the clock and the worker.
"""

from __future__ import annotations

from pydantic import Field

from ombudsman.eventstore.settings import Settings

WORK_CONSUMER = "omb-executor-workers"
DEFAULT_STEP_MEMORY_MB = 1024


class ExecutorSettings(Settings):
    # A worker needs only NATS; without OMB_NATS_URL it tries a local server.
    nats_url: str | None = "nats://127.0.0.1:4222"
    # work queue: a step not acked within ack_wait is redelivered; after max_deliver it is "worker lost"
    executor_ack_wait: float = Field(default=30.0, gt=0)
    executor_max_deliver: int = Field(default=3, ge=1)
    executor_per_connection: int = Field(default=8, ge=1)
    executor_run_parallel: int = Field(default=4, ge=1)
    executor_retention_days: float = Field(default=90.0, gt=0)
    executor_tick_seconds: float = Field(default=1.0, gt=0)  # schedules and retention checks
    # the coordinator's leader lease (app.py): a standby tries to take it every poll seconds; its
    # holder checks its lease session every check seconds and steps down when that fails
    executor_lease_poll: float = Field(default=1.0, gt=0)
    executor_lease_check: float = Field(default=1.0, gt=0)
    # events carry no personal values: StepCompleted/DiscrepancyRecorded keep at most this many sample
    # rows, personal columns masked (`***`, or with a mask key `***:<keyed digest>` so equal values
    # show as equal); the full results and inline-secret pipelines stay in the executor's private
    # tables (private.py) this many days
    executor_event_sample_rows: int = Field(default=20, ge=0, le=100)
    executor_mask_key: str = ""
    executor_private_retention_days: float = Field(default=30.0, gt=0)
    # admins may run pipelines whose connections are URLs written in the pipeline; false: nobody may
    allow_inline_connections: bool = True
    worker_concurrency: int = Field(default=2, ge=1)
    # a worker asks the executor again this long while it is away (restart, failover, database down)
    worker_report_patience: float = Field(default=600.0, ge=0)
    worker_name: str = ""
    # a worker keeps its database connections open between steps; closed after this long unused
    worker_connection_idle_seconds: float = Field(default=300.0, gt=0)
    # a step whose worker grows by more than this many MB while it runs is stopped with an error
    # (OMB_WORKER_STEP_MEMORY_MB; 0 = no cap); see memguard.py
    worker_step_memory_mb: int = Field(default=DEFAULT_STEP_MEMORY_MB, ge=0)

"""Commands and queries of the executor service (runs, steps, batches, schedules, discrepancies,
exports), as its handlers validate them. The gateway's bodies derive from the `*Base` models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ombudsman.contracts.commands import paging
from ombudsman.contracts.commands.projects import MAX_PIPELINE_YAML

DIFFERENCE_PAGE_LINES = 500  # lines of a step's differences per `record_differences` page
MAX_DIFFERENCE_LINES = 1_000_000  # lines kept per step


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RunName(BaseModel):
    """A run's optional display name (the body of executing a saved pipeline)."""

    name: str | None = Field(default=None, max_length=200)


class RunBase(RunName):
    """A run of a saved pipeline (project_id + pipeline_id) or of pipeline YAML given whole."""

    project_id: str | None = Field(default=None, max_length=100)
    pipeline_id: str | None = Field(default=None, max_length=100)
    pipeline_yaml: str | None = Field(default=None, max_length=MAX_PIPELINE_YAML)


class QueueRun(Payload, RunBase):
    """Command `executor.queue_run`: optionally only some steps, and a cap on steps run at once."""

    steps: list[str] | None = None
    max_parallel: int | None = Field(default=None, ge=1, le=256)


class RunRef(Payload):
    run_id: str = Field(min_length=1)


class StepRef(RunRef):
    step: str = Field(min_length=1)


class StepStartedIn(StepRef):
    worker: str | None = None
    attempt: int = Field(default=1, ge=1)


class SnapshotsIn(RunRef):
    snapshots: dict[str, dict[str, Any]] = Field(max_length=64)
    worker: str | None = Field(default=None, max_length=256)


class StepResultIn(StepRef):
    result: dict[str, Any]


class FileCheckpointIn(StepRef):
    """A `file_load` step's checkpoint for one file, from the worker running it (events FileLoad*)."""

    status: Literal["started", "progress", "completed", "failed"]
    spec: str = Field(min_length=1, max_length=64)
    file: str = Field(min_length=1, max_length=4096)
    bytes: int = Field(default=0, ge=0)
    bytes_read: int = Field(default=0, ge=0)
    rows: int = Field(default=0, ge=0)
    seconds: float = Field(default=0.0, ge=0)
    reconciled: bool = False
    message: str = Field(default="", max_length=2000)


class DifferencesIn(StepRef):
    offset: int = Field(ge=0, le=MAX_DIFFERENCE_LINES)
    lines: list[dict[str, Any]] = Field(max_length=DIFFERENCE_PAGE_LINES * 4)


class DifferencesQuery(StepRef):
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=1000, ge=1, le=10_000)
    kind: Literal["only_in_source", "only_in_target", "changed", "duplicate_in_source",
                  "duplicate_in_target"] | None = None
    column: str | None = Field(default=None, min_length=1, max_length=256)


MAX_BATCH_PIPELINES = 500


class SavedPipelineRef(BaseModel):
    """A project's saved pipeline, by id (in a REST body: nothing else)."""

    model_config = ConfigDict(extra="forbid")
    project_id: str = Field(min_length=1, max_length=100)
    pipeline_id: str = Field(min_length=1, max_length=100)


class BatchBase(BaseModel):
    """A batch's name and how its pipelines run: at most `max_parallel` at once (one at a time when
    `sequential`), going on past a failed one unless `continue_on_error` is false."""

    name: str = Field(min_length=1, max_length=200, pattern=r"\S")
    max_parallel: int = Field(default=4, ge=1, le=64)
    continue_on_error: bool = True
    sequential: bool = False


class BatchCreate(BatchBase):
    """The body creating a batch of saved pipelines."""

    pipelines: list[SavedPipelineRef] = Field(min_length=1, max_length=MAX_BATCH_PIPELINES)


class BatchPipeline(Payload):
    """A pipeline of a batch: a saved one (project_id + pipeline_id) or pipeline YAML given whole."""

    project_id: str | None = Field(default=None, min_length=1, max_length=100)
    pipeline_id: str | None = Field(default=None, min_length=1, max_length=100)
    pipeline_yaml: str | None = Field(default=None, min_length=1, max_length=MAX_PIPELINE_YAML)
    name: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one_source(self) -> BatchPipeline:
        if not self.pipeline_yaml and not (self.project_id and self.pipeline_id):
            raise ValueError("give project_id and pipeline_id, or pipeline_yaml")
        return self


class CreateBatch(Payload, BatchBase):
    """Command `executor.create_batch`."""

    pipelines: list[BatchPipeline] = Field(min_length=1, max_length=MAX_BATCH_PIPELINES)

    def parallel(self) -> int:
        """How many of its pipelines run at once."""
        return 1 if self.sequential else self.max_parallel


class BatchRef(Payload):
    batch_id: str = Field(min_length=1)


class ScheduleRef(Payload):
    schedule_id: str = Field(min_length=1, max_length=100)


class DecisionBase(BaseModel):
    """Why a person accepts or resolves a discrepancy."""

    note: str = Field(default="", max_length=5000, description="why (kept with who decided and when)")


class DiscrepancyDecision(Payload, DecisionBase):
    """Commands `executor.accept_discrepancy` and `executor.resolve_discrepancy`."""

    discrepancy_id: str = Field(min_length=1)


CRON_HELP = "five-field cron expression, UTC (e.g. `0 2 * * *`: every night at 02:00)"


class ScheduleBase(BaseModel):
    """When a schedule fires."""

    cron: str = Field(min_length=9, max_length=100, description=CRON_HELP)


class RunsQuery(Payload):
    project_id: str | None = None
    pipeline_id: str | None = None
    batch_id: str | None = None
    status: Literal["queued", "running", "completed", "failed", "cancelled"] | None = None
    since: datetime | None = None
    until: datetime | None = None
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=50, ge=1, le=1000)


class Paging(Payload, paging.Paging):
    """A page of the executor's lists (batches)."""


class ExportQuery(RunRef):
    format: Literal["json", "csv", "xlsx", "pdf", "junit", "html"]
    sample_rows: int = Field(default=1000, ge=1, le=100_000)  # rows per failing step in the reports


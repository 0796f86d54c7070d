"""The executor's command and query payloads, as the handlers validate them (pydantic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ombudsman.executor import differences


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class QueueRun(Payload):
    project_id: str | None = None
    pipeline_id: str | None = None
    pipeline_yaml: str | None = None
    name: str | None = None
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


class DifferencesIn(StepRef):
    offset: int = Field(ge=0, le=differences.MAX_LINES)
    lines: list[dict[str, Any]] = Field(max_length=differences.PAGE_LINES * 4)


class DifferencesQuery(StepRef):
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=1000, ge=1, le=10_000)
    kind: Literal["only_in_source", "only_in_target", "changed", "duplicate_in_source",
                  "duplicate_in_target"] | None = None
    column: str | None = Field(default=None, min_length=1, max_length=256)


class BatchRef(Payload):
    batch_id: str = Field(min_length=1)


class ScheduleRef(Payload):
    schedule_id: str = Field(min_length=1, max_length=100)


class DiscrepancyDecision(Payload):
    discrepancy_id: str = Field(min_length=1)
    note: str = ""


class RunsQuery(Payload):
    project_id: str | None = None
    pipeline_id: str | None = None
    batch_id: str | None = None
    status: Literal["queued", "running", "completed", "failed", "cancelled"] | None = None
    since: datetime | None = None
    until: datetime | None = None
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=50, ge=1, le=1000)


class Paging(Payload):
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=50, ge=1, le=1000)


class ExportQuery(RunRef):
    format: Literal["json", "csv", "xlsx", "pdf", "junit", "html"]
    sample_rows: int = Field(default=1000, ge=1, le=100_000)  # rows per failing step in the reports


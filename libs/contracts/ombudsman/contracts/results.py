"""What one validation step found: the engine returns it, the executor stores it, people read it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

StepStatus = Literal["passed", "failed", "warning", "error", "skipped"]
SAMPLE_LIMIT = 100  # rows of differences kept in a StepResult; the full list goes to a file


class StepResult(BaseModel):
    """The outcome of one validator run on one table pair."""

    step: str = ""
    validator: str
    status: StepStatus
    message: str
    duration_seconds: float = 0.0
    source: dict[str, Any] = Field(default_factory=dict)  # figures measured on the source side
    target: dict[str, Any] = Field(default_factory=dict)  # the same figures on the target side
    match_percentage: float | None = None
    affected_columns: list[str] = Field(default_factory=list)
    sample: list[dict[str, Any]] = Field(default_factory=list, max_length=SAMPLE_LIMIT)
    sql: dict[str, list[str]] = Field(default_factory=dict)  # {"source": [...], "target": [...]}
    details: dict[str, Any] = Field(default_factory=dict)
    severity: Literal["critical", "warning", "info"] = "critical"

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "warning", "skipped")


class PipelineResult(BaseModel):
    """The outcome of one pipeline run: every step's result, in the pipeline's order.

    `status` is `failed` when a step of severity `critical` failed or errored, `warning` when only
    less severe steps did (or some step warned), otherwise `passed`.
    """

    name: str
    status: Literal["passed", "failed", "warning"]
    started_at: str  # ISO 8601, UTC
    finished_at: str
    duration_seconds: float
    steps: list[StepResult] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)  # status -> number of steps
    # connection name -> how its reads were pinned for the whole run (engine.snapshots: isolation, at,
    # snapshot_id, or the reason nothing pins them); empty when the pipeline pins per step
    snapshots: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


class SideCost(BaseModel):
    """What one side of a step is estimated to scan, before running it (engine.pipeline.estimate)."""

    table: str | None = None
    rows: int | None = None  # rows in the table, from its statistics (None: unknown)
    bytes: int | None = None  # bytes the scan reads (the table's size, or rows x width from column types)
    scans: int = 1  # full scans of the table the validator makes (0: catalog only; row_hash: 1 + refinement)
    rate_rows_per_second: float | None = None  # measured: a bounded count scan of the table
    seconds: float | None = None  # rows / rate
    credits: float | None = None  # Snowflake: warehouse seconds x the warehouse's credits per hour / 3600
    statistics: str = ""  # where rows and bytes come from (pg_class, duckdb_tables(), INFORMATION_SCHEMA.TABLES …)
    note: str | None = None  # what the estimate leaves out, or why a figure is unknown


class StepCost(BaseModel):
    """A step's estimated price: each side's scan, and the step's seconds (both sides scan at once)."""

    step: str
    validator: str
    source: SideCost | None = None
    target: SideCost | None = None
    seconds: float | None = None
    credits: float | None = None


class PipelinePlan(BaseModel):
    """A pipeline's price before running it: per step, the rows and bytes each side will scan, the
    seconds and (Snowflake) credits; nothing is run or recorded."""

    name: str
    steps: list[StepCost] = Field(default_factory=list)
    seconds: float | None = None  # the steps one after the other (an upper bound: steps run in parallel)
    credits: float | None = None

"""`file_load`: load file extracts into their tables as a pipeline step, so a load is steps on the
executor's work queue (one per shard of the files) that workers scale out.

The step's source is a file connection (`file:///…/config.yaml`), its target the PostgreSQL, DuckDB or
Snowflake database the families' `table`s are in. Each file is loaded exactly once (engine.files.load_step,
with the loaders of `ombudsman files load`): in one transaction with its checkpoint row on the target
(PostgreSQL COPY, DuckDB INSERT from read_csv, Snowflake PUT + COPY INTO), and a checkpoint per file (started, progress,
completed, failed) as events on the run's stream when it runs on the platform, so a later run with
`resume: true` skips what is loaded and progress shows on the run's WebSocket. The step fails at the
first file that does not load, naming its line; the files before it stay loaded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ombudsman.contracts.replies import Invalid
from ombudsman.contracts.results import StepResult
from ombudsman.engine.validators.base import (
    Side,
    ValidationContext,
    ValidationInputError,
    Validator,
    ValidatorParams,
    register,
)

TARGETS = {"postgres": "PostgreSQL", "duckdb": "DuckDB", "snowflake": "Snowflake"}


@register
class FileLoadStep(Validator):
    name = "file_load"
    category = "files"
    description = ("Load the files of a file config (step source: a file:// connection) into their tables on the "
                   "step's target (PostgreSQL: COPY; DuckDB: INSERT from read_csv; Snowflake: PUT + COPY INTO), each "
                   "file once, with a checkpoint per file; `shard` splits the files between steps, `resume` skips the "
                   "files loaded by earlier runs, `on_error` is Snowflake's ON_ERROR.")
    needs_table = False

    class Params(ValidatorParams):
        files: list[str] | None = Field(default=None, description="file families (config `name`s); default: all")
        shard: list[int] = Field(default=[0, 1], min_length=2, max_length=2,
                                 description="[index, of]: this step loads the files whose path hashes to index (mod of)")
        resume: bool = Field(default=False, description="skip the files loaded by earlier runs (otherwise refused)")
        progress_seconds: float = Field(default=2.0, ge=0.2, le=300, description="a progress checkpoint at most this often")
        report: int = Field(default=100, ge=1, le=1000, description="files listed in the result")
        on_error: Literal["ABORT_STATEMENT", "CONTINUE", "SKIP_FILE"] = Field(
            default="ABORT_STATEMENT", description=(
                "Snowflake targets: COPY INTO's ON_ERROR (CONTINUE loads a file's good lines and names the first bad "
                "one; SKIP_FILE fails the file). PostgreSQL and DuckDB stop at the first bad line: only ABORT_STATEMENT"))

        @field_validator("on_error", mode="before")
        @classmethod
        def _upper(cls, value: Any) -> Any:
            return value.upper() if isinstance(value, str) else value

        @model_validator(mode="after")
        def _shard(self) -> FileLoadStep.Params:
            index, of = self.shard
            if not (of >= 1 and 0 <= index < of):
                raise ValueError("shard: [index, of] with 0 <= index < of")
            return self

    @classmethod
    def connection_errors(cls, params: Any, kinds: Mapping[Side, str | None]) -> list[str]:
        """The source must be a file connection, the target one a load goes into; `on_error` is for
        Snowflake targets only. Checked by `validate_pipeline` (a saved pipeline: 422 naming the field) and
        again when the step runs (a connection known only by name then has its kind)."""
        if kinds["source"] not in (None, "file"):
            return [f"source_connection: file_load reads a file connection (file:///…/config.yaml), not {kinds['source']}"]
        kind = kinds["target"]
        if kind is None:
            return []
        if kind not in TARGETS:
            return [f"target_connection: file_load loads into PostgreSQL, DuckDB or Snowflake, not {kind}"]
        if kind != "snowflake" and params.on_error != "ABORT_STATEMENT":
            return [f"parameters.on_error: {params.on_error} is Snowflake's ON_ERROR; {TARGETS[kind]} stops at the "
                    "first bad line (ABORT_STATEMENT only)"]
        return []

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        from ombudsman.engine.connectors.files import is_platform
        from ombudsman.engine.files.checkpoints import SINK
        from ombudsman.engine.files.load_step import load_shard, outcome_details

        source, target = ctx.connector("source"), ctx.connector("target")
        config = getattr(source, "file_config", None)
        if config is None:
            raise ValidationInputError(f"file_load reads a file connection (file:///…/config.yaml) as its source, "
                                       f"not a {source.kind} connection")
        refused = self.connection_errors(params, {"source": "file", "target": target.kind})  # a file config: checked above
        if refused:
            raise ValidationInputError("; ".join(refused))
        names = [spec.name for spec in config.files]
        unknown = [n for n in params.files or [] if n not in names]
        if unknown:
            raise ValidationInputError(f"parameters.files: {', '.join(unknown)} not in the config ({', '.join(names)})")
        specs = [spec for spec in config.files if params.files is None or spec.name in params.files]
        try:
            outcome = await load_shard(config, specs, str(target.url), sink=SINK.get(), resume=params.resume,
                                       shard=(params.shard[0], params.shard[1]), platform=is_platform(dict(os.environ)),
                                       progress_seconds=params.progress_seconds, on_error=params.on_error)
        except Invalid as error:
            raise ValidationInputError(error.message) from None
        details = outcome_details(outcome, params.report)
        counts = details["counts"]
        rows = sum(f["rows"] for f in outcome.files if f["status"] == "loaded")
        figures: dict[str, Any] = {"files": len(outcome.files), "bytes": sum(f["bytes"] for f in outcome.files)}
        shard = f" (shard {params.shard[0]} of {params.shard[1]})" if params.shard[1] > 1 else ""
        if outcome.refused:
            return ctx.result("failed", outcome.refused, source=figures, target={"rows_loaded": rows}, details=details)
        if outcome.failed:
            failed = outcome.failed
            return ctx.result("failed", f"{failed['spec']}: {os.path.basename(failed['file'])} not loaded (rolled back): "
                                        f"{failed['message']}; {counts['loaded']} file(s) loaded before it{shard}",
                              source=figures, target={"rows_loaded": rows}, details=details)
        summary = (f"{counts['loaded']} file(s) loaded ({rows} rows), {counts['skipped']} skipped, "
                   f"{counts['reconciled']} reconciled{shard}")
        partial = outcome.partial()  # ON_ERROR = CONTINUE skipped bad lines: recorded as loaded, never retried
        if partial:
            summary += f"; {partial}"
        return ctx.result("warning" if partial else "passed", summary,
                          source=figures, target={"rows_loaded": rows}, details=details)

"""Pipelines: check a PipelineSpec against the validator registry, run it as a DAG, draw it."""

from ombudsman.contracts.pipeline import PipelineError, PipelineSpec, load_pipeline, load_pipeline_file
from ombudsman.engine.pipeline.mermaid import to_mermaid
from ombudsman.engine.pipeline.runner import (
    ConnectionUnavailable,
    StepEvent,
    check_pipeline_sql,
    open_connections,
    pipeline_sql_errors,
    run_pipeline,
    run_pipeline_sync,
    run_step,
    validate_pipeline,
)

__all__ = [
    "ConnectionUnavailable",
    "PipelineError",
    "PipelineSpec",
    "StepEvent",
    "check_pipeline_sql",
    "load_pipeline",
    "load_pipeline_file",
    "open_connections",
    "pipeline_sql_errors",
    "run_pipeline",
    "run_pipeline_sync",
    "run_step",
    "to_mermaid",
    "validate_pipeline",
]

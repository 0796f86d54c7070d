"""Pipelines: check a PipelineSpec against the validator registry, run it as a DAG, draw it."""

from ombudsman.contracts.pipeline import PipelineError, PipelineSpec, load_pipeline, load_pipeline_file
from ombudsman.engine.pipeline.mermaid import to_mermaid
from ombudsman.engine.pipeline.runner import (
    ConnectionUnavailable,
    StepEvent,
    run_pipeline,
    run_pipeline_sync,
    validate_pipeline,
)

__all__ = [
    "ConnectionUnavailable",
    "PipelineError",
    "PipelineSpec",
    "StepEvent",
    "load_pipeline",
    "load_pipeline_file",
    "run_pipeline",
    "run_pipeline_sync",
    "to_mermaid",
    "validate_pipeline",
]

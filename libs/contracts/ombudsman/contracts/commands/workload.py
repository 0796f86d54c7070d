"""Commands of the workload service: upload a Query Store export, and generate a pipeline of a
workload's suggestions. The gateway's bodies are `WorkloadUploadCreate` and `GeneratePipelineBase`
(it adds only its refusal of unknown fields and NUL); the bus commands add the ids the URL carries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from ombudsman.contracts.pipeline import IdentifierCase

WORKLOAD_ID = r"^[A-Za-z0-9_-]+$"
UploadFormat = Literal["csv", "json", "jsonl", "sql"]
MAX_UPLOAD_CHARS = 20 * 1024 * 1024  # a JSON body's export; the gateway stages a large one as a file
MAX_INLINE_CHARS = 8 * 1024 * 1024  # an export sent inline on the bus (the gateway sends ≤ 512 KiB inline)
SchemaName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MAX_SCHEMA_MAPPINGS = 1000
MAX_SUGGESTION_IDS = 1000


def schema_lookup(schema_map: Mapping[str, str]) -> dict[str, str]:
    """A schema map keyed by lower-case source schema (source schemas match case-insensitively, as
    SQL Server's default collation compares them); `ValueError` when two spellings of one source
    schema map to different target schemas."""
    lookup: dict[str, str] = {}
    for source, target in schema_map.items():
        key = source.lower()
        if lookup.get(key, target) != target:
            raise ValueError(f"schema {source!r} is mapped twice, to {lookup[key]!r} and to {target!r}")
        lookup[key] = target
    return lookup


class WorkloadRef(BaseModel):
    """Commands and queries naming one workload."""

    workload_id: str = Field(min_length=1, max_length=100, pattern=WORKLOAD_ID)


# --- upload -------------------------------------------------------------------------------------


class WorkloadFile(BaseModel):
    """How an export is named and read."""

    filename: str | None = Field(default=None, min_length=1, max_length=255,
                                 description="the export's file name (default: `upload`)")
    format: UploadFormat | None = Field(default=None,
                                        description="default: from the file name's extension, else from the content")


class WorkloadUploadCreate(WorkloadFile):
    """The JSON body uploading an export as text."""

    content: str = Field(min_length=1, max_length=MAX_UPLOAD_CHARS)


class UploadWorkload(WorkloadFile):
    """Command `workload.upload`: the export inline (`content`) or as a file the gateway left in the
    shared upload folder (`path`), exactly one of them."""

    project_id: str = Field(min_length=1, max_length=100, pattern=WORKLOAD_ID)
    workload_id: str | None = Field(default=None, min_length=1, max_length=100, pattern=WORKLOAD_ID)
    path: str | None = Field(default=None, min_length=1, max_length=4096)
    content: str | None = Field(default=None, min_length=1, max_length=MAX_INLINE_CHARS)


# --- pipeline generation ------------------------------------------------------------------------


class PipelineChoice(BaseModel):
    """Which suggestions make the pipeline, and how its target side's schemas are named."""

    suggestion_ids: list[str] | None = Field(default=None, max_length=MAX_SUGGESTION_IDS,
                                             description="default: every suggestion")
    schema_map: dict[SchemaName, SchemaName] | None = Field(
        default=None, max_length=MAX_SCHEMA_MAPPINGS,
        description="source schema -> target schema for the target side (source schemas match "
                    "case-insensitively); default: the project's schema mappings")

    @field_validator("schema_map")
    @classmethod
    def _one_target_per_schema(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            schema_lookup(value)  # ValueError: one source schema spelled twice, mapped to two targets
        return value


class GeneratePipelineBase(PipelineChoice):
    """The body generating a pipeline of a workload's suggestions."""

    save: bool = Field(default=False, description="also save the pipeline in the project (tagged `workload`)")


class PipelineOptions(PipelineChoice):
    """How suggestions become a pipeline: its name, the sides' URLs and identifier case."""

    name: str = Field(default="workload validations", min_length=1, max_length=200)
    source_url: str = Field(default="${SOURCE_URL}", max_length=4000)
    target_url: str = Field(default="${TARGET_URL}", max_length=4000)
    source_identifier_case: IdentifierCase = "preserve"
    target_identifier_case: IdentifierCase = "preserve"
    description: str | None = Field(default=None, max_length=5000)


class GeneratePipeline(WorkloadRef, GeneratePipelineBase, PipelineOptions):
    """Command `workload.generate_pipeline`."""

"""Commands, queries and replies of the projects service: projects, members, schema mappings,
connections and saved pipelines.

`ProjectCreate`, `ProjectChanges`, `MemberIn`, `SchemaMappingBase`, `ConnectionBase` and
`PipelineBase` are the REST bodies' fields (the gateway adds only its refusal of unknown fields and
NUL characters); the bus commands add the ids the URL carries. Replies: `ProjectPublic`,
`ConnectionPublic`, `PipelineSummary`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
CONNECTION_NAME = r"^[A-Za-z0-9_-]{1,63}$"
PIPELINE_ID = r"^[A-Za-z0-9_-]{1,100}$"
ConnectionKind = Literal["sqlserver", "snowflake", "postgres", "duckdb"]
ConnectionRole = Literal["source", "target", "other"]
MAX_PIPELINE_YAML = 1_048_576
MAX_PIPELINES_PER_SAVE = 500


# --- projects -----------------------------------------------------------------------------------


class ProjectBase(BaseModel):
    """A project's describing fields and their limits (create, update and the reply share them)."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    source_database: str | None = Field(default=None, max_length=200)
    source_schemas: list[str] = Field(default_factory=list, max_length=200)
    target_database: str | None = Field(default=None, max_length=200)
    target_schemas: list[str] = Field(default_factory=list, max_length=200)


class ProjectCreate(ProjectBase):
    """The body creating a project: its id (a slug) and its describing fields."""

    id: str = Field(min_length=2, max_length=63, json_schema_extra={"pattern": SLUG.pattern})

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError("must be a slug: 2-63 lower-case letters, digits, '-' or '_', starting alphanumeric")
        return value


class CreateProject(ProjectCreate):
    """Command `projects.create` (the body as it is: the id is in it)."""


UPDATABLE_FIELDS = frozenset(ProjectBase.model_fields)


class ProjectChanges(BaseModel):
    """Any subset of the updatable fields. A field omitted is kept; only the databases may be
    cleared with null."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"\S")
    description: str | None = Field(default=None, max_length=5000)
    source_database: str | None = Field(default=None, max_length=200)
    source_schemas: list[str] | None = Field(default=None, max_length=200)
    target_database: str | None = Field(default=None, max_length=200)
    target_schemas: list[str] | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _no_null_for_required(self) -> ProjectChanges:
        nulled = [f for f in sorted(self.not_nullable()) if f in self.model_fields_set and getattr(self, f) is None]
        if nulled:
            raise ValueError(f"{', '.join(nulled)}: may be omitted but not null")
        return self

    @classmethod
    def not_nullable(cls) -> set[str]:
        """The fields that may be omitted but not set to null."""
        return {"name", "description", "source_schemas", "target_schemas"}

    def changed(self) -> dict[str, Any]:
        """Only the fields the change names, as JSON values."""
        return self.model_dump(mode="json", include=self.model_fields_set & UPDATABLE_FIELDS)


class UpdateProject(BaseModel):
    """Command `projects.update`: `changes` is validated as `ProjectChanges` by the decision, so an
    unknown field is named as not updatable."""

    id: str
    expected_version: int | None = Field(default=None, ge=0)
    changes: dict[str, Any] = Field(default_factory=dict)


class ProjectRef(BaseModel):
    """Commands and queries naming one project: `delete`, `get` (bus field `id`)."""

    id: str


class MemberIn(BaseModel):
    """The body adding a member."""

    user_id: str = Field(min_length=1, max_length=100)


class AddMember(MemberIn):
    """Command `projects.add_member`."""

    id: str


class RemoveMember(MemberIn):
    """Command `projects.remove_member`."""

    id: str


class SchemaMappingBase(BaseModel):
    """One source schema mapped to one target schema."""

    source_schema: str = Field(min_length=1, max_length=200)
    target_schema: str = Field(min_length=1, max_length=200)


class SetSchemaMapping(SchemaMappingBase):
    """Command `projects.set_schema_mapping`."""

    project_id: str


class ListProjects(BaseModel):
    """Query `projects.list`: a page of projects, optionally only one member's or matching `q`."""

    member: str | None = None
    q: str | None = Field(default=None, max_length=200)
    include_deleted: bool = False
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=50, ge=1, le=500)


class ProjectOf(BaseModel):
    """Queries naming one project by `project_id` (or, as older callers send it, `id`)."""

    project_id: str

    @model_validator(mode="before")
    @classmethod
    def _id_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "project_id" not in data and "id" in data:
            return {**data, "project_id": data["id"]}
        return data


# --- connections --------------------------------------------------------------------------------


class ConnectionBase(BaseModel):
    """A connection as a person gives it: the URL holds the secret, which is encrypted at rest."""

    name: str = Field(pattern=CONNECTION_NAME)
    kind: ConnectionKind | None = None
    role: ConnectionRole = "other"
    url: str = Field(min_length=3, max_length=4000, json_schema_extra={"format": "password"},
                     description="SQLAlchemy-style URL; its secret is encrypted at rest and never returned")


class AddConnection(ConnectionBase):
    """Command `projects.add_connection`."""

    project_id: str


class ConnectionRef(BaseModel):
    """Commands and queries naming one connection: remove, test, its secret."""

    project_id: str
    name: str


class ConnectionPublic(BaseModel):
    """A connection in replies: the URL only masked, and its last test."""

    name: str
    kind: str
    role: str
    url_masked: str
    last_test: dict[str, Any] | None = None


class ConnectionAddedReply(BaseModel):
    """The reply of `add_connection`."""

    project_id: str
    name: str
    kind: str
    role: str
    url: str = Field(description="masked")


# --- pipelines ----------------------------------------------------------------------------------


class PipelineBase(BaseModel):
    """A saved pipeline's fields and their limits."""

    name: str = Field(min_length=1, max_length=200)
    yaml: str = Field(min_length=1, max_length=MAX_PIPELINE_YAML, description="The pipeline spec as YAML")
    description: str = Field(default="", max_length=5000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    pipeline_id: str | None = Field(default=None, pattern=PIPELINE_ID)


class SavePipeline(PipelineBase):
    """Command `projects.save_pipeline`."""

    project_id: str


class SavePipelines(BaseModel):
    """Command `projects.save_pipelines`: many pipelines of one project, all or nothing."""

    project_id: str
    pipelines: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_PIPELINES_PER_SAVE)


class PipelineRef(BaseModel):
    """Commands and queries naming one saved pipeline."""

    project_id: str
    pipeline_id: str


class PipelineSummary(BaseModel):
    """A saved pipeline in lists and in a project's reply (no YAML)."""

    pipeline_id: str
    name: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class PipelinePublic(PipelineSummary):
    """One saved pipeline with its YAML."""

    yaml: str = ""


# --- replies ------------------------------------------------------------------------------------


class ProjectCounts(BaseModel):
    connections: int
    pipelines: int
    schema_mappings: int
    members: int


class ProjectRecord(BaseModel):
    """What a project records beside its connections and pipelines (no input limits: replies and
    state show what was recorded)."""

    id: str = ""
    version: int = 0
    deleted: bool = False
    name: str = ""
    description: str = ""
    source_database: str | None = None
    source_schemas: list[str] = Field(default_factory=list)
    target_database: str | None = None
    target_schemas: list[str] = Field(default_factory=list)
    members: list[str] = Field(default_factory=list)
    schema_mappings: dict[str, str] = Field(default_factory=dict)
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ProjectPublic(ProjectRecord):
    """A project in replies: no pipeline YAML, connections masked, counts alongside the lists."""

    connections: list[ConnectionPublic] = Field(default_factory=list)
    pipelines: list[PipelineSummary] = Field(default_factory=list)
    counts: ProjectCounts

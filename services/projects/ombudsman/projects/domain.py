"""Decisions of the Project aggregate: a command and the current state in, new events out. Pure."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ombudsman.contracts import events as ev
from ombudsman.contracts.privacy import pipeline_secrets, redact_text, redact_url
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import Conflict, Invalid, NotFound, invalid, invalid_fields
from ombudsman.contracts.state.project import UPDATABLE_FIELDS, ProjectState

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
KIND_BY_SCHEME = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "postgresql+asyncpg": "postgres",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "mssql": "sqlserver",
    "mssql+pyodbc": "sqlserver",
    "sqlserver": "sqlserver",
}
MASK = "****"


class CreateProject(BaseModel):
    id: str
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    source_database: str | None = None
    source_schemas: list[str] = Field(default_factory=list)
    target_database: str | None = None
    target_schemas: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError("must be a slug: 2-63 lower-case letters, digits, '-' or '_', starting alphanumeric")
        return value


class ProjectChanges(BaseModel):
    """The updatable fields and their types (a change may name any subset)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="x", min_length=1, max_length=200, pattern=r"\S")
    description: str = Field(default="", max_length=5000)
    source_database: str | None = None
    source_schemas: list[str] = Field(default_factory=list)
    target_database: str | None = None
    target_schemas: list[str] = Field(default_factory=list)


class AddConnection(BaseModel):
    project_id: str
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,63}$")
    kind: Literal["sqlserver", "snowflake", "postgres", "duckdb"] | None = None
    role: Literal["source", "target", "other"] = "other"
    url: str = Field(min_length=3, max_length=4000)


class SavePipeline(BaseModel):
    project_id: str
    name: str = Field(min_length=1, max_length=200)
    yaml: str = Field(min_length=1, max_length=1_048_576)
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    pipeline_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,100}$")


def require_existing(state: ProjectState, project_id: str) -> None:
    if not state.exists or state.deleted:
        raise NotFound(f"project {project_id!r} not found", {"project_id": project_id})


def create(state: ProjectState, cmd: CreateProject, creator: str | None) -> list[Event]:
    if state.exists:
        raise Conflict(f"project {cmd.id!r} already exists", {"project_id": cmd.id})
    members = [creator] if creator and not creator.startswith(("service:", "system")) else []
    return [ev.ProjectCreated(project_id=cmd.id, members=members, **cmd.model_dump(exclude={"id"}))]


def update(state: ProjectState, project_id: str, changes: dict[str, Any]) -> list[Event]:
    require_existing(state, project_id)
    unknown = sorted(set(changes) - UPDATABLE_FIELDS)
    if unknown:
        raise invalid_fields(f"cannot update field(s) {', '.join(unknown)}",
                             dict.fromkeys(unknown, f"not updatable (only {', '.join(sorted(UPDATABLE_FIELDS))})"))
    if not changes:
        raise Invalid("nothing to update", {"fields": []})
    try:
        changes = ProjectChanges.model_validate(changes).model_dump(include=set(changes))
    except ValidationError as exc:
        raise invalid(exc, "invalid value: ") from None
    effective = {k: v for k, v in changes.items() if getattr(state, k) != v}
    return [ev.ProjectUpdated(project_id=project_id, changes=effective)] if effective else []


def delete(state: ProjectState, project_id: str) -> list[Event]:
    require_existing(state, project_id)
    return [ev.ProjectDeleted(project_id=project_id)]


def add_member(state: ProjectState, project_id: str, user_id: str) -> list[Event]:
    require_existing(state, project_id)
    if user_id in state.members:
        return []
    return [ev.ProjectMemberAdded(project_id=project_id, user_id=user_id)]


def remove_member(state: ProjectState, project_id: str, user_id: str) -> list[Event]:
    """Take a member off the project; removing someone who is not a member is a 404 (nothing to undo)."""
    require_existing(state, project_id)
    if user_id not in state.members:
        raise NotFound(f"user {user_id!r} is not a member of project {project_id!r}",
                       {"project_id": project_id, "user_id": user_id})
    return [ev.ProjectMemberRemoved(project_id=project_id, user_id=user_id)]


def connection_kind(url: str) -> str:
    """The database kind a connection URL names, or Invalid."""
    scheme = urlsplit(url).scheme.lower()
    kind = KIND_BY_SCHEME.get(scheme)
    if kind is None:
        raise Invalid(
            f"unsupported connection URL scheme {scheme or '(none)'!r}",
            {"field": "url", "supported": sorted(KIND_BY_SCHEME)},
        )
    return kind


def mask_url(url: str) -> str:
    """The URL with its password and secret query parameters replaced by **** (contracts.privacy)."""
    return redact_url(url, mask=MASK)


def redact_text_masked(text: str) -> str:
    """Every URL in `text` (an error message of a driver) with its secrets replaced by ****."""
    return redact_text(text, mask=MASK)


def add_connection(state: ProjectState, cmd: AddConnection) -> list[Event]:
    require_existing(state, cmd.project_id)
    kind = connection_kind(cmd.url)
    if cmd.kind and cmd.kind != kind:
        raise Invalid(f"connection kind {cmd.kind!r} does not match the URL ({kind})", {"field": "kind"})
    if cmd.name in state.connections:
        raise Conflict(f"connection {cmd.name!r} already exists in project {cmd.project_id!r}", {"field": "name"})
    return [
        ev.ConnectionAdded(
            project_id=cmd.project_id, name=cmd.name, kind=kind, role=cmd.role, url_masked=mask_url(cmd.url)
        )
    ]


def require_connection(state: ProjectState, project_id: str, name: str) -> None:
    require_existing(state, project_id)
    if name not in state.connections:
        raise NotFound(f"connection {name!r} not found in project {project_id!r}", {"connection": name})


def remove_connection(state: ProjectState, project_id: str, name: str) -> list[Event]:
    require_connection(state, project_id, name)
    return [ev.ConnectionRemoved(project_id=project_id, name=name)]


def set_schema_mapping(state: ProjectState, project_id: str, source_schema: str, target_schema: str) -> list[Event]:
    require_existing(state, project_id)
    if not source_schema or not target_schema:
        raise invalid_fields("source_schema and target_schema are required",
                             {"source_schema": "required", "target_schema": "required"})
    if state.schema_mappings.get(source_schema) == target_schema:
        return []
    return [ev.SchemaMappingSet(project_id=project_id, source_schema=source_schema, target_schema=target_schema)]


def pipeline_id_for(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80]
    return slug or "pipeline"


def require_no_inline_secrets(yaml_text: str, prefix: str = "") -> None:
    """A saved pipeline names its secrets (`${VAR}` or a project connection), never holds one:
    raise Invalid naming the field, e.g. `connections.source.url: inline password; use ...`."""
    found = pipeline_secrets(yaml_text)
    if found:
        errors = [prefix + f for f in found]
        raise Invalid("; ".join(errors) if len(errors) == 1 else f"{errors[0]} (and {len(errors) - 1} more)",
                      {"field": prefix + found[0].split(":", 1)[0], "errors": errors})


def save_pipeline(state: ProjectState, cmd: SavePipeline) -> tuple[str, list[Event]]:
    """Events saving a pipeline (its YAML already validated by the caller) and its id."""
    ids, events = save_pipelines(state, [cmd])
    return ids[0], events


def save_pipelines(state: ProjectState, cmds: list[SavePipeline]) -> tuple[list[str], list[Event]]:
    """Events saving several pipelines of one project (YAML validated by the caller) and their ids."""
    for cmd in cmds:
        require_existing(state, cmd.project_id)
    for index, cmd in enumerate(cmds):
        require_no_inline_secrets(cmd.yaml, "" if len(cmds) == 1 else f"pipelines[{index}].")
    ids = [cmd.pipeline_id or pipeline_id_for(cmd.name) for cmd in cmds]
    return ids, [
        ev.PipelineSaved(project_id=cmd.project_id, pipeline_id=pipeline_id, name=cmd.name, yaml=cmd.yaml,
                         description=cmd.description, tags=cmd.tags)
        for cmd, pipeline_id in zip(cmds, ids, strict=True)
    ]


def delete_pipeline(state: ProjectState, project_id: str, pipeline_id: str) -> list[Event]:
    require_existing(state, project_id)
    if pipeline_id not in state.pipelines:
        raise NotFound(f"pipeline {pipeline_id!r} not found in project {project_id!r}", {"pipeline_id": pipeline_id})
    return [ev.PipelineDeleted(project_id=project_id, pipeline_id=pipeline_id)]

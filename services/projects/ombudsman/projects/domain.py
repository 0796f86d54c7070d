"""The Project aggregate: its state folded from its events (`PROJECT`, registered for the audit
service's replay as of an instant) and its decisions (a command and the state in, new events out). Pure."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError

from ombudsman.contracts import events as ev
from ombudsman.contracts.commands.projects import (
    UPDATABLE_FIELDS,
    AddConnection,
    ConnectionPublic,
    CreateProject,
    PipelinePublic,
    ProjectChanges,
    ProjectPublic,
    ProjectRecord,
    SavePipeline,
)
from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.privacy import pipeline_secrets, redact_url
from ombudsman.contracts.registry import Event, decode
from ombudsman.contracts.replies import Conflict, Invalid, NotFound, invalid, invalid_fields

__all__ = ["PROJECT", "AddConnection", "CreateProject", "ProjectState", "SavePipeline"]

KIND_BY_SCHEME = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "postgresql+asyncpg": "postgres",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "mssql": "sqlserver",
    "mssql+pyodbc": "sqlserver",
    "sqlserver": "sqlserver",
    "file": "duckdb",  # a file config: its files are DuckDB views (engine.connectors.files), DuckDB SQL
}
MASK = "****"


# --- state ------------------------------------------------------------------------------------


class ProjectState(ProjectRecord):
    """What a project is after its events: `version` 0 means it never existed."""

    exists: bool = False
    connections: dict[str, ConnectionPublic] = Field(default_factory=dict)
    pipelines: dict[str, PipelinePublic] = Field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """The reply shape (`ProjectPublic`): no YAML bodies, counts alongside the lists."""
        data = self.model_dump(exclude={"pipelines", "exists", "connections"})
        return ProjectPublic(
            **data,
            connections=list(self.connections.values()),
            pipelines=list(self.pipelines.values()),
            counts={"connections": len(self.connections), "pipelines": len(self.pipelines),
                    "schema_mappings": len(self.schema_mappings), "members": len(self.members)},
        ).model_dump(mode="json")


class ProjectAggregate:
    """The Project aggregate's fold (`ombudsman.eventstore.aggregate.Aggregate`)."""

    stream_type = "project"

    def initial(self, stream_id: str) -> ProjectState:
        return ProjectState()

    def apply(self, state: ProjectState, envelope: EventEnvelope) -> ProjectState:
        """One event applied to `state` itself (a deep copy per event of a project with 900 saved
        pipelines made every load quadratic)."""
        _apply_in_place(state, envelope)
        return state


PROJECT = ProjectAggregate()


def _apply_in_place(s: ProjectState, envelope: EventEnvelope) -> None:
    event = decode(envelope)
    s.version = envelope.version
    s.updated_at = envelope.occurred_at
    match event:
        case ev.ProjectCreated():
            s.id = event.project_id
            s.exists = True
            s.name = event.name
            s.description = event.description
            s.source_database = event.source_database
            s.source_schemas = list(event.source_schemas)
            s.target_database = event.target_database
            s.target_schemas = list(event.target_schemas)
            s.members = list(event.members)
            s.created_by = envelope.actor.id
            s.created_at = envelope.occurred_at
        case ev.ProjectUpdated():
            for key, value in event.changes.items():
                if key in UPDATABLE_FIELDS:
                    setattr(s, key, value)
        case ev.ProjectDeleted():
            s.deleted = True
            s.pipelines = {}
            s.schema_mappings = {}
        case ev.ProjectMemberAdded():
            if event.user_id not in s.members:
                s.members.append(event.user_id)
        case ev.ProjectMemberRemoved():
            if event.user_id in s.members:
                s.members.remove(event.user_id)
        case ev.ConnectionAdded():
            s.connections[event.name] = ConnectionPublic(
                name=event.name, kind=event.kind, role=event.role, url_masked=event.url_masked
            )
        case ev.ConnectionRemoved():
            s.connections.pop(event.name, None)
        case ev.ConnectionTested():
            if event.name in s.connections:
                s.connections[event.name].last_test = event.model_dump(mode="json", exclude={"project_id", "name"})
        case ev.SchemaMappingSet():
            s.schema_mappings[event.source_schema] = event.target_schema
        case ev.PipelineSaved():
            previous = s.pipelines.get(event.pipeline_id)
            s.pipelines[event.pipeline_id] = PipelinePublic(
                pipeline_id=event.pipeline_id,
                name=event.name,
                description=event.description,
                tags=list(event.tags),
                yaml=event.yaml,
                created_at=previous.created_at if previous else envelope.occurred_at,
                updated_at=envelope.occurred_at,
            )
        case ev.PipelineDeleted():
            s.pipelines.pop(event.pipeline_id, None)



# --- decisions --------------------------------------------------------------------------------


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
        changes = ProjectChanges.model_validate(changes).changed()
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

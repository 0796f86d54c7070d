"""Command and query handlers of the workload service: load, decide, append, reply.

Uploads: a Query Store export reaches the service in one of two ways.
- `path`: a file on the volume shared with the gateway (`OMB_WORKLOAD_UPLOAD_DIR`, default
  `<OMB_HOME>/uploads`); the gateway streams the HTTP upload there and passes the path. The file is
  read incrementally, so 100,000 queries never sit in memory at once; paths outside the folder are
  refused.
- `content`: the export inline, for small uploads (the request must fit NATS' max_payload, 1 MiB by
  default).
Either way the queries are grouped by fingerprint as they stream in, and only the groups are
recorded (in chunked `WorkloadDetailsRecorded` events).

The project must exist: `upload` asks `omb.qry.projects.get {id}` first.

Catalog: `analyze` and `suggest` resolve table names against the project's source catalog: the
`catalog` given in the request, else the metadata service's (`omb.qry.metadata.catalog`); without
either, names are only defaulted to schema `dbo`.

Schema map: `generate_pipeline` maps the target side's schemas through the request's `schema_map`,
else the project's `schema_mappings` (`omb.qry.projects.get`). When the projects service does not
answer and no `schema_map` was given, it fails (`Unavailable` / `Timeout`) rather than generate a
pipeline that would read the source's schemas on the target.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from ombudsman.contracts.catalog import Catalog
from ombudsman.contracts.commands.workload import (
    WORKLOAD_ID,
    GeneratePipeline,
    PipelineOptions,
    UploadFormat,
    UploadWorkload,
    WorkloadRef,
)
from ombudsman.contracts.envelope import EventEnvelope, Metadata, new_id
from ombudsman.contracts.privacy import redact_pipeline_yaml
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import Invalid, NotFound, OmbudsmanError, Timeout, Unavailable
from ombudsman.contracts.replies import validated as parse
from ombudsman.contracts.subjects import command_subject, query_subject
from ombudsman.eventstore.aggregate import fold
from ombudsman.eventstore.decide import decide
from ombudsman.eventstore.runtime import ServiceContext
from ombudsman.eventstore.settings import Settings
from ombudsman.workload import domain
from ombudsman.workload import projections as read
from ombudsman.workload.analysis import DEFAULT_SCHEMA, CatalogIndex
from ombudsman.workload.model import QueryGroups, build_model
from ombudsman.workload.suggest import SuggestOptions, pipeline_yaml, suggest, to_pipeline
from ombudsman.workload.upload import MAX_QUERIES, read_file, read_text

log = logging.getLogger(__name__)
CATALOG_PAGE = 200  # tables per catalog query (a page stays far below the bus message limit)


class WorkloadSettings(Settings):
    """Service settings (`OMB_WORKLOAD_UPLOAD_DIR`, where the gateway leaves uploaded files, is the
    base settings' `upload_dir()`)."""


class Analyze(WorkloadRef):
    catalog: Catalog | None = None
    default_schema: str = Field(default=DEFAULT_SCHEMA, min_length=1, max_length=128)


class Suggest(Analyze, SuggestOptions):
    pass


class ProjectRef(BaseModel):
    project_id: str = Field(min_length=1, max_length=100, pattern=WORKLOAD_ID)


class ListQuery(BaseModel):
    project_id: str | None = None
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class GetQuery(WorkloadRef):
    top: int = Field(default=20, ge=1, le=1000)


def _records(cmd: UploadWorkload, settings: WorkloadSettings) -> tuple[QueryGroups, str]:
    """Read and group the upload (blocking: run in a thread)."""
    if (cmd.path is None) == (cmd.content is None):
        raise Invalid("give either path (a file in the upload folder) or content", {"field": "path"})
    groups = QueryGroups()
    if cmd.path is not None:
        file = settings.uploaded_file(cmd.path)
        name = cmd.filename or file.name
        groups.extend(read_file(file, cmd.format or _format_from(name), MAX_QUERIES))
    else:
        name = cmd.filename or "upload"
        groups.extend(read_text(cmd.content or "", name, cmd.format, MAX_QUERIES))
    return groups, name


def _format_from(name: str) -> UploadFormat | None:
    from ombudsman.workload.upload import detect_format

    try:
        return detect_format(name)
    except Invalid:
        return None  # sniffed from the content


class Handlers:
    """Every command and query of the workload service, over the runtime's context."""

    def __init__(self, ctx: ServiceContext, meta: Metadata):
        self.ctx = ctx
        self.meta = meta

    @property
    def settings(self) -> WorkloadSettings:
        settings = self.ctx.settings
        return settings if isinstance(settings, WorkloadSettings) else WorkloadSettings(**settings.model_dump())

    async def _load(self, workload_id: str) -> domain.WorkloadState:
        async with self.ctx.engine.connect() as conn:
            envelopes = await self.ctx.store.load_stream(conn, workload_id)
        return fold(domain.WORKLOAD, workload_id, envelopes)

    async def _decide(self, workload_id: str, decide_on: Callable[[domain.WorkloadState], list[Event]]) -> None:
        """Load the workload, append `decide_on(state)`; decided again on a concurrent append."""

        def decision(history: list[EventEnvelope]) -> list[Event]:
            return decide_on(fold(domain.WORKLOAD, workload_id, history))

        await decide(self.ctx.uow, workload_id, decision, self.meta)

    async def _catalog(self, given: Catalog | None, project_id: str) -> tuple[Catalog | None, str]:
        if given is not None:
            return given, "request"
        tables: list[Any] = []
        try:
            while True:  # page by page: a large catalog is more than one bus message
                data = await self.ctx.request(query_subject("metadata", "catalog"),
                                              {"project_id": project_id, "side": "source", "offset": len(tables),
                                               "limit": CATALOG_PAGE}, meta=self.meta)
                tables.extend(data.get("tables") or [])
                if not data.get("tables") or len(tables) >= int(data.get("total_tables", len(tables))):
                    break
        except OmbudsmanError as exc:  # no catalog yet, or the metadata service is away: names only
            log.info("workload: no source catalog for %s (%s)", project_id, exc.code)
            return None, "none"
        return Catalog.model_validate({**data, "tables": tables}), "metadata"

    async def _schema_map(self, given: dict[str, str] | None, project_id: str) -> tuple[dict[str, str], str]:
        """The schema map of a pipeline: the request's, else the project's schema mappings."""
        if given is not None:
            return given, "request"
        try:
            project = await self.ctx.request(query_subject("projects", "get"), {"id": project_id}, meta=self.meta)
        except (Unavailable, Timeout) as exc:
            raise type(exc)(
                f"cannot read the schema mappings of project {project_id!r} ({exc.message}): the pipeline is not "
                "generated, since its target side could name the wrong schemas; retry, or give schema_map "
                "({} for none)", {"project_id": project_id, "field": "schema_map"}) from None
        return dict(project.get("schema_mappings") or {}), "project"

    # --- commands ---------------------------------------------------------------------------

    async def upload(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Read a Query Store export (path or content), group it by fingerprint, record it."""
        cmd: UploadWorkload = parse(UploadWorkload, payload)
        # NotFound unless the projects service knows the project (Unavailable when it does not answer)
        await self.ctx.request(query_subject("projects", "get"), {"id": cmd.project_id}, meta=self.meta)
        groups, name = await asyncio.to_thread(_records, cmd, self.settings)
        workload_id = cmd.workload_id or new_id()
        await self._decide(workload_id, lambda state: domain.upload(state, cmd.project_id, name,
                                                                    list(groups.groups.values()), groups.records))
        return {"workload_id": workload_id, "project_id": cmd.project_id, "filename": name,
                "queries": groups.records, "distinct_queries": len(groups.groups)}

    async def analyze(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Analyse every distinct query (sqlglot, T-SQL) into the Workload Data model."""
        cmd: Analyze = parse(Analyze, payload)
        state = domain.require(await self._load(cmd.workload_id))
        catalog, source = await self._catalog(cmd.catalog, state.project_id)
        index = CatalogIndex(catalog, cmd.default_schema)
        model = await asyncio.to_thread(build_model, state.query_groups(), index)
        await self._decide(state.workload_id, lambda fresh: domain.analyzed(fresh, model))
        return {"workload_id": state.workload_id, "catalog": source, "totals": model.totals.model_dump(mode="json")}

    async def suggest(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Validation suggestions from the analysed workload, each with its evidence."""
        cmd: Suggest = parse(Suggest, payload)
        state = domain.require(await self._load(cmd.workload_id))
        model = state.model()
        catalog, source = await self._catalog(cmd.catalog, state.project_id)
        options = SuggestOptions.model_validate(cmd.model_dump(include=set(SuggestOptions.model_fields)))
        found = await asyncio.to_thread(suggest, model, CatalogIndex(catalog, cmd.default_schema), options)
        await self._decide(state.workload_id, lambda fresh: domain.suggested(fresh, found))
        return {"workload_id": state.workload_id, "catalog": source,
                "suggestions": [s.model_dump(mode="json") for s in found]}

    async def generate_pipeline(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A pipeline of the chosen suggestions (all by default), checked against the validators, its
        target side mapped through the schema map (the request's `schema_map`, else the project's)."""
        cmd: GeneratePipeline = parse(GeneratePipeline, payload)
        state = domain.require(await self._load(cmd.workload_id))
        suggestions = state.suggestions()
        schema_map, mapped_from = await self._schema_map(cmd.schema_map, state.project_id)
        options = parse(PipelineOptions, {**cmd.model_dump(include=set(PipelineOptions.model_fields)),
                                          "schema_map": schema_map})
        spec = to_pipeline(suggestions, options)
        from ombudsman.engine.pipeline import validate_pipeline

        validate_pipeline(spec)
        text = pipeline_yaml(spec)
        pipeline_id = new_id()
        if cmd.save:
            await self.ctx.request(command_subject("projects", "save_pipeline"), {
                "project_id": state.project_id, "pipeline_id": pipeline_id, "name": spec.name, "yaml": text,
                "description": spec.description or "", "tags": ["workload"],
            }, meta=self.meta, timeout=30.0)
        # the reply carries the pipeline as asked for; the event only its redacted text (saving refuses
        # inline secrets: projects keeps ${VAR} references and connection names only)
        redacted = redact_pipeline_yaml(text)
        await self._decide(state.workload_id, lambda fresh: domain.pipeline_generated(
            fresh, pipeline_id, spec.name, redacted, len(spec.steps), cmd.save))
        return {"workload_id": state.workload_id, "pipeline_id": pipeline_id, "name": spec.name,
                "steps": len(spec.steps), "yaml": text, "saved": cmd.save,
                "schema_map": schema_map, "schema_map_from": mapped_from}

    # --- queries ----------------------------------------------------------------------------

    async def list(self, payload: dict[str, Any]) -> dict[str, Any]:
        cmd: ListQuery = parse(ListQuery, payload)
        async with self.ctx.engine.connect() as conn:
            return await read.list_workloads(conn, cmd.project_id, cmd.limit, cmd.offset)

    async def get(self, payload: dict[str, Any]) -> dict[str, Any]:
        cmd: GetQuery = parse(GetQuery, payload)
        async with self.ctx.engine.connect() as conn:
            found = await read.get_workload(conn, cmd.workload_id, cmd.top)
        if found is None:
            raise NotFound(f"no workload {cmd.workload_id!r}", {"workload_id": cmd.workload_id})
        return found

    async def suggestions(self, payload: dict[str, Any]) -> dict[str, Any]:
        cmd: WorkloadRef = parse(WorkloadRef, payload)
        async with self.ctx.engine.connect() as conn:
            found = await read.get_workload(conn, cmd.workload_id, 1)
            if found is None:
                raise NotFound(f"no workload {cmd.workload_id!r}", {"workload_id": cmd.workload_id})
            return {"workload_id": cmd.workload_id, "suggestions": await read.list_suggestions(conn, cmd.workload_id)}


    async def join_pairs(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The project's join pairs (all its analysed workloads), for the metadata service's relationship
        inference (`omb.cmd.metadata.infer_relationships {join_pairs}`)."""
        cmd: ProjectRef = parse(ProjectRef, payload)
        async with self.ctx.engine.connect() as conn:
            return {"project_id": cmd.project_id, "join_pairs": await read.project_join_pairs(conn, cmd.project_id)}


COMMANDS: tuple[str, ...] = ("upload", "analyze", "suggest", "generate_pipeline")
QUERIES: tuple[str, ...] = ("list", "get", "suggestions", "join_pairs")

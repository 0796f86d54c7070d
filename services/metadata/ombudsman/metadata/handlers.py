"""Command and query handlers of the metadata service: load, decide, append, reply.

Handlers talk to the outside through `Ports` (the event store and read model of this service,
the projects service over NATS), so the same code runs under the service runtime (app.py) and in
tests against real PostgreSQL and real databases.

Requests to the projects service (see README):
- `omb.qry.projects.connection_secret` {project_id, name} → {url, kind}: a connection's URL with
  its secret, used only in memory to connect;
- `omb.cmd.projects.save_pipelines` {project_id, pipelines: [{pipeline_id, name, yaml, description, tags}]} for
  generated pipelines, up to SAVE_CHUNK per command (→ {pipeline_ids}).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, Field

from ombudsman.contracts import events as ev
from ombudsman.contracts.catalog import Catalog
from ombudsman.contracts.envelope import Metadata, new_id
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import Invalid, NotFound, OmbudsmanError, Unavailable
from ombudsman.contracts.replies import validated as parse
from ombudsman.eventstore.decide import retry_conflicts
from ombudsman.eventstore.rpc import fit_page
from ombudsman.metadata import (
    automate_job,
    coverage,
    domain,
    generate,
    jobs,
    relationships,
    target_ddl,
    workload_plan,
)
from ombudsman.metadata import classify as classify_mod
from ombudsman.metadata import projections as read
from ombudsman.metadata.ddl import normalise_dialect, parse_ddl
from ombudsman.metadata.diff import diff_catalogs
from ombudsman.metadata.domain import MetadataState, Side
from ombudsman.metadata.key_handlers import KEY_COMMANDS, KEY_QUERIES, KeyHandlers
from ombudsman.metadata.mapping import MappingSuggestions, TableSuggestion, suggest_columns
from ombudsman.metadata.mapping import suggest as suggest_mappings
from ombudsman.metadata.relationships import JoinPair, Relationship
from ombudsman.metadata.workload_joins import load_join_pairs

M = TypeVar("M", bound=BaseModel)
SAVE_CHUNK = 50  # generated pipelines per save command (a few KiB of YAML each)


class Ports(Protocol):
    """What the handlers need from the runtime."""

    async def load(self, project_id: str) -> MetadataState:
        """The project's metadata state folded from its stream (version = last event's)."""

    async def append(self, state: MetadataState, events: Sequence[Event], meta: Metadata) -> None:
        """Append at versions `state.version + 1 …` (Conflict when the stream has moved on)."""

    async def append_stream(self, stream_id: str, expected_version: int, events: Sequence[Event],
                            meta: Metadata) -> None:
        """Append to another stream of this service (an automate job's) at `expected_version + 1 …`."""

    def spawn(self, job_id: str, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background of this service's process."""

    def reader(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """A connection to this service's read model (asyncpg-style fetch/fetchrow)."""

    async def require_project(self, project_id: str) -> dict[str, Any]:
        """The project as the projects service shows it; NotFound when it does not know it."""

    async def connection_secret(self, project_id: str, name: str) -> dict[str, Any]:
        """{url, kind} of a project's connection, from the projects service."""

    async def save_pipelines(self, project_id: str, pipelines: list[dict[str, Any]]) -> list[str]:
        """Store generated pipelines ({pipeline_id, name, yaml, description, tags}) in the projects
        service with one command; their ids."""

    async def read_upload(self, path: str) -> str:
        """The text of a file the gateway left in the shared upload folder (`Invalid` outside it)."""


class ProjectRef(BaseModel):
    project_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")


class SideRef(ProjectRef):
    side: Side = "source"


class ClassificationPage(SideRef):
    """A page of a side's classification (tables with their per-column classes), sized for the bus."""

    offset: int = Field(default=0, ge=0)
    limit: int | None = Field(default=None, ge=1)


class CatalogPage(SideRef):
    """One page of a side's catalog: its tables in (schema, name) order, optionally of one schema or
    with names containing `q` (a 500-table catalog is several MiB: more than one bus message)."""

    offset: int = Field(default=0, ge=0)
    limit: int | None = Field(default=None, ge=1, le=5000)
    schema_name: str | None = Field(default=None, alias="schema", max_length=200)
    q: str | None = Field(default=None, max_length=200)


class Extract(SideRef):
    connection: str | None = None  # default: the connection named like the side ("source" / "target")
    schemas: list[str] | None = None
    timeout_seconds: float = Field(default=120.0, gt=0, le=3600)


class UploadDdl(SideRef):
    ddl: str | None = Field(default=None, min_length=1)
    path: str | None = Field(default=None, min_length=1, max_length=4096,
                             description="a DDL file in the upload folder shared with the gateway")
    dialect: str
    database: str | None = None
    default_schema: str | None = None


class Suggest(ProjectRef):
    schema_map: dict[str, str] | None = None
    table_threshold: float = Field(default=0.5, ge=0, le=1)
    column_threshold: float = Field(default=0.55, ge=0, le=1)
    limit: int = Field(default=100, ge=0, le=1000, description="table suggestions in the reply (the rest: the query)")


class Paged(ProjectRef):
    """A page of a long list (table suggestions, approved mappings): a 500-table project's lists are
    several MiB, more than one bus message."""

    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=1000)


def suggestions_page(found: MappingSuggestions, offset: int, limit: int) -> dict[str, Any]:
    """The suggestions with one page of their tables (bus-sized: `next_offset` says where the next
    page starts, None at the end); `total_tables` counts them all."""
    data = found.model_dump(mode="json")
    tables, following = fit_page(data["tables"], offset, limit)
    return {**data, "tables": tables, "total_tables": len(found.tables), "offset": offset, "limit": limit,
            "next_offset": following}


class Reject(ProjectRef):
    source_table: str = Field(min_length=1)
    target_table: str = Field(min_length=1)


class Infer(SideRef):
    join_pairs: list[JoinPair] = Field(default_factory=list)
    measure_inclusion: bool = False
    connection: str | None = None
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    timeout_seconds: float = Field(default=120.0, gt=0, le=3600)


class Generate(ProjectRef):
    save: bool = True
    connection_urls: dict[str, str] | None = None  # URLs written into the YAML; default ${SOURCE_URL} / ${TARGET_URL}


class Automate(ProjectRef):
    source_connection: str = "source"
    target_connection: str = "target"
    source_schemas: list[str] | None = None
    target_schemas: list[str] | None = None
    extract: bool = True  # False: use catalogs already extracted or uploaded as DDL
    auto_approve_threshold: float = Field(default=0.8, ge=0, le=1)
    schema_map: dict[str, str] | None = None
    join_pairs: list[JoinPair] = Field(default_factory=list)
    measure_inclusion: bool = False
    save: bool = True
    connection_urls: dict[str, str] | None = None
    timeout_seconds: float = Field(default=120.0, gt=0, le=3600)


class JobRef(ProjectRef):
    job_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")


class TargetDdlQuery(ProjectRef):
    target: str
    schema_map: dict[str, str] | None = None
    case: str | None = Field(default=None, pattern=r"^(upper|lower|preserve)$")


# --- talking to databases --------------------------------------------------------------------


def describe(exc: BaseException) -> str:
    """One line saying what went wrong (never a traceback, never a URL with its secret)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:500]


async def introspect(
    url: str, schemas: list[str] | None, on_done: Callable[[dict[str, int]], Awaitable[None]] | None = None
) -> Catalog:
    """The catalog of the given schemas, or of every schema, in one introspection (the connectors
    read every schema with one set of catalog queries: a query per schema would be N round trips and
    N progress commits racing the other side's). `on_done({schema: tables})` is awaited after."""
    from ombudsman.engine.connectors import connect

    async with connect(url) as db:
        catalog: Catalog = await db.introspect(schemas or None)
    if schemas and on_done is not None:
        counts = {schema: 0 for schema in schemas}
        lowered = {schema.lower(): schema for schema in schemas}
        for table in catalog.tables:
            name = lowered.get(table.schema_name.lower())
            if name is not None:
                counts[name] += 1
        await on_done(counts)
    return catalog


INCLUSION_SAMPLE_ROWS = 100_000  # child rows checked per candidate: big facts stay cheap


async def measure_inclusion(url: str, rels: list[Relationship],
                            sample_rows: int | None = INCLUSION_SAMPLE_ROWS) -> list[Relationship]:
    """Each relationship with data evidence: child values missing from the parent, counted in the
    database (at most `sample_rows` child rows each)."""
    from ombudsman.engine.connectors import connect

    measured: list[Relationship] = []
    async with connect(url) as db:
        for rel in rels:
            rows = await db.fetch_rows(relationships.inclusion_query(rel, db.dialect, sample_rows))
            total, orphans = (int(rows[0][0] or 0), int(rows[0][1] or 0)) if rows else (0, 0)
            measured.append(relationships.apply_inclusion(rel, total, orphans))
    return measured


# --- handlers --------------------------------------------------------------------------------


class Handlers(KeyHandlers):
    """Every command and query of the metadata service (keys: key_handlers.py)."""

    def __init__(self, ports: Ports):
        self.ports = ports

    async def _append(self, state: MetadataState, events: Sequence[Event], meta: Metadata) -> None:
        """Store events after `state.version` (Conflict if the stream moved) and fold them into `state`."""
        if not events:
            return
        await self.ports.append(state, events, meta)
        for event in events:
            state.apply(event)
            state.version += 1

    async def _commit(
        self, project: str, decide: Callable[[MetadataState], Sequence[Event]], meta: Metadata
    ) -> MetadataState:
        """Load the project's state, decide, append; on a concurrent append decide again on the fresh state."""

        async def attempt() -> MetadataState:
            state = await self.ports.load(project)
            await self._append(state, decide(state), meta)
            return state

        return await retry_conflicts(attempt, stream_id=project)

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[Any]:
        async with self.ports.reader() as conn:
            yield conn

    async def _catalog(self, project: str, side: Side) -> Catalog:
        async with self._read() as conn:
            catalog = await read.load_catalog(conn, project, side)
        if catalog is None:
            raise NotFound(f"project {project!r} has no {side} catalog yet: extract or upload DDL first",
                           {"project_id": project, "side": side})
        return catalog

    async def _record_catalog(
        self, project: str, side: Side, catalog: Catalog, meta: Metadata, dialect: str | None = None
    ) -> dict[str, Any]:
        async with self._read() as conn:
            previous = await read.load_catalog(conn, project, side)
        diff = diff_catalogs(previous, catalog)
        await self._commit(project, lambda s: domain.record_catalog(project, side, catalog, diff, dialect=dialect), meta)
        return {
            "side": side, "kind": catalog.kind, "schemas": catalog.schemas, "tables": len(catalog.tables),
            "columns": sum(len(t.columns) for t in catalog.tables), "changes": diff.summary(),
        }

    # commands ------------------------------------------------------------------------------

    async def extract(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Introspect one side through its connection; the catalog, its changes and a summary event."""
        cmd = parse(Extract, payload)
        return await self._extract(cmd.project_id, cmd.side, cmd.connection or cmd.side, cmd.schemas,
                                   cmd.timeout_seconds, meta)

    async def _extract(
        self, project: str, side: Side, connection: str, schemas: list[str] | None, limit_s: float, meta: Metadata
    ) -> dict[str, Any]:
        found = await self.ports.require_project(project)
        secret = await self.ports.connection_secret(project, connection)
        # the schemas asked for, else the project's schemas of that side, else every schema
        schemas = schemas or list(found.get(f"{side}_schemas") or []) or secret.get("schemas") or None
        await self._commit(
            project, lambda s: [ev.MetadataExtractionStarted(project_id=project, side=side, schemas=schemas or [])], meta
        )
        async def progressed(counts: dict[str, int]) -> None:
            events = [ev.MetadataExtractionProgressed(project_id=project, side=side, schema_name=schema, tables=tables,
                                                      done=done, total=len(counts))
                      for done, (schema, tables) in enumerate(counts.items(), start=1)]
            await self._commit(project, lambda s: events, meta)  # one commit for the side

        try:
            catalog = await asyncio.wait_for(introspect(secret["url"], schemas, progressed), limit_s)
        except (Exception, TimeoutError) as exc:
            reason = exc.message if isinstance(exc, OmbudsmanError) else describe(exc)
            error = f"cannot extract the {side} catalog over connection {connection!r}: {reason}"
            await self._commit(project, lambda s: [ev.MetadataExtractionFailed(project_id=project, side=side,
                                                                               error=error)], meta)
            raise Unavailable(error, {"side": side, "connection": connection}) from None
        recorded = await self._record_catalog(project, side, catalog, meta)
        recorded["keys"] = await self._discover_after_extract(project, side, catalog, secret["url"], limit_s, meta)
        return recorded

    async def upload_ddl(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Parse uploaded CREATE TABLE statements into the side's catalog."""
        cmd = parse(UploadDdl, payload)
        if (cmd.ddl is None) == (cmd.path is None):
            raise Invalid("give either ddl (the statements) or path (a file in the upload folder)", {"field": "ddl"})
        dialect = normalise_dialect(cmd.dialect)
        await self.ports.require_project(cmd.project_id)
        text_ = cmd.ddl if cmd.ddl is not None else await self.ports.read_upload(cmd.path or "")
        catalog = await asyncio.to_thread(parse_ddl, text_, dialect, database=cmd.database,
                                          default_schema=cmd.default_schema)
        return await self._record_catalog(cmd.project_id, cmd.side, catalog, meta, dialect=dialect)

    async def suggest(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Suggest schema, table and column mappings from the two catalogs."""
        cmd = parse(Suggest, payload)
        return suggestions_page(await self._suggest(cmd, meta), 0, cmd.limit)

    async def _suggest(self, cmd: Suggest, meta: Metadata) -> MappingSuggestions:
        state = await self.ports.load(cmd.project_id)
        domain.require_catalogs(state, "source", "target")
        source, target = await self._catalog(cmd.project_id, "source"), await self._catalog(cmd.project_id, "target")
        suggestions = await asyncio.to_thread(
            suggest_mappings, source, target, schema_map=cmd.schema_map, table_threshold=cmd.table_threshold,
            column_threshold=cmd.column_threshold)
        await self._commit(cmd.project_id, lambda s: domain.record_suggestions(s, suggestions), meta)
        return suggestions

    async def approve(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Approve or correct a table mapping (columns default to the suggestion's)."""
        cmd = parse(domain.ApproveMapping, payload)
        state = await self.ports.load(cmd.project_id)
        domain.require_catalogs(state, "source", "target")
        source, target = await self._catalog(cmd.project_id, "source"), await self._catalog(cmd.project_id, "target")
        suggested: dict[str, str] = {}
        if cmd.columns is None:
            async with self._read() as conn:
                suggestions = await read.load_suggestions(conn, cmd.project_id)
            match = suggestions.table(cmd.source_table) if suggestions else None
            if match is not None and match.target_table.lower() == cmd.target_table.lower():
                suggested = match.column_map()
                if cmd.confidence is None:
                    cmd.confidence = match.confidence
            else:
                src = source.table(*cmd.source_table.rsplit(".", 1)) if "." in cmd.source_table else None
                tgt = target.table(*cmd.target_table.rsplit(".", 1)) if "." in cmd.target_table else None
                if src is not None and tgt is not None:
                    pairs, _, _ = suggest_columns(src, source.kind, tgt, target.kind)
                    suggested = {p.source: p.target for p in pairs}
        decided: list[Event] = []

        def decide(fresh: MetadataState) -> list[Event]:
            decided[:] = domain.approve(fresh, cmd, source, target, suggested)
            return decided

        state = await self._commit(cmd.project_id, decide, meta)
        approval = state.approved.get(cmd.source_table.lower())
        return {"changed": bool(decided), "mapping": approval.model_dump(mode="json") if approval else None}

    async def reject(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        cmd = parse(Reject, payload)
        decided: list[Event] = []

        def decide(fresh: MetadataState) -> list[Event]:
            decided[:] = domain.reject(fresh, cmd.source_table, cmd.target_table)
            return decided

        await self._commit(cmd.project_id, decide, meta)
        return {"changed": bool(decided)}

    async def exclude(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Exclude a source table, or some of its columns, from coverage (a note says why); `withdraw`
        takes it back. The next generated coverage check no longer reports what is excluded."""
        cmd = parse(domain.ExcludeMapping, payload)
        source = await self._catalog(cmd.project_id, "source")
        decided: list[Event] = []

        def decide(fresh: MetadataState) -> list[Event]:
            decided[:] = domain.exclude(fresh, cmd, source)
            return decided

        state = await self._commit(cmd.project_id, decide, meta)
        found = state.excluded.get(cmd.source_table.lower())
        return {"changed": bool(decided), "exclusion": found.model_dump(mode="json") if found else None}

    async def infer_relationships(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Declared, named, workload (and optionally measured) relationships of one side."""
        cmd = parse(Infer, payload)
        rels = await self._infer(cmd.project_id, cmd.side, cmd.join_pairs, cmd.measure_inclusion,
                                 cmd.connection or cmd.side, cmd.min_confidence, cmd.timeout_seconds, meta)
        return {"relationships": [r.model_dump(mode="json") for r in rels]}

    async def _infer(
        self, project: str, side: Side, pairs: list[JoinPair], measure: bool, connection: str, min_confidence: float,
        limit_s: float, meta: Metadata,
    ) -> list[Relationship]:
        catalog = await self._catalog(project, side)
        if not pairs:  # the joins the workload service learned (WorkloadDetailsRecorded, consumed)
            async with self._read() as conn:
                pairs = await load_join_pairs(conn, project)
            # spelled as the catalog has them now (a workload analysed before the catalog existed)
            pairs = workload_plan.resolve_pairs(pairs, catalog)
        rels = relationships.infer(catalog, pairs, min_confidence=0.0)
        if measure:
            secret = await self.ports.connection_secret(project, connection)
            try:
                rels = await asyncio.wait_for(measure_inclusion(secret["url"], rels), limit_s)
            except (Exception, TimeoutError) as exc:
                raise Unavailable(f"cannot measure value inclusion on {side}: {describe(exc)}", {"side": side}) from None
        rels = [r for r in rels if r.confidence >= min_confidence]
        await self._commit(project, lambda s: domain.record_relationships(s, side, rels), meta)
        return rels

    async def classify(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Classify the tables of one side (fact, dimension, bridge, staging; keys; SCD2)."""
        cmd = parse(SideRef, payload)
        classes = await self._classify(cmd.project_id, cmd.side, meta)
        # per-column classes are read with the `classification` query (paged): 900 tables' columns
        # would not fit one reply
        return {"tables": [c.model_dump(mode="json", exclude={"columns"}) for c in classes],
                "counts": classify_mod.counts(classes)}

    async def _classify(self, project: str, side: Side, meta: Metadata) -> list[classify_mod.TableClass]:
        catalog = await self._catalog(project, side)
        async with self._read() as conn:
            rels = await read.load_relationships(conn, project, side)
        if not rels:
            rels = relationships.infer(catalog)
        classes = classify_mod.classify(catalog, rels)
        await self._commit(project, lambda s: domain.record_classification(s, side, classes), meta)
        return classes

    async def generate_pipelines(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """One pipeline per approved mapping; saved in the projects service unless `save` is false.

        The reply lists each pipeline's id, name, steps and skipped validators; its YAML only when
        not saved (saved ones are read with the projects service's `pipeline` query)."""
        cmd = parse(Generate, payload)
        return await self._generate(cmd.project_id, cmd.save, cmd.connection_urls, meta)

    async def _generate(
        self, project: str, save: bool, urls: dict[str, str] | None, meta: Metadata
    ) -> dict[str, Any]:
        pipelines, missing, merged = await self._build_pipelines(project, urls)
        ids = await self._save_generated(project, pipelines, save, meta)
        # saved pipelines are read back from the projects service: the reply stays small for big projects
        omit = {"yaml"} if save else set()
        return {"pipeline_ids": ids, "pipelines": [p.model_dump(mode="json", exclude=omit) for p in pipelines],
                "uncovered": missing.model_dump(mode="json"), "workload": merged.summary()}

    async def _build_pipelines(
        self, project: str, urls: dict[str, str] | None
    ) -> tuple[list[generate.GeneratedPipeline], coverage.Uncovered, workload_plan.MergeReport]:
        """One pipeline per approved mapping (with the workload's steps: workload_plan.py), and the
        coverage check of what is neither mapped nor excluded."""
        source, target = await self._catalog(project, "source"), await self._catalog(project, "target")
        async with self._read() as conn:
            approved = read.approved_mappings(await read.load_approved(conn, project))
            rels = await read.load_relationships(conn, project, "source")
            classes = await read.load_classes(conn, project, "source")
            excluded = await read.load_exclusions(conn, project)
            plan = await workload_plan.load_plan(conn, project)
        if not rels:
            rels = relationships.infer(source)
        if not classes:
            classes = classify_mod.classify(source, rels)
        keys = await self._effective_keys(project, source)
        pipelines = await asyncio.to_thread(generate.generate_pipelines, approved, source, target, classes, rels,
                                            connections=urls, keys=keys)
        merged = await asyncio.to_thread(workload_plan.merge, pipelines, plan, approved, source, target, classes)
        missing = coverage.uncovered(source, approved, excluded)
        checked = coverage.build_coverage_pipeline(source, target, approved, excluded, connections=urls)
        if checked is not None and pipelines:
            pipelines.append(checked)
        return pipelines, missing, merged

    async def _save_generated(
        self, project: str, pipelines: list[generate.GeneratedPipeline], save: bool, meta: Metadata
    ) -> list[str]:
        """Save the pipelines in the projects service (unless not `save`) and record `PipelinesGenerated`."""
        ids = [p.pipeline_id for p in pipelines]
        if save:
            # chunks keep each command well inside one message and one short transaction
            ids = [
                pipeline_id
                for start in range(0, len(pipelines), SAVE_CHUNK)
                for pipeline_id in await self.ports.save_pipelines(project, [
                    p.model_dump(include={"pipeline_id", "name", "yaml", "description", "tags"})
                    for p in pipelines[start:start + SAVE_CHUNK]
                ])
            ]
        await self._commit(project, lambda s: domain.pipelines_generated(s, ids), meta)
        return ids

    async def automate(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Start an automate job (extract → suggest → auto-approve → relationships → classify → generate →
        save) in the background; answers `{job_id, project_id, status}` at once. `Conflict` (with the
        running job's id) while another job of the project runs."""
        cmd = parse(Automate, payload)
        await self.ports.require_project(cmd.project_id)
        job_id = f"aj-{new_id()}"
        options = cmd.model_dump(mode="json", exclude={"project_id", "connection_urls"})
        await self.ports.append_stream(job_id, 0, [ev.AutomateStarted(project_id=cmd.project_id, job_id=job_id,
                                                                       options=options)], meta)
        self.ports.spawn(job_id, automate_job.run(self, cmd, job_id, meta))
        return {"job_id": job_id, "project_id": cmd.project_id, "status": "running"}

    async def run_automate(
        self, cmd: Automate, meta: Metadata, phase_done: automate_job.PhaseDone
    ) -> dict[str, Any]:
        """The phases of an automate job in order; `phase_done(phase, counts)` is awaited after each
        (it times them). Returns the job's summary."""
        project = cmd.project_id
        project_info = await self.ports.require_project(project)
        extracted: list[dict[str, Any]] = []
        if cmd.extract:
            # the two sides in parallel; each appends its own events (a conflict on the shared stream retries)
            extracted = list(await asyncio.gather(
                self._extract(project, "source", cmd.source_connection, cmd.source_schemas, cmd.timeout_seconds, meta),
                self._extract(project, "target", cmd.target_connection, cmd.target_schemas, cmd.timeout_seconds, meta),
            ))
        await phase_done("extract", {"sides": len(extracted), "tables": sum(e["tables"] for e in extracted),
                                     "columns": sum(e["columns"] for e in extracted)})
        # the schema pairs given, else the project's schema mappings (`ombudsman schemas map`)
        schema_map = cmd.schema_map or dict(project_info.get("schema_mappings") or {}) or None
        found = await self._suggest(Suggest(project_id=project, schema_map=schema_map), meta)
        approved = await self._auto_approve(project, found.tables, cmd.auto_approve_threshold, meta)
        await phase_done("suggest", {"suggested": len(found.tables), "auto_approved": approved})
        rels = await self._infer(project, "source", cmd.join_pairs, cmd.measure_inclusion, cmd.source_connection,
                                 0.5, cmd.timeout_seconds, meta)
        await phase_done("relationships", {"relationships": len(rels)})
        classes = await self._classify(project, "source", meta)
        await phase_done("classify", classify_mod.counts(classes))
        pipelines, missing, merged = await self._build_pipelines(project, cmd.connection_urls)
        await phase_done("generate", {"pipelines": len(pipelines), "workload_steps": merged.summary()["steps"]})
        ids = await self._save_generated(project, pipelines, cmd.save, meta)
        await phase_done("save", {"saved": len(ids) if cmd.save else 0})
        return {
            "extracted": extracted,
            "suggested": len(found.tables),
            "auto_approved": approved,
            "relationships": len(rels),
            "classes": classify_mod.counts(classes),
            "pipeline_ids": ids,
            "skipped": {p.pipeline_id: p.skipped for p in pipelines if p.skipped},
            # source tables and columns neither mapped nor excluded: the coverage pipeline fails for each
            "uncovered": missing.model_dump(mode="json"),
            # the workload's checks added to the pipelines of their tables (workload_plan.py)
            "workload": merged.summary(),
        }

    async def _auto_approve(
        self, project: str, tables: list[TableSuggestion], threshold: float, meta: Metadata
    ) -> int:
        """Approve every suggested table pair at or above `threshold` in one commit; how many."""
        candidates = [
            domain.ApproveMapping(
                project_id=project, source_table=t.source_table, target_table=t.target_table,
                columns=t.column_map(), confidence=t.confidence, automatic=True,
            )
            for t in tables if t.confidence >= threshold
        ]
        if not candidates:
            return 0
        source, target = await self._catalog(project, "source"), await self._catalog(project, "target")
        decided: list[Event] = []

        def decide(fresh: MetadataState) -> list[Event]:
            decided[:] = [
                event
                for c in candidates
                # a person's decision (approval or rejection) is never overwritten by automation
                if c.source_table.lower() not in fresh.approved
                and (c.source_table.lower(), c.target_table.lower()) not in fresh.rejected
                for event in domain.approve(fresh, c, source, target, {})
            ]
            return decided

        await self._commit(project, decide, meta)
        return len(decided)

    # queries -----------------------------------------------------------------------------

    async def catalog(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """A side's catalog, or one page of its tables (`offset`, `limit`, `schema`, `q`), with
        `total_tables` counting the tables that match."""
        cmd = parse(CatalogPage, payload)
        catalog = await self._catalog(cmd.project_id, cmd.side)
        tables = sorted(catalog.tables, key=lambda t: (t.schema_name.lower(), t.name.lower()))
        if cmd.schema_name:
            tables = [t for t in tables if t.schema_name.lower() == cmd.schema_name.lower()]
        if cmd.q:
            tables = [t for t in tables if cmd.q.lower() in t.name.lower()]
        data = catalog.model_copy(update={"tables": tables}).model_dump(mode="json")
        page, following = fit_page(data["tables"], cmd.offset, cmd.limit or len(tables) or 1)
        page = await self._annotate_keys(cmd.project_id, cmd.side, page, catalog)
        return {**data, "tables": page, "total_tables": len(tables), "offset": cmd.offset, "limit": cmd.limit,
                "next_offset": following}

    async def changes(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        cmd = parse(SideRef, payload)
        async with self._read() as conn:
            diff = await read.load_changes(conn, cmd.project_id, cmd.side)
        if diff is None:
            raise NotFound(f"project {cmd.project_id!r} has no {cmd.side} catalog yet", {"side": cmd.side})
        return diff.model_dump(mode="json")

    async def suggestions(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """The latest suggestions, a page of tables at a time (`offset`, `limit`; `total_tables`)."""
        cmd = parse(Paged, payload)
        async with self._read() as conn:
            found = await read.load_suggestions(conn, cmd.project_id)
        if found is None:
            raise NotFound(f"project {cmd.project_id!r} has no mapping suggestions yet", {"project_id": cmd.project_id})
        return suggestions_page(found, cmd.offset, cmd.limit)

    async def mappings(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Approved mappings, a page at a time (`offset`, `limit`; `total`)."""
        cmd = parse(Paged, payload)
        async with self._read() as conn:
            approved = await read.load_approved(conn, cmd.project_id)
        page, following = fit_page(approved, cmd.offset, cmd.limit)
        return {"mappings": page, "total": len(approved), "offset": cmd.offset, "limit": cmd.limit,
                "next_offset": following}

    async def exclusions(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """What people excluded from coverage (tables, columns, notes)."""
        cmd = parse(ProjectRef, payload)
        async with self._read() as conn:
            found = await read.load_exclusions(conn, cmd.project_id)
        return {"exclusions": [e.model_dump(mode="json") for e in sorted(found.values(),
                                                                        key=lambda e: e.source_table.lower())]}

    async def relationships(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        cmd = parse(SideRef, payload)
        async with self._read() as conn:
            rels = await read.load_relationships(conn, cmd.project_id, cmd.side)
        return {"relationships": [r.model_dump(mode="json") for r in rels]}

    async def classification(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """The classification of a side, table by table with per-column classes, in bus-sized pages
        (`offset`; `next_offset` is None on the last page)."""
        cmd = parse(ClassificationPage, payload)
        async with self._read() as conn:
            classes = await read.load_classes(conn, cmd.project_id, cmd.side)
        items = [c.model_dump(mode="json") for c in classes]
        page, following = fit_page(items, cmd.offset, cmd.limit or len(items) or 1)
        return {"tables": page, "counts": classify_mod.counts(classes), "total": len(items), "next_offset": following}

    async def target_ddl(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        cmd = parse(TargetDdlQuery, payload)
        catalog = await self._catalog(cmd.project_id, "source")
        ddl = target_ddl.generate_target_ddl(catalog, cmd.target, schema_map=cmd.schema_map,
                                             case=cmd.case)  # type: ignore[arg-type]
        return {"target": ddl.target, "sql": ddl.sql, "lossy": [x.model_dump(mode="json") for x in ddl.lossy],
                "tables": ddl.table_names}

    async def dbt_sources(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        cmd = parse(SideRef, payload)
        catalog = await self._catalog(cmd.project_id, cmd.side)
        async with self._read() as conn:
            rels = await read.load_relationships(conn, cmd.project_id, cmd.side)
            classes = await read.load_classes(conn, cmd.project_id, cmd.side)
        rels = rels or relationships.infer(catalog)
        classes = classes or classify_mod.classify(catalog, rels)
        return {"filename": "sources.yml", "yaml": generate.dbt_sources(catalog, classes, rels)}

    async def status(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        cmd = parse(ProjectRef, payload)
        async with self._read() as conn:
            return await read.load_status(conn, cmd.project_id)

    async def automate_job(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """An automate job: status (running, completed, failed), completed phases, summary or error."""
        cmd = parse(JobRef, payload)
        async with self._read() as conn:
            job = await jobs.load_job(conn, cmd.project_id, cmd.job_id)
        if job is None:
            raise NotFound(f"project {cmd.project_id!r} has no automate job {cmd.job_id!r}",
                           {"project_id": cmd.project_id, "job_id": cmd.job_id})
        return job


COMMANDS = ("extract", "upload_ddl", "suggest", "approve", "reject", "exclude", "infer_relationships", "classify",
            "generate_pipelines", "automate", *KEY_COMMANDS)
QUERIES = ("catalog", "changes", "suggestions", "mappings", "exclusions", "relationships", "classification",
           "target_ddl", "dbt_sources", "status", "automate_job", *KEY_QUERIES)

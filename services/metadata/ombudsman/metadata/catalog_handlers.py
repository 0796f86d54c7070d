"""Catalog handlers of the metadata service: extract a side over its connection, upload DDL, read a
catalog (a page at a time), its changes and the extraction status."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import Field

from ombudsman.contracts import events as ev
from ombudsman.contracts.catalog import Catalog
from ombudsman.contracts.commands.metadata import Extract, UploadDdl
from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.replies import Invalid, NotFound, OmbudsmanError, Unavailable
from ombudsman.eventstore.rpc import fit_page
from ombudsman.metadata import projections as read
from ombudsman.metadata.ddl import normalise_dialect, parse_ddl
from ombudsman.metadata.descriptions import annotate_descriptions
from ombudsman.metadata.domain import Side
from ombudsman.metadata.handler_base import ProjectRef, SideRef, describe, parse
from ombudsman.metadata.key_handlers import KeyHandlers


class CatalogPage(SideRef):
    """One page of a side's catalog: its tables in (schema, name) order, optionally of one schema or
    with names containing `q` (a 500-table catalog is several MiB: more than one bus message)."""

    offset: int = Field(default=0, ge=0)
    limit: int | None = Field(default=None, ge=1, le=5000)
    schema_name: str | None = Field(default=None, alias="schema", max_length=200)
    q: str | None = Field(default=None, max_length=200)


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


class CatalogHandlers(KeyHandlers):
    """Extract, upload_ddl; the catalog, changes and status queries (an extraction discovers keys: key_handlers.py)."""

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

    async def catalog(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """A side's catalog, or one page of its tables (`offset`, `limit`, `schema`, `q`), with
        `total_tables` counting the tables that match; each table with its key, each column with its
        approved description and the model's pending draft (descriptions.py)."""
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
        async with self._read() as conn:
            described = await read.load_descriptions(conn, cmd.project_id, cmd.side,
                                                     [f"{t['schema_name']}.{t['name']}" for t in page])
        page = annotate_descriptions(page, described)
        return {**data, "tables": page, "total_tables": len(tables), "offset": cmd.offset, "limit": cmd.limit,
                "next_offset": following}

    async def changes(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        cmd = parse(SideRef, payload)
        async with self._read() as conn:
            diff = await read.load_changes(conn, cmd.project_id, cmd.side)
        if diff is None:
            raise NotFound(f"project {cmd.project_id!r} has no {cmd.side} catalog yet", {"side": cmd.side})
        return diff.model_dump(mode="json")

    async def status(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        cmd = parse(ProjectRef, payload)
        async with self._read() as conn:
            return await read.load_status(conn, cmd.project_id)

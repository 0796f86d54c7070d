"""Key commands and queries of the metadata service (part of `handlers.Handlers`):
`discover_keys`, `confirm_key`, `override_key`, the `keys` query, and the discovery run after a
catalog is extracted. Discovery runs in the databases (engine/keys.py): pushed-down uniqueness
checks, a sample first on big tables.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ombudsman.contracts.catalog import Catalog, TableInfo
from ombudsman.contracts.commands.metadata import ConfirmKey, DiscoverKeys, KeyRef, OverrideKey
from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.pipeline import TableRef
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import Unavailable
from ombudsman.metadata import keys
from ombudsman.metadata import projections as read
from ombudsman.metadata.domain import MetadataState, Side
from ombudsman.metadata.handler_base import HandlerBase, describe, parse
from ombudsman.metadata.keys import KeyRecord, record_key

log = logging.getLogger(__name__)
Found = tuple[Side, str, list[str], dict[str, Any]]  # side, table, columns, evidence


async def discover_side(url: str, side: Side, tables: list[TableInfo], sample_rows: int) -> list[Found]:
    """Keys of tables of one side, each checked on that side's database."""
    from ombudsman.engine.connectors import connect
    from ombudsman.engine.keys import discover_side_key

    found: list[Found] = []
    async with connect(url) as db:
        for table in tables:
            key = await discover_side_key(db, table, side=side, sample_rows=sample_rows)
            if key is not None:
                found.append((side, table.qualified_name, key.columns, key.evidence()))
    return found


async def discover_pair(
    source_url: str, target_url: str, source: TableInfo, target: TableInfo, columns: dict[str, str], sample_rows: int
) -> list[Found]:
    """The key of a mapped pair, unique on both sides (target names through the approved column map):
    one record per side with the same evidence."""
    from ombudsman.engine.connectors import connect
    from ombudsman.engine.keys import discover_key

    async with connect(source_url) as src, connect(target_url) as tgt:
        key = await discover_key(src, tgt, source, TableRef(schema_name=target.schema_name, name=target.name),
                                 column_map=columns, sample_rows=sample_rows)
    if key is None:
        return []
    lowered = {k.lower(): v for k, v in columns.items()}
    target_columns = [lowered.get(c.lower(), c) for c in key.columns]
    evidence = key.evidence() | {"pair": {"source": source.qualified_name, "target": target.qualified_name}}
    return [("source", source.qualified_name, key.columns, evidence),
            ("target", target.qualified_name, target_columns, evidence)]


class KeyHandlers(HandlerBase):
    """Key discovery, confirmation and override."""

    async def _record_found(self, project: str, found: list[Found], meta: Metadata, *, only_changes: bool) -> int:
        """Append KeyDiscovered events for what was found; how many were recorded."""
        recorded: list[Event] = []

        def decide(state: MetadataState) -> list[Event]:
            recorded[:] = [e for side, table, columns, evidence in found
                           for e in keys.discovered(project, side, table, columns, evidence,
                                                    state.keys.get(record_key(side, table)), only_changes=only_changes)]
            return recorded

        if found:
            await self._commit(project, decide, meta)
        return len(recorded)

    async def _discover_after_extract(
        self, project: str, side: Side, catalog: Catalog, url: str, limit_s: float, meta: Metadata
    ) -> dict[str, Any]:
        """Discover keys of the new catalog's tables without a declared key (that no person decided
        on). Never fails the extraction: a problem is reported in the reply and logged."""
        state = await self.ports.load(project)
        tables = [t for t in catalog.tables if keys.needs_discovery(t, state.keys.get(record_key(side, t.qualified_name)))]
        if not tables:
            return {"checked": 0, "discovered": 0}
        try:
            found = await asyncio.wait_for(discover_side(url, side, tables, 100_000), limit_s)
            recorded = await self._record_found(project, found, meta, only_changes=True)
        except (Exception, TimeoutError) as exc:
            log.warning("key discovery on %s of project %s failed: %s", side, project, describe(exc))
            return {"checked": len(tables), "discovered": 0, "error": describe(exc)}
        return {"checked": len(tables), "discovered": len(found), "recorded": recorded}

    async def discover_keys(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Discover keys of a project's tables without a declared key (or of one source `table`):
        a mapped pair is checked on both sides, an unmapped table on its own side. Always records
        what is found (fresh evidence), never over a person's decision."""
        cmd: DiscoverKeys = parse(DiscoverKeys, payload)
        project = cmd.project_id
        await self.ports.require_project(project)
        state = await self.ports.load(project)
        catalogs = {side: await self._catalog(project, side) for side in cmd.sides}
        async with self._read() as conn:
            approved = {m["source_table"].lower(): m for m in await read.load_approved(conn, project)}
        pairs: list[tuple[TableInfo, TableInfo, dict[str, str]]] = []
        single: dict[Side, list[TableInfo]] = {side: [] for side in cmd.sides}
        paired_targets: set[str] = set()
        if "source" in catalogs:
            tables = catalogs["source"].tables
            if cmd.table:
                tables = [keys.find_table(catalogs["source"], cmd.table, "source")]
            for table in tables:
                if not (cmd.table or keys.needs_discovery(table, state.keys.get(record_key("source", table.qualified_name)))):
                    continue
                mapping = approved.get(table.qualified_name.lower())
                target = _mapped_target(catalogs.get("target"), mapping)
                if target is not None and mapping is not None:
                    pairs.append((table, target, dict(mapping.get("columns") or {})))
                    paired_targets.add(target.qualified_name.lower())
                else:
                    single["source"].append(table)
        if "target" in catalogs and not cmd.table:
            single["target"] = [t for t in catalogs["target"].tables if t.qualified_name.lower() not in paired_targets
                                and keys.needs_discovery(t, state.keys.get(record_key("target", t.qualified_name)))]
        urls = {side: (await self.ports.connection_secret(project, side))["url"]
                for side in {*(s for s, t in single.items() if t), *(("source", "target") if pairs else ())}}

        async def run() -> list[Found]:
            found: list[Found] = []
            for source, target, columns in pairs:
                found += await discover_pair(urls["source"], urls["target"], source, target, columns, cmd.sample_rows)
            for side, tables in single.items():
                if tables:
                    found += await discover_side(urls[side], side, tables, cmd.sample_rows)
            return found

        try:
            found = await asyncio.wait_for(run(), cmd.timeout_seconds)
        except (Exception, TimeoutError) as exc:
            raise Unavailable(f"cannot discover keys: {describe(exc)}", {"project_id": project}) from None
        recorded = await self._record_found(project, found, meta, only_changes=False)
        checked = len(pairs) + sum(len(t) for t in single.values())
        return {"checked": checked, "recorded": recorded,
                "keys": [{"side": side, "table": table, "columns": columns, "evidence": evidence}
                         for side, table, columns, evidence in found]}

    async def _decide_key(self, project: str, side: Side, table_name: str, meta: Metadata,
                          decide: Callable[[TableInfo, KeyRecord | None], list[Event]]) -> dict[str, Any]:
        table = keys.find_table(await self._catalog(project, side), table_name, side)
        decided: list[Event] = []

        def decision(state: MetadataState) -> list[Event]:
            decided[:] = decide(table, state.keys.get(record_key(side, table.qualified_name)))
            return decided

        await self._commit(project, decision, meta)
        async with self._read() as conn:
            record = (await read.load_keys(conn, project, side)).get(table.qualified_name.lower())
        return {"changed": bool(decided), "table": table.qualified_name, "side": side,
                "key": keys.key_view(table, record)}

    async def confirm_key(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """A person confirms the discovered key of a table (the actor is the event's)."""
        cmd: ConfirmKey = parse(ConfirmKey, payload)
        return await self._decide_key(cmd.project_id, cmd.side, cmd.table, meta,
                                      lambda table, record: keys.confirm(cmd.project_id, cmd, table, record))

    async def override_key(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """A person sets the key of a table to columns of that side's catalog (the actor is the event's)."""
        cmd: OverrideKey = parse(OverrideKey, payload)
        return await self._decide_key(cmd.project_id, cmd.side, cmd.table, meta,
                                      lambda table, record: keys.override(cmd.project_id, cmd, table, record))

    async def keys(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """The key of every table of one side (or of one `table`): declared, discovered (with its
        evidence), confirmed or overridden (by whom)."""
        cmd = parse(KeysQuery, payload)
        catalog = await self._catalog(cmd.project_id, cmd.side)
        tables = [keys.find_table(catalog, cmd.table, cmd.side)] if cmd.table else catalog.tables
        async with self._read() as conn:
            records = await read.load_keys(conn, cmd.project_id, cmd.side)
        return {"side": cmd.side, "keys": [{"table": t.qualified_name, **keys.key_view(t, records.get(
            t.qualified_name.lower()))} for t in sorted(tables, key=lambda t: t.qualified_name.lower())]}

    async def _effective_keys(self, project: str, source: Catalog) -> dict[str, list[str]]:
        """Lower-case source table → the key generated row_hash steps use."""
        async with self._read() as conn:
            records = await read.load_keys(conn, project, "source")
        return keys.effective_keys(records, source)

    async def _annotate_keys(self, project: str, side: Side, tables: list[dict[str, Any]],
                             catalog: Catalog) -> list[dict[str, Any]]:
        """Catalog tables (JSON) with their `key` (keys.key_view)."""
        async with self._read() as conn:
            records = await read.load_keys(conn, project, side)
        annotated = []
        for item in tables:
            table = catalog.table(item["schema_name"], item["name"])
            view = keys.key_view(table, records.get(table.qualified_name.lower())) if table else None
            annotated.append({**item, "key": view})
        return annotated


class KeysQuery(KeyRef):
    table: str | None = None  # type: ignore[assignment]


def _mapped_target(target: Catalog | None, mapping: dict[str, Any] | None) -> TableInfo | None:
    if target is None or mapping is None or "." not in mapping["target_table"]:
        return None
    schema, name = str(mapping["target_table"]).rsplit(".", 1)
    return target.table(schema, name)


KEY_COMMANDS = ("discover_keys", "confirm_key", "override_key")
KEY_QUERIES = ("keys",)

"""The workload's join pairs, kept by the metadata service for relationship inference.

The workload service publishes what it learned of a workload as `WorkloadDetailsRecorded` events of
kind `model` (chunks of items; items of type `join` carry `left_table`, `left_column`, `right_table`,
`right_column`, `queries`, `executions`). The first chunk of a batch replaces what was recorded of
that workload before. This consumer (on `omb.evt.workload.>`) keeps one document per (workload, join)
in `metadata.documents` (kind `workload_join`); `load_join_pairs` sums them per project. Items of
type `table` and `replay` are kept too, stripped to what automate's workload steps need
(workload_plan.py: kinds `workload_usage`, `workload_replay`; never a literal value).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.subjects import events_filter
from ombudsman.eventstore.projections import Projection
from ombudsman.metadata.projections import DOCUMENTS, _deleted, _docs, _put, ddl
from ombudsman.metadata.relationships import JoinPair
from ombudsman.metadata.workload_plan import REPLAY_KIND, USAGE_KIND, replay_doc, usage_doc

KIND = "workload_join"
CONSUMER = "metadata-workload-joins"
FILTER = events_filter("workload", "*", "WorkloadDetailsRecorded")
_JOIN_FIELDS = ("left_table", "left_column", "right_table", "right_column")


def join_key(workload_id: str, item: dict[str, Any]) -> str:
    """The document key of one join of one workload."""
    return "|".join([workload_id, *(str(item[f]) for f in _JOIN_FIELDS)]).lower()


class WorkloadJoins(Projection):
    """Join pairs per workload, from the workload service's model details (via JetStream)."""

    name = "metadata_workload_joins"
    event_types = frozenset({"WorkloadDetailsRecorded"})
    replay_source = "stream"
    replay_filter = FILTER

    async def setup(self, conn: AsyncConnection) -> None:
        for statement in ddl():
            await conn.execute(text(statement))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"DELETE FROM {DOCUMENTS} WHERE kind IN (:k, :u, :r)"),
                           {"k": KIND, "u": USAGE_KIND, "r": REPLAY_KIND})

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        data = envelope.data
        project, workload = data.get("project_id"), data.get("workload_id")
        if data.get("kind") != "model" or not project or not workload or await _deleted(conn, project):
            return
        if int(data.get("chunk") or 1) == 1:  # a new analysis replaces the workload's joins
            await conn.execute(
                text(f"DELETE FROM {DOCUMENTS} WHERE project_id = :p AND kind IN (:k, :u, :r) AND key LIKE :w"),
                {"p": project, "k": KIND, "u": USAGE_KIND, "r": REPLAY_KIND, "w": f"{str(workload).lower()}|%"},
            )
        for item in data.get("items") or []:
            kept = (usage_doc(workload, item) if item.get("type") == "table"
                    else replay_doc(workload, item) if item.get("type") == "replay" else None)
            if kept is not None:
                kind, name = (USAGE_KIND, kept["table"]) if item["type"] == "table" else (REPLAY_KIND, kept["fingerprint"])
                await _put(conn, project, kind, "", f"{workload}|{name}".lower(), kept, envelope.occurred_at)
                continue
            if item.get("type") != "join" or not all(item.get(f) for f in _JOIN_FIELDS):
                continue
            body = {"workload_id": workload, **{f: item[f] for f in _JOIN_FIELDS},
                    "executions": int(item.get("executions") or 0), "queries": int(item.get("queries") or 0)}
            await _put(conn, project, KIND, "", join_key(workload, item), body, envelope.occurred_at)


async def load_join_pairs(conn: AsyncConnection, project: str) -> list[JoinPair]:
    """The project's join pairs over all its analysed workloads, executions summed."""
    summed: dict[tuple[str, ...], int] = {}
    names: dict[tuple[str, ...], dict[str, Any]] = {}
    for doc in await _docs(conn, project, KIND):
        key = tuple(str(doc[f]).lower() for f in _JOIN_FIELDS)
        summed[key] = summed.get(key, 0) + int(doc.get("executions") or 0)
        names.setdefault(key, doc)
    return [JoinPair(**{f: names[k][f] for f in _JOIN_FIELDS}, executions=n)
            for k, n in sorted(summed.items(), key=lambda kv: (-kv[1], kv[0]))]

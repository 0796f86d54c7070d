"""The workload aggregate: one stream per uploaded workload (stream id = workload id). Pure: no I/O.

Events of a stream, in order:
1. `WorkloadUploaded` + `WorkloadDetailsRecorded(kind=queries)`: the queries grouped by fingerprint;
2. `WorkloadAnalyzed` + `WorkloadDetailsRecorded(kind=model)`: the Workload Data model (again on re-analysis);
3. `ValidationsSuggested` + `WorkloadDetailsRecorded(kind=suggestions)`;
4. `WorkloadPipelineGenerated`, once per pipeline made from the suggestions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import EventEnvelope, new_id
from ombudsman.contracts.registry import Event, decode
from ombudsman.contracts.replies import Conflict, Invalid, NotFound
from ombudsman.workload.model import QueryGroup, WorkloadModel
from ombudsman.workload.replays import replay_items
from ombudsman.workload.suggest import Suggestion

CHUNK_BYTES = 256 * 1024  # one details event stays well under NATS' 1 MiB message limit


@dataclass
class WorkloadState:
    """A workload folded from its events."""

    workload_id: str
    version: int = 0
    project_id: str = ""
    filename: str = ""
    groups: list[dict[str, Any]] = field(default_factory=list)
    model_items: list[dict[str, Any]] = field(default_factory=list)
    suggestion_items: list[dict[str, Any]] = field(default_factory=list)
    analyzed: bool = False
    suggested: bool = False
    pipelines: list[str] = field(default_factory=list)
    _batches: dict[str, str] = field(default_factory=dict)  # kind -> current batch id

    @property
    def exists(self) -> bool:
        return self.version > 0

    def query_groups(self) -> list[QueryGroup]:
        return [QueryGroup.from_dict(g) for g in self.groups]

    def model(self) -> WorkloadModel:
        """The Workload Data model as recorded by the last analysis."""
        if not self.analyzed:
            raise Conflict(f"workload {self.workload_id} is not analysed yet: run analyze first",
                           {"workload_id": self.workload_id})
        return model_from_items(self.model_items, {g["fingerprint"]: g["text"] for g in self.groups})

    def suggestions(self) -> list[Suggestion]:
        if not self.suggested:
            raise Conflict(f"workload {self.workload_id} has no suggestions yet: run suggest first",
                           {"workload_id": self.workload_id})
        return [Suggestion.model_validate(s) for s in self.suggestion_items]

    def apply(self, version: int, event: Event) -> None:
        self.version = version
        if isinstance(event, ev.WorkloadUploaded):
            self.project_id, self.filename = event.project_id, event.filename
        elif isinstance(event, ev.WorkloadAnalyzed):
            self.analyzed = True
        elif isinstance(event, ev.ValidationsSuggested):
            self.suggested = True
        elif isinstance(event, ev.WorkloadDetailsRecorded):
            target = {"queries": self.groups, "model": self.model_items, "suggestions": self.suggestion_items}[event.kind]
            if self._batches.get(event.kind) != event.batch_id:
                self._batches[event.kind] = event.batch_id
                target.clear()
            target.extend(event.items)
        elif isinstance(event, ev.WorkloadPipelineGenerated):
            self.pipelines.append(event.pipeline_id)


class WorkloadAggregate:
    """The Workload aggregate's fold (`ombudsman.eventstore.aggregate.Aggregate`): `apply` changes
    the state it is given."""

    stream_type = "workload"

    def initial(self, stream_id: str) -> WorkloadState:
        return WorkloadState(stream_id)

    def apply(self, state: WorkloadState, envelope: EventEnvelope) -> WorkloadState:
        state.apply(envelope.version, decode(envelope))
        return state


WORKLOAD = WorkloadAggregate()


def require(state: WorkloadState) -> WorkloadState:
    if not state.exists:
        raise NotFound(f"no workload {state.workload_id!r}", {"workload_id": state.workload_id})
    return state


def chunks(items: list[dict[str, Any]], limit: int = CHUNK_BYTES) -> list[list[dict[str, Any]]]:
    """Items split so that each chunk's JSON stays under `limit` bytes (one item alone may exceed it)."""
    out: list[list[dict[str, Any]]] = [[]]
    size = 0
    for item in items:
        item_size = len(json.dumps(item, default=str))
        if out[-1] and size + item_size > limit:
            out.append([])
            size = 0
        out[-1].append(item)
        size += item_size
    return out


def details(workload_id: str, project_id: str, kind: str, items: list[dict[str, Any]]) -> list[Event]:
    batch = new_id()
    parts = chunks(items)
    return [ev.WorkloadDetailsRecorded(workload_id=workload_id, project_id=project_id, kind=kind,  # type: ignore[arg-type]
                                       batch_id=batch, chunk=i, chunks=len(parts), items=part)
            for i, part in enumerate(parts, start=1)]


def upload(state: WorkloadState, project_id: str, filename: str, groups: list[QueryGroup], records: int) -> list[Event]:
    """A new workload from its grouped queries."""
    if state.exists:
        raise Conflict(f"workload {state.workload_id} exists already", {"workload_id": state.workload_id})
    if records == 0:
        raise Invalid(f"{filename}: no queries in the upload", {"field": "content"})
    return [ev.WorkloadUploaded(workload_id=state.workload_id, project_id=project_id, filename=filename, queries=records),
            *details(state.workload_id, project_id, "queries", [g.to_dict() for g in groups])]


def model_items(model: WorkloadModel) -> list[dict[str, Any]]:
    """The model as detail items: totals, then tables, joins, per-query analyses and replays
    (`replays.replay_items`)."""
    items: list[dict[str, Any]] = [{"type": "totals", **model.totals.model_dump(mode="json")}]
    items += [{"type": "table", **t.model_dump(mode="json")} for t in model.tables]
    items += [{"type": "join", **j.model_dump(mode="json")} for j in model.joins]
    items += [{"type": "query", **q.model_dump(mode="json", exclude={"text"})} for q in model.queries]
    # the heaviest queries' SQL, for automate's replay steps (only those without personal literals)
    items += replay_items(model)
    return items


def model_from_items(items: list[dict[str, Any]], texts: dict[str, str] | None = None) -> WorkloadModel:
    """Back from detail items to the model (query texts from the upload when given)."""
    data: dict[str, Any] = {"totals": {}, "tables": [], "joins": [], "queries": []}
    for item in items:
        body = {k: v for k, v in item.items() if k != "type"}
        kind = item.get("type")
        if kind == "totals":
            data["totals"] = body
        elif kind == "table":
            data["tables"].append(body)
        elif kind == "join":
            data["joins"].append(body)
        elif kind == "query":
            body.setdefault("text", (texts or {}).get(body["fingerprint"], ""))
            data["queries"].append(body)
    return WorkloadModel.model_validate(data)


def analyzed(state: WorkloadState, model: WorkloadModel) -> list[Event]:
    require(state)
    return [ev.WorkloadAnalyzed(workload_id=state.workload_id, project_id=state.project_id,
                                queries=model.totals.queries, unparsed=model.totals.unparsed_queries,
                                tables=model.totals.tables),
            *details(state.workload_id, state.project_id, "model", model_items(model))]


def suggested(state: WorkloadState, suggestions: list[Suggestion]) -> list[Event]:
    require(state)
    return [ev.ValidationsSuggested(workload_id=state.workload_id, project_id=state.project_id,
                                    suggestions=len(suggestions)),
            *details(state.workload_id, state.project_id, "suggestions",
                     [s.model_dump(mode="json") for s in suggestions])]


def pipeline_generated(state: WorkloadState, pipeline_id: str, name: str, yaml_text: str, steps: int,
                       saved: bool) -> list[Event]:
    require(state)
    return [ev.WorkloadPipelineGenerated(workload_id=state.workload_id, project_id=state.project_id,
                                         pipeline_id=pipeline_id, name=name, yaml=yaml_text, steps=steps, saved=saved)]

"""The workload stream's decisions and fold: chunked details, re-analysis replacing the model."""

from __future__ import annotations

import pytest

from ombudsman.contracts import events as ev
from ombudsman.contracts.replies import Conflict, Invalid, NotFound
from ombudsman.workload import domain
from ombudsman.workload.analysis import CatalogIndex
from ombudsman.workload.model import QueryGroups, build_model
from ombudsman.workload.upload import read_text
from tests.support import folded
from tests.workload.workload_gen import catalog, to_jsonl, workload


def test_details_are_chunked_under_the_message_limit_and_fold_back() -> None:
    rows = [{"query_sql_text": f"SELECT c{i}, '{'x' * 300}' FROM dbo.t{i}", "count_executions": i + 1}
            for i in range(3000)]
    groups = QueryGroups().extend(read_text(to_jsonl(iter(rows)), "w.jsonl"))
    assert len(groups.groups) == 3000
    state = domain.WorkloadState("w1")
    events = domain.upload(state, "p", "w.jsonl", list(groups.groups.values()), groups.records)
    details = [e for e in events if isinstance(e, ev.WorkloadDetailsRecorded)]
    assert len(details) > 3 and {d.chunks for d in details} == {len(details)}
    assert all(len(d.model_dump_json()) < 300 * 1024 for d in details)
    state = folded(domain.WORKLOAD, "w1", events)
    assert state.version == len(events) and len(state.query_groups()) == 3000
    assert sum(g.executions for g in state.query_groups()) == sum(r["count_executions"] for r in rows)


def test_reanalysis_replaces_the_model_and_order_is_enforced() -> None:
    groups = QueryGroups().extend(read_text(to_jsonl(workload(200)), "w.jsonl"))
    state = domain.WorkloadState("w2")
    history = domain.upload(state, "p", "w.jsonl", list(groups.groups.values()), groups.records)
    state = folded(domain.WORKLOAD, "w2", history)
    with pytest.raises(Conflict, match="not analysed yet"):
        state.model()
    without = build_model(state.query_groups(), CatalogIndex(None))
    with_catalog = build_model(state.query_groups(), CatalogIndex(catalog()))
    history += domain.analyzed(state, without)
    history += domain.analyzed(folded(domain.WORKLOAD, "w2", history), with_catalog)
    state = folded(domain.WORKLOAD, "w2", history)
    model = state.model()
    assert model.tables == with_catalog.tables and model.joins == with_catalog.joins
    assert all(q.text for q in model.queries)  # texts come back from the upload's groups
    with pytest.raises(Conflict, match="exists already"):
        domain.upload(state, "p", "again.jsonl", [], 1)
    with pytest.raises(Invalid, match="no queries"):
        domain.upload(domain.WorkloadState("w3"), "p", "empty.csv", [], 0)
    with pytest.raises(NotFound):
        domain.analyzed(domain.WorkloadState("nope"), model)

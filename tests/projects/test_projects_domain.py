"""The Project aggregate's decisions and fold, without I/O."""

import pytest

from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.registry import envelope_for
from ombudsman.contracts.replies import Conflict, Invalid, NotFound
from ombudsman.eventstore.aggregate import fold
from ombudsman.projects import domain
from ombudsman.projects.domain import PROJECT, ProjectState

ALICE = Metadata(actor=Actor(id="u-alice", name="alice", role="user"))


def play(state: ProjectState, events, stream_id="sales") -> ProjectState:
    envelopes = [
        envelope_for(e, stream_id=stream_id, version=state.version + i + 1, meta=ALICE) for i, e in enumerate(events)
    ]
    return fold(PROJECT, stream_id, envelopes, state.model_copy(deep=True))


def created() -> ProjectState:
    return play(ProjectState(), domain.create(ProjectState(), domain.CreateProject(id="sales", name="Sales DW"), "u-alice"))


def test_create_makes_the_creator_a_member_and_twice_conflicts() -> None:
    state = created()
    assert state.exists and state.name == "Sales DW" and state.members == ["u-alice"] and state.version == 1
    with pytest.raises(Conflict):
        domain.create(state, domain.CreateProject(id="sales", name="again"), "u-bob")


def test_slug_is_enforced() -> None:
    with pytest.raises(ValueError, match="slug"):
        domain.CreateProject(id="Bad Id!", name="x")


def test_update_rejects_unknown_fields_and_drops_no_op_changes() -> None:
    state = created()
    with pytest.raises(Invalid, match="members"):
        domain.update(state, "sales", {"members": ["x"]})
    assert domain.update(state, "sales", {"name": "Sales DW"}) == []
    state = play(state, domain.update(state, "sales", {"name": "Sales", "target_schemas": ["ANALYTICS"]}))
    assert state.name == "Sales" and state.target_schemas == ["ANALYTICS"] and state.version == 2


def test_connection_events_carry_only_the_masked_url() -> None:
    state = created()
    cmd = domain.AddConnection(project_id="sales", name="target", url="snowflake://bob:hunter2@acct/DB/PUBLIC?password=x")
    [event] = domain.add_connection(state, cmd)
    assert "hunter2" not in event.model_dump_json() and event.kind == "snowflake"
    assert event.url_masked == "snowflake://bob:****@acct/DB/PUBLIC?password=****"
    state = play(state, [event])
    with pytest.raises(Conflict):
        domain.add_connection(state, cmd)
    with pytest.raises(Invalid, match="scheme"):
        domain.add_connection(state, domain.AddConnection(project_id="sales", name="x", url="oracle://h/db"))


def test_delete_cascades_pipelines_and_mappings_and_then_everything_is_not_found() -> None:
    state = created()
    _, saved = domain.save_pipeline(state, domain.SavePipeline(project_id="sales", name="Orders checks", yaml="name: x"))
    state = play(state, saved + domain.set_schema_mapping(state, "sales", "dbo", "PUBLIC"))
    assert list(state.pipelines) == ["orders-checks"] and state.schema_mappings == {"dbo": "PUBLIC"}
    state = play(state, domain.delete(state, "sales"))
    assert state.deleted and state.pipelines == {} and state.schema_mappings == {}
    with pytest.raises(NotFound):
        domain.update(state, "sales", {"name": "y"})


def test_mask_url_keeps_urls_without_secrets_unchanged() -> None:
    assert domain.mask_url("duckdb:///tmp/x.db") == "duckdb:///tmp/x.db"
    assert domain.mask_url("mssql+pyodbc://sa:P%40ss@h:1433/db?driver=X") == "mssql+pyodbc://sa:****@h:1433/db?driver=X"


def test_update_refuses_null_or_wrongly_typed_values() -> None:
    state = created()
    for bad in ({"name": None}, {"name": "   "}, {"source_schemas": "dbo"}, {"description": None}):
        with pytest.raises(Invalid):
            domain.update(state, "sales", bad)
    [event] = domain.update(state, "sales", {"target_database": None, "description": "d"})
    assert event.changes == {"description": "d"}


def test_a_member_added_then_removed_and_removing_a_stranger_is_not_found() -> None:
    state = play(created(), domain.add_member(created(), "sales", "u-bob"))
    assert state.members == ["u-alice", "u-bob"]
    assert domain.add_member(state, "sales", "u-bob") == []  # already a member: nothing happens
    state = play(state, domain.remove_member(state, "sales", "u-bob"))
    assert state.members == ["u-alice"]
    with pytest.raises(NotFound, match="not a member"):
        domain.remove_member(state, "sales", "u-bob")

"""Each service's shapes are stated once (contracts.commands): the service's commands, the gateway's
bodies and the SDK's requests enforce the same limits."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from ombudsman.client.sdk import ApiError, OmbudsmanClient
from ombudsman.contracts.commands import executor as x
from ombudsman.contracts.commands import metadata as m
from ombudsman.contracts.commands import projects as c
from ombudsman.contracts.replies import Invalid
from ombudsman.eventstore.aggregate import registered
from ombudsman.gateway.routes.connections import ConnectionIn
from ombudsman.gateway.routes.keys import ConfirmIn, DiscoverIn, OverrideIn
from ombudsman.gateway.routes.mappings import ExclusionIn, MappingDecision, SuggestIn
from ombudsman.gateway.routes.pipelines import PipelineIn
from ombudsman.gateway.routes.projects import ProjectIn, ProjectPatch
from ombudsman.gateway.routes.results import BatchScheduleIn, DecisionIn
from ombudsman.gateway.routes.runs import RunIn
from ombudsman.projects import domain
from ombudsman.projects.domain import PROJECT, ProjectState

LONG = "x" * 201


def _properties(model: type) -> dict:
    return model.model_json_schema()["properties"]


@pytest.mark.parametrize(("body", "command", "url_fields"), [
    (ProjectIn, c.CreateProject, set()),
    (ConnectionIn, c.AddConnection, {"project_id"}),
    (PipelineIn, c.SavePipeline, {"project_id"}),
    (RunIn, x.QueueRun, {"steps", "max_parallel"}),
    (DecisionIn, x.DiscrepancyDecision, {"discrepancy_id"}),
    (BatchScheduleIn, x.ScheduleBase, set()),
    (SuggestIn, m.Suggest, {"project_id"}),
    (MappingDecision, m.ApproveMapping, {"project_id", "automatic"}),
    (ExclusionIn, m.ExcludeMapping, {"project_id"}),
    (DiscoverIn, m.DiscoverKeys, {"project_id", "timeout_seconds"}),
    (ConfirmIn, m.ConfirmKey, {"project_id"}),
    (OverrideIn, m.OverrideKey, {"project_id"}),
])
def test_gateway_bodies_state_the_commands_fields_with_the_same_limits(body, command, url_fields) -> None:
    commanded = {k: v for k, v in _properties(command).items() if k not in url_fields}
    assert _properties(body) == commanded
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):  # a gateway body refuses the unknown
        body.model_validate({"colour": "red"})


def test_a_database_name_over_200_characters_is_refused_by_the_service_and_the_gateway_alike() -> None:
    fields = {"id": "sales", "name": "Sales", "source_database": LONG}
    for model in (c.CreateProject, ProjectIn):
        with pytest.raises(ValidationError, match="source_database"):
            model.model_validate(fields)
    state = ProjectState(exists=True, id="sales", version=1, name="Sales")
    with pytest.raises(Invalid) as refused:
        domain.update(state, "sales", {"target_database": LONG})
    assert [f["field"] for f in refused.value.details["fields"]] == ["target_database"]
    with pytest.raises(ValidationError, match="target_database"):
        ProjectPatch.model_validate({"target_database": LONG})


def test_null_for_a_required_field_is_refused_on_both_sides_and_the_gateway_knows_status() -> None:
    state = ProjectState(exists=True, id="sales", version=1, name="Sales")
    with pytest.raises(Invalid, match="may be omitted but not null"):
        domain.update(state, "sales", {"name": None})
    with pytest.raises(ValidationError, match="name, status: may be omitted but not null"):
        ProjectPatch.model_validate({"name": None, "status": None})
    assert ProjectPatch.model_validate({"source_database": None}).model_fields_set == {"source_database"}


def test_the_sdk_refuses_what_the_gateway_would_before_sending_anything() -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(201, json={"id": "sales"})

    client = OmbudsmanClient("http://gateway.invalid", transport=httpx.MockTransport(answer))
    with pytest.raises(ApiError) as refused:
        client.create_project("sales", "Sales", source_database=LONG, colour="red")
    assert refused.value.status == 422 and refused.value.code_text == "invalid"
    assert {f["field"] for f in refused.value.details["fields"]} == {"source_database", "colour"}
    with pytest.raises(ApiError, match="name"):
        client.add_connection("sales", "bad name!", "postgresql://h/db")
    assert sent == []
    client.create_project("sales", "Sales", description="d")
    assert len(sent) == 1 and sent[0].read() == b'{"name":"Sales","description":"d","id":"sales"}'


def test_the_project_fold_is_registered_for_the_audit_replay() -> None:
    assert registered()["project"] is PROJECT

"""Each service's shapes are stated once (contracts.commands): the service's commands, the gateway's
bodies and the SDK's requests enforce the same limits."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, get_args

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from ombudsman.audit import handlers as audit_handlers
from ombudsman.client.sdk import ApiError, OmbudsmanClient
from ombudsman.contracts.commands import executor as x
from ombudsman.contracts.commands import metadata as m
from ombudsman.contracts.commands import projects as c
from ombudsman.contracts.commands import workload as w
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.replies import Invalid
from ombudsman.eventstore.aggregate import registered
from ombudsman.executor.handlers import Handlers as ExecutorHandlers
from ombudsman.gateway.app import create_app
from ombudsman.gateway.deps import Principal, current_principal, get_bus
from ombudsman.gateway.routes.automate import AutomateIn
from ombudsman.gateway.routes.connections import ConnectionIn
from ombudsman.gateway.routes.keys import ConfirmIn, DiscoverIn, OverrideIn
from ombudsman.gateway.routes.mappings import ExclusionIn, MappingDecision, SuggestIn
from ombudsman.gateway.routes.pipelines import PipelineIn
from ombudsman.gateway.routes.projects import ProjectIn, ProjectPatch
from ombudsman.gateway.routes.results import BatchScheduleIn, DecisionIn
from ombudsman.gateway.routes.runs import RunIn
from ombudsman.gateway.routes.workloads import GeneratePipelineIn
from ombudsman.gateway.settings import GatewaySettings
from ombudsman.metadata.automate_job import Automate
from ombudsman.metadata.catalog_handlers import CatalogHandlers
from ombudsman.metadata.ddl import DIALECT_ALIASES
from ombudsman.projects import domain
from ombudsman.projects.domain import PROJECT, ProjectState
from ombudsman.workload.handlers import Handlers as WorkloadHandlers

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
    (AutomateIn, Automate, {"project_id", "join_pairs", "measure_inclusion", "save", "connection_urls",
                            "timeout_seconds"}),
    (GeneratePipelineIn, w.GeneratePipeline, {"workload_id", "name", "source_url", "target_url",
                                              "source_identifier_case", "target_identifier_case", "description"}),
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


# --- gateway and service refuse the same bad body alike -------------------------------------------

ADMIN = Metadata(actor=Actor(id="u-admin", name="admin", role="admin"))


class _NoBus:
    """The gateway's bus for the refusal test: a refused body must never reach a service."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a refused body reached the bus ({name})")


@pytest.fixture(scope="module")
def gateway() -> TestClient:
    """The real gateway app (its routes, body models and error handler), signed in as an admin."""
    app = create_app(GatewaySettings(jwt_secret="x" * 48))
    app.dependency_overrides[current_principal] = lambda: Principal("u-admin", "admin", "admin", "jti", 2**31)
    app.dependency_overrides[get_bus] = _NoBus
    return TestClient(app)


def _gateway_refusal(client: TestClient, path: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    reply = client.post(f"/api/v1{path}", json=body)
    assert reply.status_code == 422, reply.text
    fields = reply.json()["error"]["details"]["fields"]
    assert {f["in"] for f in fields} == {"body"}
    return sorted((f["field"], f["message"]) for f in fields)


async def _service_refusal(handle: Callable[[dict[str, Any]], Awaitable[Any]], payload: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(Invalid) as refused:
        await handle(payload)
    return sorted((f["field"], f["message"]) for f in refused.value.details["fields"])


def _workload() -> WorkloadHandlers:
    return WorkloadHandlers(ctx=None, meta=ADMIN)  # type: ignore[arg-type]  # validation comes first


def _executor() -> ExecutorHandlers:
    return ExecutorHandlers(SimpleNamespace(ctx=None, settings=None, runs=None))  # type: ignore[arg-type]


def _metadata() -> CatalogHandlers:
    return CatalogHandlers(None)  # type: ignore[arg-type]


REFUSALS = [
    pytest.param("/projects/p1/workloads", {"filename": "f" * 256, "format": "xml", "content": "SELECT 1"},
                 lambda body: _workload().upload({"project_id": "p1", **body}), ["filename", "format"], id="workload-upload"),
    pytest.param("/workloads/w1/pipeline", {"suggestion_ids": ["s"] * 1001, "schema_map": {"dbo": "a", "DBO": "b"}},
                 lambda body: _workload().generate_pipeline({"workload_id": "w1", **body}), ["schema_map", "suggestion_ids"], id="workload-pipeline"),
    pytest.param("/notifications/subscribe", {"name": "", "event_types": [], "project_id": "p" * 101},
                 lambda body: audit_handlers.add_alert_rule({"id": "r1", **body}, ADMIN, None), ["event_types", "name", "project_id"], id="audit-rule"),
    pytest.param("/audit/archive", {"before": "last tuesday"},
                 lambda body: audit_handlers.archive(body, ADMIN, None), ["before"], id="audit-archive"),
    pytest.param("/projects/p1/extract-metadata", {"side": "middle", "connection": "c" * 64, "schemas": ["s"] * 201},
                 lambda body: _metadata().extract({"project_id": "p1", **body}, ADMIN), ["connection", "schemas", "side"], id="metadata-extract"),
    pytest.param("/projects/p1/ddl", {"side": "middle", "dialect": "oracle", "ddl": "", "database": "d" * 201},
                 lambda body: _metadata().upload_ddl({"project_id": "p1", **body}, ADMIN), ["database", "ddl", "dialect", "side"], id="metadata-ddl"),
    pytest.param("/batches", {"name": " ", "pipelines": [], "max_parallel": 65},
                 lambda body: _executor().create_batch(body, ADMIN), ["max_parallel", "name", "pipelines"], id="executor-batch"),
]


@pytest.mark.parametrize(("path", "body", "service", "wrong"), REFUSALS)
async def test_the_gateway_and_the_service_refuse_a_bad_body_naming_the_same_fields(
        gateway: TestClient, path: str, body: dict[str, Any], service: Callable[..., Awaitable[Any]],
        wrong: list[str]) -> None:
    refused_by_gateway = _gateway_refusal(gateway, path, body)
    assert [field for field, _ in refused_by_gateway] == wrong  # every wrong field named, not only the first
    assert await _service_refusal(service, body) == refused_by_gateway


def test_the_gateway_refuses_unknown_fields_in_a_batchs_pipelines_too(gateway: TestClient) -> None:
    body = {"name": "nightly", "pipelines": [{"project_id": "p1", "pipeline_id": "x", "colour": "red"}]}
    assert _gateway_refusal(gateway, "/batches", body) == [("pipelines.0.colour", "Extra inputs are not permitted")]


def test_the_ddl_dialects_offered_are_the_ones_the_parser_reads() -> None:
    assert set(get_args(m.DdlDialect)) == set(DIALECT_ALIASES)


def test_the_sdk_checks_workload_audit_catalog_and_batch_bodies_before_sending() -> None:
    sent: list[httpx.Request] = []
    client = OmbudsmanClient("http://gateway.invalid",
                             transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200, json={})))
    refusals = {
        "upload_workload": lambda: client.upload_workload("p1", "f" * 256, "SELECT 1", format="xml"),
        "workload_pipeline": lambda: client.workload_pipeline("w1", schema_map={"dbo": "a", "DBO": "b"}),
        "audit_archive": lambda: client.audit_archive("last tuesday"),
        "upload_ddl": lambda: client.upload_ddl("p1", "middle", "oracle", "CREATE TABLE a (x INT)"),
        "extract_metadata": lambda: client.extract_metadata("p1", "middle"),
        "create_batch": lambda: client.create_batch(" ", [], max_parallel=65),
    }
    named = {}
    for name, call in refusals.items():
        with pytest.raises(ApiError) as refused:
            call()
        assert refused.value.status == 422
        named[name] = sorted(f["field"] for f in refused.value.details["fields"])
    assert named == {"upload_workload": ["filename", "format"], "workload_pipeline": ["schema_map"],
                     "audit_archive": ["before"], "upload_ddl": ["dialect", "side"], "extract_metadata": ["side"],
                     "create_batch": ["max_parallel", "name", "pipelines"]}
    assert sent == []
    client.create_batch("nightly", [{"project_id": "p1", "pipeline_id": "x"}])
    assert json.loads(sent[0].read()) == {"name": "nightly", "pipelines": [{"project_id": "p1", "pipeline_id": "x"}],
                                          "max_parallel": 4, "continue_on_error": True, "sequential": False}

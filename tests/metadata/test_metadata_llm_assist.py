"""The language model's help besides mapping pairs, through the real metadata and projects services
(real NATS and PostgreSQL) and the fake model server (tests/metadata/fake_llm.py, real HTTP):
column descriptions drafted, approved or rejected by a person, and shown in the catalog once
approved; a failed step explained and recorded; a custom_query check drafted with its SQL checked
(hostile SQL refused). With no model configured each use is refused with a 409 that says so, and
everything deterministic (a description a person writes) still works."""

from __future__ import annotations

from typing import Any

import nats
import pytest

from ombudsman.contracts.commands.metadata import StepFacts
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.replies import Conflict, Invalid
from ombudsman.contracts.subjects import command_subject, query_subject
from ombudsman.eventstore.rpc import request
from tests.metadata.fake_llm import API_KEY, FakeModel

ANA = Metadata(actor=Actor(id="u-ana", name="ana", role="user"))
SOURCE = """
CREATE TABLE crm.customer (
    customer_id integer PRIMARY KEY,
    full_name varchar(100),
    dob date
);
"""
TARGET = """
CREATE TABLE CRM.CUSTOMER (
    CUSTOMER_ID NUMBER(38,0) PRIMARY KEY,
    FULL_NAME VARCHAR(100),
    DOB DATE
);
"""


@pytest.fixture
def model_on(fake_model: FakeModel, monkeypatch: pytest.MonkeyPatch) -> FakeModel:
    monkeypatch.setenv("OMB_LLM_PROVIDER", "anthropic")
    monkeypatch.setenv("OMB_LLM_BASE_URL", fake_model.url)
    monkeypatch.setenv("OMB_LLM_API_KEY", API_KEY)
    monkeypatch.setenv("OMB_LLM_MODEL", "fake-model-2")
    return fake_model


async def cmd(nc: nats.NATS, name: str, payload: dict[str, Any], service: str = "metadata") -> Any:
    return await request(nc, command_subject(service, name), payload, meta=ANA, timeout=120)


async def qry(nc: nats.NATS, name: str, payload: dict[str, Any], service: str = "metadata") -> Any:
    return await request(nc, query_subject(service, name), payload, meta=ANA, timeout=120)


async def project(nc: nats.NATS, project_id: str, *, approved: bool = False) -> None:
    await cmd(nc, "create", {"id": project_id, "name": project_id}, service="projects")
    await cmd(nc, "upload_ddl", {"project_id": project_id, "side": "source", "dialect": "postgresql", "ddl": SOURCE})
    await cmd(nc, "upload_ddl", {"project_id": project_id, "side": "target", "dialect": "snowflake", "ddl": TARGET})
    if approved:
        await cmd(nc, "approve", {"project_id": project_id, "source_table": "crm.customer",
                                  "target_table": "CRM.CUSTOMER"})


async def catalog_columns(nc: nats.NATS, project_id: str) -> dict[str, dict[str, Any]]:
    found = await qry(nc, "catalog", {"project_id": project_id, "side": "source"})
    return {c["name"]: c for c in found["tables"][0]["columns"]}


FAILED_STEP = {
    "step": "customer_rows", "validator": "row_hash", "table_name": "crm.customer", "status": "failed",
    "severity": "critical",
    "message": "2 of 1000 rows differ (by customer_id; values differ in full_name): 'Ana Pereira' <> 'Ana Perera', "
               "key (customer_id)=(4711), ana.pereira@example.com",
    "result": {"affected_columns": ["full_name"], "match_percentage": 99.8,
               "source": {"rows": 1000, "only_in_source": 1, "max": "Zoe Zed"},
               "target": {"rows": 999, "only_in_target": 0},
               "sample": [{"customer_id": 4711, "full_name": "Ana Pereira", "email": "ana.pereira@example.com"}],
               "sql": {"source": ["SELECT * FROM crm.customer WHERE full_name = 'Ana Pereira'"]}},
}
PERSONAL = ("Ana Pereira", "Ana Perera", "4711", "ana.pereira@example.com", "Zoe Zed")


async def test_without_a_model_each_use_says_so_and_a_person_still_describes(
        bus: nats.NATS, fake_model: FakeModel) -> None:
    await project(bus, "off", approved=True)
    facts = StepFacts.of_step(FAILED_STEP).model_dump(mode="json")
    for name, payload in (("describe_columns", {"table": "crm.customer"}),
                          ("explain_step", {"run_id": "r1", "facts": facts}),
                          ("draft_check", {"sentence": "compare customer counts"})):
        with pytest.raises(Conflict) as refused:
            await cmd(bus, name, {"project_id": "off", **payload})
        assert "no" in refused.value.message and "language model" in refused.value.message
        assert "OMB_LLM_PROVIDER" in refused.value.message and refused.value.details == {"llm": "not configured"}
    assert fake_model.requests == []
    # the deterministic path: a person writes a description; no draft is needed for that
    approved = await cmd(bus, "approve_description", {"project_id": "off", "table": "crm.customer",
                                                      "column": "DOB", "description": "Date of birth."})
    assert approved["changed"] and approved["column"] == "dob"
    assert approved["description_by"]["suggested_by"] == "person"
    columns = await catalog_columns(bus, "off")
    assert columns["dob"]["description"] == "Date of birth." and "description" not in columns["full_name"]
    # approving the model's draft when there is none says so
    with pytest.raises(Conflict, match="no drafted description"):
        await cmd(bus, "approve_description", {"project_id": "off", "table": "crm.customer", "column": "full_name"})


async def test_the_model_drafts_descriptions_and_a_person_approves_or_rejects(
        bus: nats.NATS, model_on: FakeModel) -> None:
    await project(bus, "desc")
    drafted = await cmd(bus, "describe_columns", {"project_id": "desc", "table": "CRM.Customer"})
    assert drafted["suggested_by"] == "model" and drafted["model"] == "fake-model-2"
    assert set(drafted["drafts"]) == {"customer_id", "full_name", "dob"}  # the invented column was dropped
    (asked,) = model_on.requests
    assert asked["path"] == "/v1/messages" and '"full_name"' in str(asked["body"]) and "varchar" in str(asked["body"])

    # drafts are not descriptions: the catalog shows them as drafts only
    columns = await catalog_columns(bus, "desc")
    assert "description" not in columns["dob"]
    assert columns["dob"]["description_draft"] == {**columns["dob"]["description_draft"], "model": "fake-model-2",
                                                   "suggested_by": "model", "text": "dob of crm.customer (date)."}

    approved = await cmd(bus, "approve_description", {"project_id": "desc", "table": "crm.customer", "column": "dob"})
    assert approved["changed"] and approved["description"] == "dob of crm.customer (date)."
    assert approved["description_by"]["suggested_by"] == "model" and approved["description_by"]["model"] == "fake-model-2"
    assert approved["description_by"]["approved_by"] == "ana"
    again = await cmd(bus, "approve_description", {"project_id": "desc", "table": "crm.customer", "column": "dob"})
    assert again["changed"] is False  # the draft is used up; the approved text stays

    rejected = await cmd(bus, "reject_description", {"project_id": "desc", "table": "crm.customer",
                                                     "column": "full_name"})
    assert rejected["changed"] and "description_draft" not in rejected and "description" not in rejected
    edited = await cmd(bus, "approve_description", {"project_id": "desc", "table": "crm.customer",
                                                    "column": "customer_id", "description": "The CRM's customer number."})
    assert edited["description_by"]["suggested_by"] == "person" and edited["description_by"]["model"] is None

    columns = await catalog_columns(bus, "desc")
    assert columns["dob"]["description"] == "dob of crm.customer (date)."
    assert columns["customer_id"]["description"] == "The CRM's customer number."
    assert "description" not in columns["full_name"] and "description_draft" not in columns["full_name"]
    listed = await qry(bus, "descriptions", {"project_id": "desc", "side": "source", "table": "crm.customer"})
    assert [c["column"] for c in listed["tables"][0]["columns"]] == ["customer_id", "dob", "full_name"]

    # dbt's sources.yml documents the approved descriptions, never a draft nor a rejected one
    sources = (await qry(bus, "dbt_sources", {"project_id": "desc", "side": "source"}))["yaml"]
    assert "description: dob of crm.customer (date)." in sources and "The CRM's customer number." in sources
    assert "full_name of crm.customer" not in sources

    # a new upload of the catalog keeps what people decided
    await cmd(bus, "upload_ddl", {"project_id": "desc", "side": "source", "dialect": "postgresql", "ddl": SOURCE})
    columns = await catalog_columns(bus, "desc")
    assert columns["dob"]["description"] == "dob of crm.customer (date)."
    assert "description_draft" not in columns["full_name"]  # rejected stays rejected
    assert columns["customer_id"]["description"] == "The CRM's customer number."

    with pytest.raises(Invalid, match="no column nope"):
        await cmd(bus, "describe_columns", {"project_id": "desc", "table": "crm.customer", "columns": ["nope"]})
    assert len(model_on.requests) == 1  # refused before the model was asked
    one = await cmd(bus, "describe_columns", {"project_id": "desc", "table": "crm.customer", "columns": ["DOB"]})
    assert list(one["drafts"]) == ["dob"] and '"full_name"' not in str(model_on.requests[-1]["body"])


async def test_a_failed_step_is_explained_from_names_and_counts_and_recorded(
        bus: nats.NATS, model_on: FakeModel, database_url: str) -> None:
    import asyncpg

    await project(bus, "explain")
    facts = StepFacts.of_step(FAILED_STEP)
    answer = await cmd(bus, "explain_step", {"project_id": "explain", "run_id": "run-1",
                                             "facts": facts.model_dump(mode="json")})
    assert answer["suggested_by"] == "model" and answer["model"] == "fake-model-2"
    assert answer["explanation"].startswith("Step customer_rows (row_hash) failed")
    assert '"rows": 1000' in answer["explanation"] and "full_name" in answer["explanation"]
    (asked,) = model_on.requests
    sent = str(asked["body"])
    assert "1000" in sent and "only_in_source" in sent and "full_name" in sent  # counts and names go
    for value in PERSONAL:  # values never do: not from the message, the sample, the SQL or a max figure
        assert value not in sent, value
    # even a caller that sends a message with values in it gets them stripped by the command's contract
    raw = {**facts.model_dump(mode="json"), "message": "name 'Ana Pereira' differs for id 4711"}
    await cmd(bus, "explain_step", {"project_id": "explain", "run_id": "run-1", "facts": raw})
    assert "Ana Pereira" not in str(model_on.requests[-1]["body"]) and "4711" not in str(model_on.requests[-1]["body"])

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT data FROM metadata.events WHERE stream_id = 'explain' "
                                "AND event_type = 'StepExplained' ORDER BY version")
    finally:
        await conn.close()
    assert len(rows) == 2
    assert '"model": "fake-model-2"' in rows[0]["data"] and '"run_id": "run-1"' in rows[0]["data"]


async def test_a_check_is_drafted_checked_and_hostile_sql_refused(bus: nats.NATS, model_on: FakeModel) -> None:
    await project(bus, "draft")
    with pytest.raises(Invalid, match="approve the mapping"):
        await cmd(bus, "draft_check", {"project_id": "draft", "sentence": "compare customer counts"})
    await cmd(bus, "approve", {"project_id": "draft", "source_table": "crm.customer", "target_table": "CRM.CUSTOMER"})

    drafted = await cmd(bus, "draft_check", {"project_id": "draft", "sentence": "Compare customer counts!"})
    step = drafted["step"]
    assert drafted["suggested_by"] == "model" and drafted["saved"] is False
    assert drafted["dialects"] == {"source": "postgres", "target": "snowflake"}
    assert step["validator"] == "custom_query" and step["id"] == "model-check-compare-customer-counts"
    assert step["parameters"] == {"source_sql": "SELECT count(*) AS row_count FROM crm.customer",
                                  "target_sql": "SELECT count(*) AS row_count FROM CRM.CUSTOMER"}
    assert "drafted by model fake-model-2" in step["description"]
    asked = str(model_on.requests[-1]["body"])
    assert "FULL_NAME" in asked and '"source_dialect": "postgres"' in asked

    for hostile, reason in (("DELETE FROM crm.customer", "must be a SELECT"),
                            ("SELECT 1 AS a; DROP TABLE crm.customer", "exactly one SELECT"),
                            ("SELECT pg_read_file('/etc/passwd') AS f", "pg_read_file"),
                            ("SELECT count(*) AS n FROM crm.payroll", "does not have"),
                            ("SELEC nothing FROM", "not valid")):
        model_on.draft_sql = hostile
        with pytest.raises(Invalid) as refused:
            await cmd(bus, "draft_check", {"project_id": "draft", "sentence": "compare customer counts"})
        assert "draft was refused" in refused.value.message and reason in refused.value.message, refused.value.message

    # nothing was saved: a draft becomes a check only when a person saves it in a pipeline
    pipelines = await qry(bus, "pipelines", {"project_id": "draft"}, service="projects")
    assert not (pipelines.get("items") if isinstance(pipelines, dict) else pipelines)

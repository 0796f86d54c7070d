"""Mapping suggestions from a language model, through the real metadata and projects services (real
NATS and PostgreSQL) and a fake model server speaking the OpenAI and Anthropic HTTP APIs
(tests/metadata/fake_llm.py). With the model off the matcher's suggestions are unchanged; with it,
the columns the matcher could not pair get the model's pairs, marked "suggested by model", which
become mappings only when a person approves the table (never by automatic approval)."""

from __future__ import annotations

import logging
from typing import Any

import nats
import pytest

from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.subjects import command_subject, query_subject
from ombudsman.eventstore.rpc import request
from tests.metadata.fake_llm import API_KEY, FakeModel
from tests.support import eventually

ANA = Metadata(actor=Actor(id="u-ana", name="ana", role="user"))
SOURCE = """
CREATE TABLE crm.customer (
    customer_id integer PRIMARY KEY,
    full_name varchar(100),
    dob date,
    ltv numeric(12,2)
);
"""
TARGET = """
CREATE TABLE CRM.CUSTOMER (
    CUSTOMER_ID NUMBER(38,0) PRIMARY KEY,
    FULL_NAME VARCHAR(100),
    BIRTH_DATE DATE,
    LIFETIME_VALUE NUMBER(12,2)
);
"""


@pytest.fixture
def model_synonyms() -> dict[str, str]:
    return {"dob": "BIRTH_DATE", "ltv": "LIFETIME_VALUE"}


async def cmd(nc: nats.NATS, service: str, name: str, payload: dict[str, Any]) -> Any:
    return await request(nc, command_subject(service, name), payload, meta=ANA, timeout=120)


async def qry(nc: nats.NATS, name: str, payload: dict[str, Any]) -> Any:
    return await request(nc, query_subject("metadata", name), payload, meta=ANA, timeout=120)


async def project_with_catalogs(nc: nats.NATS, project_id: str) -> None:
    await cmd(nc, "projects", "create", {"id": project_id, "name": project_id})
    await cmd(nc, "metadata", "upload_ddl", {"project_id": project_id, "side": "source", "dialect": "postgresql",
                                             "ddl": SOURCE})
    await cmd(nc, "metadata", "upload_ddl", {"project_id": project_id, "side": "target", "dialect": "snowflake",
                                             "ddl": TARGET})


def columns_of(suggested: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (table,) = suggested["tables"]
    return {c["source"]: c for c in table["columns"]}


async def test_without_a_model_the_matcher_alone_suggests(bus: nats.NATS, fake_model: FakeModel) -> None:
    await project_with_catalogs(bus, "plain")
    suggested = await cmd(bus, "metadata", "suggest", {"project_id": "plain"})
    columns = columns_of(suggested)
    assert set(columns) == {"customer_id", "full_name"}
    assert all("suggested_by" not in c for c in columns.values())  # the matcher's pairs carry no marker
    assert suggested["tables"][0]["unmapped_source_columns"] == ["dob", "ltv"]
    assert fake_model.requests == []


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_the_model_pairs_what_the_matcher_left_and_a_person_approves(
        bus: nats.NATS, fake_model: FakeModel, provider: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OMB_LLM_PROVIDER", provider)
    monkeypatch.setenv("OMB_LLM_BASE_URL", fake_model.url + ("/v1" if provider == "openai" else ""))
    monkeypatch.setenv("OMB_LLM_API_KEY", API_KEY)
    monkeypatch.setenv("OMB_LLM_MODEL", "fake-model-1")
    await project_with_catalogs(bus, f"llm-{provider}")

    suggested = await cmd(bus, "metadata", "suggest", {"project_id": f"llm-{provider}"})
    columns = columns_of(suggested)
    assert {k: v["target"] for k, v in columns.items()} == {
        "customer_id": "CUSTOMER_ID", "full_name": "FULL_NAME", "dob": "BIRTH_DATE", "ltv": "LIFETIME_VALUE"}
    assert columns["dob"]["suggested_by"] == "model" and columns["ltv"]["suggested_by"] == "model"
    assert "suggested by model fake-model-1" in columns["dob"]["evidence"]
    assert "suggested_by" not in columns["customer_id"]  # the matcher's pair: no marker
    assert suggested["tables"][0]["unmapped_source_columns"] == []  # the hallucinated pair was dropped
    # only names and types were sent, with the key in the provider's header
    (asked,) = fake_model.requests
    assert asked["path"] == ("/v1/chat/completions" if provider == "openai" else "/v1/messages")
    assert "BIRTH_DATE" in str(asked["body"]) and "customer_id" in str(asked["body"])
    assert API_KEY not in caplog.text

    # suggestions are not mappings: a person approves the table, and its columns come with it
    mappings = await qry(bus, "mappings", {"project_id": f"llm-{provider}"})
    assert mappings["mappings"] == []
    approved = await cmd(bus, "metadata", "approve", {"project_id": f"llm-{provider}", "source_table": "crm.customer",
                                                      "target_table": "CRM.CUSTOMER"})
    assert approved["mapping"]["columns"]["dob"] == "BIRTH_DATE"


async def test_automatic_approval_never_takes_the_models_pairs(
        bus: nats.NATS, fake_model: FakeModel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMB_LLM_PROVIDER", "openai")
    monkeypatch.setenv("OMB_LLM_BASE_URL", fake_model.url + "/v1")
    monkeypatch.setenv("OMB_LLM_API_KEY", API_KEY)
    monkeypatch.setenv("OMB_LLM_MODEL", "fake-model-1")
    await project_with_catalogs(bus, "auto")
    started = await cmd(bus, "metadata", "automate", {"project_id": "auto", "extract": False,
                                                      "auto_approve_threshold": 0.5})

    async def ended() -> dict[str, Any] | None:
        job = await qry(bus, "automate_job", {"project_id": "auto", "job_id": started["job_id"]})
        return dict(job) if job["status"] != "running" else None

    job = await eventually(ended, timeout=120, interval=0.2, what="the automate job to end")
    assert job["summary"]["auto_approved"] == 1, job
    assert len(fake_model.requests) == 1  # the model was asked, and its pairs stayed suggestions
    mappings = await qry(bus, "mappings", {"project_id": "auto"})
    assert mappings["mappings"][0]["columns"] == {"customer_id": "CUSTOMER_ID", "full_name": "FULL_NAME"}


async def test_a_failing_model_leaves_the_matchers_suggestions(
        bus: nats.NATS, fake_model: FakeModel, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_model.fail_with = 529
    monkeypatch.setenv("OMB_LLM_PROVIDER", "anthropic")
    monkeypatch.setenv("OMB_LLM_BASE_URL", fake_model.url)
    monkeypatch.setenv("OMB_LLM_API_KEY", API_KEY)
    monkeypatch.setenv("OMB_LLM_MODEL", "fake-model-1")
    await project_with_catalogs(bus, "down")
    suggested = await cmd(bus, "metadata", "suggest", {"project_id": "down"})
    assert set(columns_of(suggested)) == {"customer_id", "full_name"}
    assert len(fake_model.requests) == 1

"""Pipelines are validated when saved (gateway + the real projects service): each problem named."""

from __future__ import annotations

from typing import Any

import yaml

from tests.gateway.conftest import Gateway


async def test_a_pipeline_is_checked_against_the_validators_when_saved(gateway: Gateway, projects_service: Any) -> None:
    c = gateway.client
    _owner, auth = await gateway.user("olga")
    assert (await c.post("/api/v1/projects", headers=auth, json={"id": "sales", "name": "Sales"})).status_code == 201
    steps = [
        {"id": "counts", "validator": "record_counts", "table": "main.orders"},
        {"id": "typo", "validator": "record_countz", "table": "main.orders"},
        {"id": "no_column", "validator": "domain_values", "table": "main.orders"},
        {"id": "bad_type", "validator": "distribution", "table": "main.orders",
         "parameters": {"column": "amount", "bins": "many"}},
        {"id": "no_table", "validator": "uniqueness", "parameters": {"columns": ["id"]}},
    ]
    spec = {"name": "checks", "connections": {"source": "${SRC_URL}", "target": "${TGT_URL}"}, "steps": steps}
    r = await c.post("/api/v1/projects/sales/pipelines", headers=auth,
                     json={"name": "checks", "yaml": yaml.safe_dump(spec)})
    assert r.status_code == 422, r.text
    fields = {f["field"]: f["message"] for f in r.json()["error"]["details"]["fields"]}
    assert fields["steps[1].validator"] == "step 'typo': unknown validator 'record_countz'"
    assert fields["steps[2].parameters.column"] == "step 'no_column': field required"
    assert "integer" in fields["steps[3].parameters.bins"]
    assert fields["steps[4].table"].startswith("step 'no_table': field required")
    assert not any(f.startswith("steps[0]") for f in fields)
    assert (await c.get("/api/v1/projects/sales/pipelines", headers=auth)).json()["total"] == 0

    spec["steps"] = steps[:1]
    r = await c.post("/api/v1/projects/sales/pipelines", headers=auth,
                     json={"name": "checks", "yaml": yaml.safe_dump(spec)})
    assert r.status_code == 201, r.text


async def test_the_validator_catalogue_gives_each_validators_parameter_schema(gateway: Gateway,
                                                                             projects_service: Any) -> None:
    """What the Studio's builder generates its forms from: the engine's registry through the projects service."""
    c = gateway.client
    assert (await c.get("/api/v1/validators")).status_code == 401
    _viewer, auth = await gateway.user("vera", "viewer")
    r = await c.get("/api/v1/validators", headers=auth)
    assert r.status_code == 200, r.text
    found = {v["name"]: v for v in r.json()["items"]}
    assert r.json()["total"] == len(found) >= 30
    row_hash = found["row_hash"]
    assert row_hash["category"] == "comparison" and row_hash["needs_table"] is True and row_hash["description"]
    assert {"key", "columns", "float_digits"} <= set(row_hash["parameters"]["properties"])
    assert row_hash["parameters"]["properties"]["float_digits"]["maximum"] == 15
    assert "column" in found["domain_values"]["parameters"]["required"]  # what a saved step is refused without
    assert found["custom_query"]["needs_table"] is False

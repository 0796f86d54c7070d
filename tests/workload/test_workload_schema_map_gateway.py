"""`POST /api/v1/workloads/{id}/pipeline` passes `schema_map` on to the real workload service, and
without one the project's schema mappings (set through the gateway) apply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ombudsman.contracts.pipeline import load_pipeline
from ombudsman.projects import app as projects_app
from ombudsman.workload import app as workload_app
from tests.gateway.conftest import Gateway, gateway, service_settings, workload_settings  # noqa: F401  (fixture)
from tests.workload.workload_gen import to_csv, workload


@pytest.fixture
async def services(database_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[None]:
    started = [projects_app.create_service(service_settings(database_url, nats_url)),
               workload_app.create_service(workload_settings(database_url, nats_url, tmp_path / "uploads"))]
    for service in started:
        await service.start()
    yield
    for service in reversed(started):
        await service.stop()


async def test_the_pipeline_route_takes_a_schema_map(gateway: Gateway, services: None) -> None:  # noqa: F811
    c = gateway.client
    _, auth = await gateway.user("olivia")
    r = await c.post("/api/v1/projects", headers=auth, json={"id": "dw", "name": "DW"})
    assert r.status_code == 201, r.text
    r = await c.put("/api/v1/projects/dw/schema-mappings", headers=auth,
                    json={"source_schema": "dbo", "target_schema": "ANALYTICS"})
    assert r.status_code == 200, r.text
    r = await c.post("/api/v1/projects/dw/workloads", headers=auth,
                     json={"filename": "w.csv", "format": "csv", "content": to_csv(workload(200, seed=9))})
    assert r.status_code == 201, r.text
    workload_id = r.json()["workload_id"]
    for step in ("analyze", "suggest"):  # no metadata service: names only, unqualified ones in dbo
        r = await c.post(f"/api/v1/workloads/{workload_id}/{step}", headers=auth)
        assert r.status_code == 200, r.text

    r = await c.post(f"/api/v1/workloads/{workload_id}/pipeline", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["schema_map_from"] == "project"
    spec = load_pipeline(r.json()["yaml"])
    pairs = {str(s.source_table): str(s.target_table) for s in spec.steps if s.source_table is not None}
    assert pairs["dbo.factsales"] == "ANALYTICS.factsales" and pairs["sales.returns"] == "sales.returns"

    r = await c.post(f"/api/v1/workloads/{workload_id}/pipeline", headers=auth, json={"schema_map": {"DBO": "edw"}})
    assert r.status_code == 200, r.text
    assert r.json()["schema_map"] == {"DBO": "edw"} and r.json()["schema_map_from"] == "request"
    spec = load_pipeline(r.json()["yaml"])
    pairs = {str(s.source_table): str(s.target_table) for s in spec.steps if s.source_table is not None}
    assert pairs["dbo.factsales"] == "edw.factsales"
    replays = [s for s in spec.steps if s.validator == "custom_query"]
    assert replays and all("EDW." in s.parameters["target_sql"] and "DBO." not in s.parameters["target_sql"]
                           for s in replays)

    r = await c.post(f"/api/v1/workloads/{workload_id}/pipeline", headers=auth, json={"schema_map": {"dbo": ""}})
    assert r.status_code == 422 and "schema_map" in r.text
    r = await c.post(f"/api/v1/workloads/{workload_id}/pipeline", headers=auth,
                     json={"schema_map": {"dbo": "a", "DBO": "b"}})
    assert r.status_code == 422 and "mapped twice" in r.text

"""`generate_pipeline` over real NATS JetStream and PostgreSQL maps the target side through the
project's schema mappings (asked from the real projects service), or through the request's
`schema_map`; without the projects service and without a `schema_map` it fails instead of
generating a pipeline that reads the source's schemas on the target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nats
import pytest

from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.pipeline import PipelineSpec, load_pipeline
from ombudsman.contracts.replies import Invalid, Unavailable
from ombudsman.contracts.subjects import command_subject
from ombudsman.eventstore.rpc import request
from ombudsman.eventstore.settings import Settings
from ombudsman.projects.app import create_service as create_projects
from ombudsman.workload.app import create_service as create_workload
from ombudsman.workload.handlers import WorkloadSettings
from tests.workload.workload_gen import catalog, to_csv, workload

ALICE = Metadata(actor=Actor(id="u-alice", name="alice", role="user"))


async def cmd(nc: nats.NATS, service: str, name: str, payload: dict[str, Any]) -> Any:
    return await request(nc, command_subject(service, name), payload, meta=ALICE, timeout=60)


def targets(spec: PipelineSpec) -> dict[str, str]:
    """Each table step's source table -> target table."""
    return {str(s.source_table): str(s.target_table) for s in spec.steps if s.source_table is not None}


async def test_generate_pipeline_maps_schemas_from_the_project_or_the_request(
        nats_url: str, database_url: str, tmp_path: Path) -> None:
    base = {"database_url": database_url, "nats_url": nats_url, "request_timeout": 5.0}
    projects = create_projects(Settings(**base, secret_key="k" * 32))
    workload_service = create_workload(WorkloadSettings(**base, workload_upload_dir=tmp_path / "uploads"))
    await projects.start()
    await workload_service.start()
    nc = await nats.connect(nats_url)
    projects_running = True
    try:
        await cmd(nc, "projects", "create", {"id": "dw", "name": "DW"})
        await cmd(nc, "projects", "set_schema_mapping", {"project_id": "dw", "source_schema": "dbo",
                                                          "target_schema": "ANALYTICS"})
        uploaded = await cmd(nc, "workload", "upload", {"project_id": "dw", "filename": "w.csv",
                                                        "content": to_csv(workload(300, seed=4))})
        workload_id = uploaded["workload_id"]
        await cmd(nc, "workload", "analyze", {"workload_id": workload_id, "catalog": catalog().model_dump(mode="json")})
        await cmd(nc, "workload", "suggest", {"workload_id": workload_id, "catalog": catalog().model_dump(mode="json"),
                                              "top_queries": 3})

        # no schema_map in the request: the project's mappings
        generated = await cmd(nc, "workload", "generate_pipeline", {"workload_id": workload_id})
        assert generated["schema_map"] == {"dbo": "ANALYTICS"} and generated["schema_map_from"] == "project"
        spec = load_pipeline(generated["yaml"])
        assert targets(spec)["dbo.FactSales"] == "ANALYTICS.FactSales"
        assert targets(spec)["sales.Returns"] == "sales.Returns"
        fk = next(s for s in spec.steps if s.validator == "foreign_keys" and s.parameters["references"] == "dbo.DimCustomer")
        assert fk.parameters["target_references"] == "ANALYTICS.DimCustomer"  # target case: preserve
        replays = [s for s in spec.steps if s.validator == "custom_query"]
        assert len(replays) == 3
        assert all("ANALYTICS." in s.parameters["target_sql"] and "DBO." not in s.parameters["target_sql"]
                   for s in replays)
        assert all("dbo." in s.parameters["source_sql"] for s in replays)

        # the request's schema_map wins, {} included
        given = await cmd(nc, "workload", "generate_pipeline", {"workload_id": workload_id, "schema_map": {"DBO": "edw"},
                                                                "target_identifier_case": "upper"})
        assert given["schema_map_from"] == "request"
        spec = load_pipeline(given["yaml"])
        assert targets(spec)["dbo.FactSales"] == "edw.FactSales"
        fk = next(s for s in spec.steps if s.validator == "foreign_keys" and s.parameters["references"] == "dbo.DimCustomer")
        assert fk.parameters["target_references"] == "EDW.DIMCUSTOMER"
        none = await cmd(nc, "workload", "generate_pipeline", {"workload_id": workload_id, "schema_map": {}})
        spec = load_pipeline(none["yaml"])
        assert none["schema_map"] == {} and all(source == target for source, target in targets(spec).items())
        assert "ANALYTICS" not in none["yaml"]
        with pytest.raises(Invalid, match=r"schema_map.*mapped twice"):
            await cmd(nc, "workload", "generate_pipeline", {"workload_id": workload_id,
                                                            "schema_map": {"dbo": "a", "DBO": "b"}})
        with pytest.raises(Invalid, match="schema_map"):
            await cmd(nc, "workload", "generate_pipeline", {"workload_id": workload_id, "schema_map": {"dbo": ""}})

        # the projects service is away: no pipeline without a schema_map, one with it
        await projects.stop()
        projects_running = False
        with pytest.raises(Unavailable, match="schema mappings of project 'dw'") as failure:
            await cmd(nc, "workload", "generate_pipeline", {"workload_id": workload_id})
        assert failure.value.details["field"] == "schema_map"
        offline = await cmd(nc, "workload", "generate_pipeline", {"workload_id": workload_id,
                                                                  "schema_map": {"dbo": "ANALYTICS"}})
        assert load_pipeline(offline["yaml"]).model_dump() == load_pipeline(generated["yaml"]).model_dump()
    finally:
        await nc.close()
        await workload_service.stop()
        if projects_running:
            await projects.stop()

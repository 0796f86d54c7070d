"""Issue 22 through the real gateway and services (NATS JetStream, PostgreSQL): the metadata tests'
warehouse uploaded as DDL (a PostgreSQL source, its renamed Snowflake target with an SCD2 customer),
mappings approved by `automate`, then `GET /projects/{id}/codegen/{platform}` for every platform: a
zip whose SQL parses for its dialect, whose Beam pipeline compiles and whose dbt project refers only
to what it defines; each generation recorded (`CodeGenerated`: paths and sha256 of what was handed
out); no connection URL or secret in any file; 404 without approved mappings, 422 for an unknown
platform; `ombudsman codegen … -o DIR` writes the same files. Pages are kept small, so each zip is
gathered from several bus replies."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import httpx
import pytest

from ombudsman.metadata import codegen_handlers
from tests.gateway.conftest import Served, wait_automate
from tests.gateway.test_gateway_automate_job import _project_with_catalogs
from tests.gateway.test_gateway_cli_sdk import ombudsman
from tests.metadata.codegen_checks import check_beam, check_dbt, check_sql_bundle, identifiers

PLATFORMS = ("snowflake", "bigquery", "databricks", "beam", "dbt")
SECRET = "S3cret-codegen-pw"
SOURCE_URL = f"postgresql://migrator:{SECRET}@db.internal.example:5432/warehouse"


def unzip(content: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


async def test_codegen_zip_per_platform_recorded_and_written_by_the_cli(served: Served, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # small pages (the services run in this process), so the gateway gathers each zip from several
    monkeypatch.setattr(codegen_handlers, "MAX_FILES_PER_PAGE", 4)
    owner, token = await served.token("olga")
    headers = {"Authorization": f"Bearer {token}"}
    server = f"http://127.0.0.1:{served.port}"
    async with httpx.AsyncClient(base_url=f"{server}/api/v1", timeout=120) as c:
        await _project_with_catalogs(c, served, headers, owner, "shop")
        r = await c.post("/projects/shop/connections", headers=headers,
                         json={"name": "source", "role": "source", "url": SOURCE_URL})
        assert r.status_code == 201, r.text

        r = await c.get("/projects/shop/codegen/dbt", headers=headers)  # nothing approved yet
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "not_found" and "approve" in r.json()["error"]["message"]

        r = await c.post("/projects/shop/automate", headers=headers,
                         json={"extract": False, "auto_approve_threshold": 0.8})
        assert r.status_code == 202, r.text
        summary = await wait_automate(c, headers, "shop", r.json()["job_id"])
        assert summary["auto_approved"] == 12

        r = await c.get("/projects/shop/codegen/oracle", headers=headers)
        assert r.status_code == 422, r.text
        assert [f["field"] for f in r.json()["error"]["details"]["fields"]] == ["platform"]

        zips: dict[str, dict[str, str]] = {}
        for platform in PLATFORMS:
            r = await c.get(f"/projects/shop/codegen/{platform}", headers=headers)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "application/zip"
            assert f'filename="shop-{platform}.zip"' in r.headers["content-disposition"]
            zips[platform] = unzip(r.content)
            assert zips[platform] and all(path.startswith(f"{platform}/") for path in zips[platform])

        for platform in ("snowflake", "bigquery", "databricks"):
            parsed = check_sql_bundle(platform, zips[platform])
            assert len([p for p in parsed if p.startswith(f"{platform}/load/")]) == 12
        # the SCD2 customer: end-dated on its renamed validity columns
        scd2 = [p for p in zips["databricks"] if p.startswith("databricks/scd2/")]
        assert scd2 == ["databricks/scd2/dim_customer.sql"]
        merge_names = identifiers(check_sql_bundle("databricks", {scd2[0]: zips["databricks"][scd2[0]]})[scd2[0]])
        assert {"DIM_CUSTOMER", "EFFECTIVE_FROM", "EFFECTIVE_TO", "IS_CURRENT", "CUSTOMER_ID"} <= merge_names
        tables = check_beam(zips["beam"])
        assert {t["source_table"] for t in tables} >= {"sales.dim_customer", "sales.fact_sales"}
        assert next(t for t in tables if t["source_table"] == "sales.fact_sales")["target_table"] == "SALES.FCT_SALES"
        dbt = check_dbt(zips["dbt"])
        assert len(dbt["models"]) == 12 and dbt["snapshots"] == ["dbt/snapshots/dim_customer_snapshot.sql"]
        for files in zips.values():
            for path, text in files.items():
                assert SECRET not in text and "db.internal.example" not in text and "://" not in text, path

        # every generation recorded: the last one of each platform names what was handed out
        status = (await c.get("/projects/shop/metadata-status", headers=headers)).json()
        for platform in PLATFORMS:
            recorded = status["summaries"][f"CodeGenerated.{platform}"]
            assert recorded["generator_version"] and recorded["tables"] == 12 and recorded["by"] == "olga"
            assert {a["path"]: a["sha256"] for a in recorded["artefacts"]} == {
                path: hashlib.sha256(text.encode()).hexdigest() for path, text in zips[platform].items()}
            assert SECRET not in json.dumps(recorded)

        await served.create_project("empty", owner, owner_name="olga")
        r = await c.post("/projects/empty/ddl", headers=headers,
                         json={"side": "source", "dialect": "postgres", "ddl": "CREATE TABLE s.t (id int)"})
        assert r.status_code == 200, r.text

    tokens = tmp_path / "xdg" / "ombudsman" / "token.json"
    tokens.parent.mkdir(parents=True)
    tokens.write_text(json.dumps({"server": server, "access_token": token, "username": "olga"}))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "OMB_SERVER": server, "COLUMNS": "200"}
    out_dir = tmp_path / "generated"
    code, out, err = await ombudsman(env, "codegen", "shop", "--platform", "dbt", "-o", str(out_dir))
    assert code == 0, err
    written = {str(p.relative_to(out_dir)): p.read_text() for p in out_dir.rglob("*") if p.is_file()}
    assert written == zips["dbt"]
    assert f"{len(written)} file(s) for dbt written" in out
    code, out, err = await ombudsman(env, "codegen", "shop", "--platform", "oracle", "-o", str(out_dir))
    assert code == 2 and "unknown platform 'oracle'" in err, (out, err)
    code, out, err = await ombudsman(env, "codegen", "empty", "--platform", "beam", "-o", str(tmp_path / "none"))
    assert code == 2 and "approve" in err, (out, err)
    assert not (tmp_path / "none").exists()


def test_no_file_lands_outside_the_archive_or_the_output_directory(tmp_path: Path) -> None:
    from ombudsman.client.codegen_commands import write_archive
    from ombudsman.contracts.replies import OmbudsmanError
    from ombudsman.gateway.routes.codegen import zip_files

    good = zip_files([{"path": "dbt/models/a.sql", "content": "select 1"}])
    assert unzip(good) == {"dbt/models/a.sql": "select 1"}
    assert zip_files([{"path": "dbt/models/a.sql", "content": "select 1"}]) == good  # the same files, the same zip
    for path in ("../etc/passwd", "/abs/x.sql", "dbt/../../x.sql", "dbt"):
        with pytest.raises(OmbudsmanError, match="unsafe path"):
            zip_files([{"path": path, "content": ""}])
    hostile = io.BytesIO()
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("dbt/ok.sql", "select 1")
        archive.writestr("../escaped.sql", "select 2")
    with pytest.raises(ValueError, match="outside"):
        write_archive(hostile.getvalue(), tmp_path / "out")
    assert not (tmp_path / "escaped.sql").exists()

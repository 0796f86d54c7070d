"""DDL larger than a bus message, uploaded as a file through the gateway to the real metadata service
(the shared upload folder carries it), and the errors a bad file gets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from ombudsman.client.sdk import OmbudsmanClient
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.replies import Invalid
from ombudsman.contracts.subjects import command_subject
from ombudsman.eventstore.rpc import request
from tests.gateway.conftest import Served

TABLES, COLUMNS = 900, 24


def big_tsql_ddl() -> str:
    """A SQL Server catalog of 900 tables × 25 columns, T-SQL as SSMS scripts it (brackets, GO)."""
    statements = []
    for t in range(TABLES):
        columns = [f"    [customer_attribute_number_{c:02d}] [nvarchar](200) NULL" for c in range(COLUMNS)]
        statements.append(f"CREATE TABLE [dbo].[Table{t:04d}](\n    [Id] [int] NOT NULL,\n" + ",\n".join(columns)
                          + f",\n CONSTRAINT [PK_Table{t:04d}] PRIMARY KEY CLUSTERED ([Id] ASC)\n)\nGO\n")
    return "\n".join(statements)


async def test_ddl_over_a_megabyte_goes_as_a_file(served: Served, tmp_path: Path) -> None:
    owner_id, token = await served.token("dana")
    await served.create_project("big", owner_id, owner_name="dana")
    ddl = big_tsql_ddl()
    assert len(ddl.encode()) > 1024 * 1024  # more than one NATS message may carry
    file = tmp_path / "catalog.sql"
    file.write_text(ddl)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{served.port}"
    async with httpx.AsyncClient(base_url=base, timeout=300) as c:
        inline = await c.post("/api/v1/projects/big/ddl", headers=headers,
                              json={"side": "source", "dialect": "tsql", "ddl": ddl})
        assert inline.status_code == 422 and "ddl" in inline.text

        with OmbudsmanClient(base, token, timeout=300) as client:
            uploaded = await asyncio.to_thread(client.upload_ddl_file, "big", "source", "tsql", file)
        assert (uploaded["tables"], uploaded["columns"]) == (TABLES, TABLES * (COLUMNS + 1)), uploaded
        # the catalog (several MiB as JSON) comes a page at a time
        tables: dict[str, dict] = {}
        while True:
            page = await c.get("/api/v1/projects/big/catalog", headers=headers,
                               params={"side": "source", "offset": len(tables), "limit": 250})
            assert page.status_code == 200, page.text
            body = page.json()
            assert body["total_tables"] == TABLES and len(body["tables"]) <= 250
            tables.update({f"{t['schema_name']}.{t['name']}": t for t in body["tables"]})
            if len(tables) >= TABLES:
                break
        assert len(tables) == TABLES and tables["dbo.Table0899"]["primary_key"] == ["Id"]
        assert len(tables["dbo.Table0899"]["columns"]) == COLUMNS + 1
        some = (await c.get("/api/v1/projects/big/catalog", headers=headers,
                            params={"side": "source", "q": "table012", "limit": 5})).json()
        assert some["total_tables"] == 10 and [t["name"] for t in some["tables"]] == [f"Table012{i}" for i in range(5)]
        assert not list((tmp_path / "uploads").glob("*"))  # the staged file is gone after the upload

        # the same catalog as the target: 900 table mappings with their columns, suggested and read back
        with OmbudsmanClient(base, token, timeout=300) as client:
            await asyncio.to_thread(client.upload_ddl_file, "big", "target", "tsql", file)
        suggested = await c.post("/api/v1/projects/big/mappings/suggest", headers=headers, json={})
        assert suggested.status_code == 200, suggested.text[:500]
        first = suggested.json()
        assert (first["total_tables"], len(first["tables"])) == (TABLES, 100)
        seen: set[str] = set()
        while len(seen) < TABLES:
            page = await c.get("/api/v1/projects/big/mappings/suggestions", headers=headers,
                               params={"offset": len(seen), "limit": 300})
            assert page.status_code == 200, page.text[:500]
            seen.update(t["source_table"] for t in page.json()["tables"])
        assert len(seen) == TABLES and first["unmapped_source_tables"] == []

        # relationships and classes of 900 tables come back in one reply each
        inferred = await c.post("/api/v1/projects/big/infer-relationships", headers=headers)
        assert inferred.status_code == 200, inferred.text[:300]
        assert (await c.get("/api/v1/projects/big/relationships", headers=headers)).status_code == 200
        classified = await c.post("/api/v1/projects/big/classify", headers=headers)
        assert classified.status_code == 200, classified.text[:300]
        classes = await c.get("/api/v1/projects/big/classification", headers=headers)
        assert classes.status_code == 200 and len(classes.json()["tables"]) == TABLES, classes.text[:300]

        broken = b"CREATE TABLE a (x INT)\nGO\nCREATE TABLE b (\n  y INT,\n  z INT w v\n)\n"
        r = await c.post("/api/v1/projects/big/ddl/file", headers=headers, files={"file": ("b.sql", broken)},
                         data={"side": "target", "dialect": "tsql"})
        assert r.status_code == 422 and "line" in r.json()["error"]["message"], r.text
        r = await c.post("/api/v1/projects/big/ddl/file", headers=headers, files={"file": ("c.sql", b"\xff\xfe\x00x")},
                         data={"side": "target", "dialect": "tsql"})
        assert r.status_code == 422 and "UTF-8" in r.json()["error"]["message"], r.text
        r = await c.post("/api/v1/projects/big/ddl/file", headers=headers, files={"file": ("d.sql", b"x")},
                         data={"side": "middle", "dialect": "tsql"})
        assert r.status_code == 422 and "side" in r.text
        _, other = await served.token("eve")
        r = await c.post("/api/v1/projects/big/ddl/file", headers={"Authorization": f"Bearer {other}"},
                         files={"file": ("e.sql", b"CREATE TABLE a (x INT)")}, data={"side": "target", "dialect": "tsql"})
        assert r.status_code == 404


async def test_the_metadata_service_reads_only_inside_the_upload_folder(served: Served, tmp_path: Path) -> None:
    owner_id, _ = await served.token("dana")
    await served.create_project("pp", owner_id, owner_name="dana")
    outside = tmp_path / "outside.sql"
    outside.write_text("CREATE TABLE a (x INT)")
    meta = Metadata(actor=Actor(id=owner_id, name="dana", role="user"))
    for path in (str(outside), "../outside.sql", "/etc/passwd"):
        with pytest.raises(Invalid, match="inside the upload folder"):
            await request(served.nc, command_subject("metadata", "upload_ddl"),
                          {"project_id": "pp", "side": "source", "dialect": "tsql", "path": path}, meta=meta)
    with pytest.raises(Invalid, match="either ddl"):
        await request(served.nc, command_subject("metadata", "upload_ddl"),
                      {"project_id": "pp", "side": "source", "dialect": "tsql"}, meta=meta)

"""Issue 15 item 9 through the gateway: `POST …/automate` answers 202 with a job id, the job's events
reach `/ws/events?project=…` in phase order, a second job of the project gets 409 naming the running
one, `GET …/automate/{job_id}` shows the job, and `ombudsman automate` shows each phase and the summary."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import websockets

from ombudsman.contracts import events as ev
from tests.gateway.conftest import Served, wait_automate
from tests.gateway.test_gateway_cli_sdk import ombudsman
from tests.metadata.warehouse import SOURCE_DDL, TARGET_DDL


async def _project_with_catalogs(c: httpx.AsyncClient, served: Served, headers: dict[str, str], owner: str,
                                 project: str) -> None:
    await served.create_project(project, owner, owner_name="olga")
    for side, dialect, ddl in (("source", "postgres", SOURCE_DDL), ("target", "snowflake", TARGET_DDL)):
        r = await c.post(f"/projects/{project}/ddl", headers=headers, json={"side": side, "dialect": dialect, "ddl": ddl})
        assert r.status_code == 200, r.text


async def _events_until_done(ws: Any, job_id: str, into: list[dict[str, Any]]) -> None:
    while True:
        message = json.loads(await ws.recv())
        if message.get("stream_type") == "automate":
            into.append(message)
            if message["stream_id"] == job_id and message["event_type"] in ("AutomateCompleted", "AutomateFailed"):
                return


async def test_automate_job_202_events_409_and_status(served: Served) -> None:
    owner, token = await served.token("olga")
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{served.port}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=120) as c:
        await _project_with_catalogs(c, served, headers, owner, "shop")
        async with websockets.connect(served.ws_url(f"/ws/events?project=shop&token={token}")) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "subscribed"}  # live from here on
            body = {"extract": False, "auto_approve_threshold": 0.8}
            first, second = await asyncio.gather(c.post("/projects/shop/automate", headers=headers, json=body),
                                                 c.post("/projects/shop/automate", headers=headers, json=body))
            answers = sorted([first, second], key=lambda r: r.status_code)
            assert [r.status_code for r in answers] == [202, 409], [r.text for r in answers]
            job_id = answers[0].json()["job_id"]
            assert answers[0].json()["status"] == "running"
            assert answers[1].json()["error"]["details"]["job_id"] == job_id
            seen: list[dict[str, Any]] = []
            await asyncio.wait_for(_events_until_done(ws, job_id, seen), 120)
        assert [e["event_type"] for e in seen] == ["AutomateStarted", *["AutomatePhaseCompleted"] * 6, "AutomateCompleted"]
        assert [e["data"]["phase"] for e in seen[1:-1]] == list(ev.AUTOMATE_PHASES)
        summary = await wait_automate(c, headers, "shop", job_id)
        assert summary["auto_approved"] == 12 and len(summary["pipeline_ids"]) == 13
        assert seen[-1]["data"]["summary"]["pipeline_ids"] == summary["pipeline_ids"]
        job = (await c.get(f"/projects/shop/automate/{job_id}", headers=headers)).json()
        assert job["status"] == "completed" and [p["phase"] for p in job["phases"]] == list(ev.AUTOMATE_PHASES)
        saved = (await c.get("/projects/shop/pipelines", headers=headers)).json()
        assert sorted(p["pipeline_id"] for p in saved["items"]) == sorted(summary["pipeline_ids"])

        # a job of another project, or an unknown job: 404; another person cannot see the project's jobs
        assert (await c.get("/projects/shop/automate/aj-nope", headers=headers)).status_code == 404
        _, stranger = await served.token("sam")
        r = await c.get(f"/projects/shop/automate/{job_id}", headers={"Authorization": f"Bearer {stranger}"})
        assert r.status_code == 404


async def test_cli_automate_shows_each_phase_and_the_summary(served: Served, tmp_path: Path) -> None:
    owner, token = await served.token("olga")
    headers = {"Authorization": f"Bearer {token}"}
    server = f"http://127.0.0.1:{served.port}"
    async with httpx.AsyncClient(base_url=f"{server}/api/v1", timeout=120) as c:
        await _project_with_catalogs(c, served, headers, owner, "crm")
    tokens = tmp_path / "xdg" / "ombudsman" / "token.json"
    tokens.parent.mkdir(parents=True)
    tokens.write_text(json.dumps({"server": server, "access_token": token, "username": "olga"}))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "OMB_SERVER": server, "COLUMNS": "200"}
    code, out, err = await ombudsman(env, "automate", "crm", "--no-extract", "--threshold", "0.8")
    assert code == 0, err
    assert "automate job aj-" in out
    for phase in ev.AUTOMATE_PHASES:
        assert f"{phase} done:" in out, out
    assert out.index("extract done:") < out.index("suggest done:") < out.index("save done:")
    # the summary as a two-column table: each field with its value on one row
    assert re.search(r"auto_approved\s*│\s*12\s*│", out), out
    assert re.search(r"pipeline_ids\s*│.*validate-coverage", out, re.S), out

    code, out, err = await ombudsman(env, "automate", "nowhere", "--no-extract")
    assert code == 2 and "not found" in err.lower(), (out, err)

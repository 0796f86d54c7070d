"""The SDK and the `ombudsman` CLI against a real gateway (uvicorn on a free port)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from ombudsman.client.sdk import ApiError, OmbudsmanClient
from ombudsman.contracts import events as ev
from tests.gateway.conftest import Served
from tests.support import eventually

CLI = [sys.executable, "-c", "from ombudsman.client.cli import main; main()"]


async def ombudsman(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 60)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.fixture
def cli_env(served: Served, tmp_path: Path) -> dict[str, str]:
    settings = served.app.state.settings
    return {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "OMB_SERVER": f"http://127.0.0.1:{served.port}",
            "OMB_DATABASE_URL": settings.database_url, "OMB_NATS_URL": settings.nats_url,
            "OMB_BCRYPT_ROUNDS": "4", "OMB_HOME": str(tmp_path / "home"), "COLUMNS": "200"}


async def test_cli_admin_create_login_projects_watch_export(served: Served, cli_env: dict[str, str], tmp_path: Path) -> None:
    code, out, err = await ombudsman(cli_env, "admin", "create", "boss", "--password-stdin", stdin="boss-password-1\n")
    assert code == 0, err
    assert "Created admin boss" in out
    code, _, err = await ombudsman(cli_env, "admin", "create", "boss", "--password-stdin", stdin="another-pass-1\n")
    assert code == 2 and "taken" in err

    code, out, err = await ombudsman(cli_env, "login", "-u", "boss", "-p", "wrong-password")
    assert code == 2 and "invalid username or password" in err
    code, out, err = await ombudsman(cli_env, "login", "-u", "boss", "-p", "boss-password-1")
    assert code == 0, err
    token_file = tmp_path / "xdg" / "ombudsman" / "token.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    assert "boss-password-1" not in token_file.read_text()

    code, out, err = await ombudsman(cli_env, "whoami")
    assert code == 0 and "boss (admin)" in out
    code, out, err = await ombudsman(cli_env, "projects", "create", "crm", "--name", "CRM migration")
    assert code == 0, err
    code, out, err = await ombudsman(cli_env, "projects", "list", "--json")
    assert code == 0 and [p["id"] for p in json.loads(out)["items"]] == ["crm"]
    code, out, err = await ombudsman(cli_env, "projects", "create", "Not A Slug", "--name", "x")
    assert code == 2 and "id" in err

    run = "run-cli-1"
    served.executor.runs[run] = {"run_id": run, "project_id": "crm", "status": "running"}
    await served.publish(run, ev.RunQueued(run_id=run, project_id="crm", steps=["a", "b"]), ev.RunStarted(run_id=run),
                         ev.StepStarted(run_id=run, step="a"), ev.StepCompleted(run_id=run, step="a", status="passed"))
    watching = asyncio.create_task(ombudsman(cli_env, "watch", run))
    # the watcher's socket has asked for the run: it follows it (replay, then live) from here on
    await eventually(lambda: any(name == "qry.run" and p.get("run_id") == run for name, p, _ in served.executor.calls),
                     timeout=30, what="the CLI watching the run")
    await served.publish(run, ev.StepStarted(run_id=run, step="b"), ev.StepCompleted(run_id=run, step="b", status="failed"),
                         ev.RunCompleted(run_id=run, status="failed", total_steps=2, successful_steps=1, failed_steps=1))
    code, out, err = await watching
    assert code == 1, err
    assert "passed" in out and "failed" in out and out.index(" a") < out.index(" b")
    assert "1 failed, 1 passed" in out

    code, out, err = await ombudsman(cli_env, "logout")
    assert code == 0 and not token_file.exists()
    code, out, err = await ombudsman(cli_env, "projects", "list")
    assert code == 2 and "log in" in err


async def test_sdk_typed_errors_and_token_refresh(served: Served) -> None:
    await served.app.state.users.register("sdk-user", "sdk-password-1", "user")
    base = f"http://127.0.0.1:{served.port}"
    client = await asyncio.to_thread(OmbudsmanClient, base)
    try:
        with pytest.raises(ApiError) as failed:
            await asyncio.to_thread(client.login, "sdk-user", "nope-nope")
        assert failed.value.status == 401 and failed.value.code_text == "unauthorized"
        pair = await asyncio.to_thread(client.login, "sdk-user", "sdk-password-1")
        assert pair.user.username == "sdk-user" and client.token == pair.access_token
        created = await asyncio.to_thread(client.create_project, "sdk-proj", "SDK")
        assert created["id"] == "sdk-proj"
        with pytest.raises(ApiError) as invalid:
            await asyncio.to_thread(client.create_project, "BAD ID", "x")
        assert invalid.value.status == 422 and invalid.value.details["fields"][0]["field"] == "id"
        page = await asyncio.to_thread(client.list_projects)
        assert page.total == 1 and page.items[0]["id"] == "sdk-proj"
        old_refresh = client.refresh_token
        await asyncio.to_thread(client.refresh)
        assert client.refresh_token != old_refresh
        assert (await asyncio.to_thread(client.me)).username == "sdk-user"
        run_id = "run-sdk-1"  # a run the timing stand-in knows; queuing and exports: test_gateway_e2e_run.py
        served.executor.runs[run_id] = {"run_id": run_id, "project_id": "sdk-proj", "status": "running"}
        await served.publish(run_id, ev.RunStarted(run_id=run_id),
                             ev.RunCompleted(run_id=run_id, status="completed", total_steps=0, successful_steps=0,
                                             failed_steps=0))
        seen = [m["type"] async for m in client.watch_run(run_id)]
        assert seen == ["pipeline.started", "pipeline.completed"]
    finally:
        client.close()
    unreachable = OmbudsmanClient("http://127.0.0.1:9")
    with pytest.raises(ApiError) as down:
        unreachable.health()
    assert down.value.status == 0 and down.value.code_text == "unavailable"


async def test_cli_workload_upload_suggest_and_pipeline(served: Served, cli_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    """`ombudsman workload …` against the real workload service: a Query Store CSV becomes a
    pipeline whose target side reads the mapped schema, saved in the project."""
    from tests.workload.workload_gen import to_csv, workload

    await served.app.state.users.register("wendy", "wendy-password-1", "user")
    assert (await ombudsman(cli_env, "login", "-u", "wendy", "-p", "wendy-password-1"))[0] == 0
    assert (await ombudsman(cli_env, "projects", "create", "dw", "--name", "DW"))[0] == 0
    export = tmp_path / "querystore.csv"
    export.write_text(to_csv(workload(150, seed=4)))

    code, out, err = await ombudsman(cli_env, "workload", "upload", "dw", str(export))
    assert code == 0, err
    workload_id = out.split("as workload ")[1].split(":")[0]
    code, out, err = await ombudsman(cli_env, "workload", "list", "dw", "--json")
    assert code == 0 and [w["workload_id"] for w in json.loads(out)] == [workload_id], err
    code, out, err = await ombudsman(cli_env, "workload", "analyze", workload_id, "--format", "json")
    assert code == 0 and json.loads(out)["totals"]["queries"] > 0, err
    code, out, err = await ombudsman(cli_env, "workload", "suggest", workload_id, "--json")
    assert code == 0, err
    suggestions = json.loads(out)
    assert {"foreign_keys", "metric_sums", "custom_query"} <= {s["validator"] for s in suggestions}

    target = tmp_path / "workload.yaml"
    code, out, err = await ombudsman(cli_env, "workload", "pipeline", workload_id, "--map", "dbo=ANALYTICS",
                                     "--save", "-o", str(target))
    assert code == 0, err
    assert f"{len(suggestions)} steps, saved as pipeline" in err
    from ombudsman.contracts.pipeline import load_pipeline

    spec = load_pipeline(target.read_text())
    mapped = {str(s.source_table): str(s.target_table) for s in spec.steps if s.source_table is not None}
    assert mapped and all(t.startswith("ANALYTICS.") for s, t in mapped.items() if s.lower().startswith("dbo."))
    token = json.loads((tmp_path / "xdg" / "ombudsman" / "token.json").read_text())["access_token"]
    with OmbudsmanClient(f"http://127.0.0.1:{served.port}", token) as client:
        saved = await asyncio.to_thread(client.pipelines, "dw")  # the gateway serves on this event loop
    items = saved["items"] if isinstance(saved, dict) else saved
    assert [(p["name"], p["tags"]) for p in items] == [("workload validations", ["workload"])]

    code, _, err = await ombudsman(cli_env, "workload", "pipeline", workload_id, "--map", "dbo")
    assert code == 2 and "SOURCE_SCHEMA=TARGET_SCHEMA" in err
    code, _, err = await ombudsman(cli_env, "workload", "upload", "dw", str(tmp_path / "absent.csv"))
    assert code == 2 and "not a file" in err
    code, _, err = await ombudsman(cli_env, "workload", "analyze", "no-such-workload")
    assert code == 2 and "no-such-workload" in err


async def test_cli_login_prompts_reads_stdin_and_admin_create_says_what_is_wrong(
        served: Served, cli_env: dict[str, str], tmp_path: Path) -> None:
    """Issue 17: `admin create` with a short password names the field and the rule (exit 2, no
    pydantic banner); `login` without -u asks for the name; `--password-stdin` reads the password;
    the login is kept per gateway; tables by default, `--format json|yaml` for scripts; `connections
    add` says what it added."""
    import yaml

    code, out, err = await ombudsman(cli_env, "admin", "create", "shorty", "--password-stdin", stdin="abc\n")
    assert code == 2, out + err
    assert "password" in err and "at least 8 characters" in err and "validation error for" not in err
    code, _, err = await ombudsman(cli_env, "admin", "create", "nora", "--password-stdin", stdin="nora-password-1\n")
    assert code == 0, err

    code, out, err = await ombudsman(cli_env, "login", "--password-stdin", stdin="nora\n")
    assert code == 2 and "nothing was read" in err  # the name was asked for and took the only line
    code, out, err = await ombudsman(cli_env, "login", stdin="nora\nnora-password-1\n")
    assert code == 0 and "Username" in out and "as nora (admin)" in out, out + err
    code, out, err = await ombudsman(cli_env, "login", "-u", "nora", "--password-stdin", stdin="nora-password-1\n")
    assert code == 0, err
    saved = json.loads((tmp_path / "xdg" / "ombudsman" / "token.json").read_text())
    assert list(saved["stacks"]) == [cli_env["OMB_SERVER"]]

    long_id = "a-project-whose-id-is-long-enough-to-be-cut-at-eighty-columns"
    code, _, err = await ombudsman(cli_env, "projects", "create", long_id, "--name", "Long")
    assert code == 0, err
    code, out, err = await ombudsman({**cli_env, "COLUMNS": "80"}, "projects", "list")
    assert code == 0 and long_id in out and "…" not in out, out
    code, out, err = await ombudsman(cli_env, "projects", "show", long_id, "--format", "yaml")
    assert code == 0 and yaml.safe_load(out)["id"] == long_id, out
    code, out, err = await ombudsman(cli_env, "projects", "show", long_id)
    assert code == 0 and "name" in out and "Long" in out and "{" not in out, out
    code, out, err = await ombudsman(cli_env, "projects", "list", "--format", "xml")
    assert code == 2 and "xml" in err

    code, out, err = await ombudsman(cli_env, "connections", "add", long_id, "scratch", "--role", "other",
                                     "--url", "duckdb:///:memory:")
    assert code == 0, err
    assert f"Added connection scratch to {long_id}: role other, duckdb, duckdb:///:memory:" in out.replace("\n", "")

    # an expired (here: unusable) access token is refreshed once and the new pair saved for this gateway
    token_file = tmp_path / "xdg" / "ombudsman" / "token.json"
    tokens = json.loads(token_file.read_text())
    tokens["stacks"][cli_env["OMB_SERVER"]]["access_token"] = "expired.token.value"
    token_file.write_text(json.dumps(tokens))
    code, out, err = await ombudsman(cli_env, "whoami")
    assert code == 0 and "nora (admin)" in out, err
    refreshed = json.loads(token_file.read_text())["stacks"][cli_env["OMB_SERVER"]]
    assert refreshed["access_token"] != "expired.token.value" and refreshed["refresh_token"] != saved["refresh_token"]

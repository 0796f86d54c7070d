"""`ombudsman demo` on a fresh stack ends the way issue 17 asks (the web UI and how to log in, one
whole line per run, the project's own event counts), and then every command of the README's CLI
section, extracted from its fenced block, exits 0 on the demo project, run by bash as written
(only the gateway's port and the ids in capitals are filled in)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ombudsman.client.sdk import OmbudsmanClient
from ombudsman.eventstore.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXE = str(BIN / "ombudsman")
PROJECT = "demo-sales"
# each README command may take up to 300 s itself (a loaded machine): the whole test needs more
pytestmark = pytest.mark.timeout(900)


def readme_cli_commands(readme: str) -> list[str]:
    """The commands of the first fenced block after the README's "## CLI" heading, one per line."""
    section = readme[readme.index("\n## CLI"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the CLI section has no ```bash block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip().startswith("ombudsman ")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str], str]]:
    folder = tmp_path_factory.mktemp("clone")  # as the clone's folder: its .ombudsman/ holds the stack
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMB_")}
    env.update({"OMB_HOME": str(folder / ".ombudsman"), "OMB_GATEWAY_PORT": str(free_port()), "COLUMNS": "80",
                "XDG_CONFIG_HOME": str(folder / "xdg"), "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"})
    ran = subprocess.run([EXE, "demo"], env=env, cwd=folder, capture_output=True, text=True, timeout=900)
    try:
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        yield folder, env, ran.stdout
    finally:
        subprocess.run([EXE, "down"], env=env, cwd=folder, capture_output=True, text=True, timeout=120)


def _gateway_log(folder: Path, chars: int = 3000) -> str:
    """The end of the gateway's log: a 500 seen by a command is explained there (its traceback)."""
    log = folder / ".ombudsman" / "logs" / "gateway.log"
    return "\n--- gateway log ---\n" + log.read_text(errors="replace")[-chars:] if log.exists() else ""


def _gateway(folder: Path) -> str:
    return str(json.loads((folder / ".ombudsman" / "stack.json").read_text())["gateway_url"])


def test_the_demo_ends_with_the_ui_the_login_every_run_and_the_projects_counts(
        demo: tuple[Path, dict[str, str], str]) -> None:
    folder, _, out = demo
    gateway = _gateway(folder)
    password_file = folder / ".ombudsman" / "demo-admin.password"
    assert f"Web UI: {gateway}/" in out and "log in as demo-admin" in out and str(password_file) in out
    with OmbudsmanClient(gateway, timeout=120) as client:
        client.login("demo-admin", password_file.read_text().strip())
        runs = client.runs(project_id=PROJECT, limit=100).items
        stats = client.audit_stats(project_id=PROJECT)
        whole = client.audit_stats()
    assert len(runs) >= 4
    lines = out.splitlines()
    for run in runs:  # every run, whole, on one line, with its page in the web UI
        line = next((ln for ln in lines if f"{gateway}/#/runs/{run['run_id']}" in ln), None)
        assert line and run["pipeline_id"] in line and run["status"] in line, (run, out[-2500:])
    assert "…" not in out.split("Validation results")[1]  # no id or name cut at 80 columns
    assert f"Events of project {PROJECT} ({stats['total']})" in out or stats["total"] > 0
    assert stats["total"] < whole["total"] and "UserRegistered" not in stats["by_action"]
    counted = next(ln for ln in lines if ln.startswith(f"Events of project {PROJECT}"))
    assert "ConnectionAdded 2" in counted and "UserRegistered" not in counted


def test_every_command_of_the_readme_cli_section_exits_0_on_the_demo(demo: tuple[Path, dict[str, str], str]) -> None:
    folder, env, _ = demo
    gateway = _gateway(folder)
    commands = readme_cli_commands((ROOT / "README.md").read_text())
    assert len(commands) >= 30 and commands[0].startswith("ombudsman login")
    with OmbudsmanClient(gateway, timeout=120) as client:
        client.login("demo-admin", (folder / ".ombudsman" / "demo-admin.password").read_text().strip())
        runs = client.runs(project_id=PROJECT, limit=100).items
        passed = next(r for r in runs if r["status"] == "completed" and r.get("batch_id"))  # a pipeline the sample migrates intact
        ids = {"PIPELINE_ID": passed["pipeline_id"], "RUN_ID": passed["run_id"],
               "BATCH_ID": passed["batch_id"], "DISCREPANCY_ID": client.discrepancies(PROJECT)[0]["discrepancy_id"]}
    failures = []
    for command in commands:
        line = command.replace("http://127.0.0.1:8800", gateway)
        for placeholder, value in ids.items():
            line = re.sub(rf"\b{placeholder}\b", value, line)
        ran = subprocess.run(["bash", "-c", line], env=env, cwd=folder, capture_output=True, text=True, timeout=300)
        if ran.returncode != 0:
            failures.append(f"{command}\n  -> exit {ran.returncode}: {(ran.stdout + ran.stderr)[-800:]}")
    assert failures == [], _gateway_log(folder)


def _cli(folder: Path, env: dict[str, str], *args: str, stdin: str | None = None,
         columns: int = 200) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env={**env, "COLUMNS": str(columns)}, cwd=folder, input=stdin,
                          capture_output=True, text=True, timeout=300)


def test_batch_watch_shows_each_pipeline_and_fails_when_one_does(demo: tuple[Path, dict[str, str], str]) -> None:
    folder, env, _ = demo
    password = (folder / ".ombudsman" / "demo-admin.password").read_text()
    logged = _cli(folder, env, "login", "--server", _gateway(folder), "-u", "demo-admin", "--password-stdin",
                  stdin=password)
    assert logged.returncode == 0, logged.stderr
    ran = _cli(folder, env, "batch", "create", "mixed", f"{PROJECT}/validate-coverage", f"{PROJECT}/validate-sales-orders",
               "--execute", "--watch")
    assert ran.returncode == 1, ran.stdout + ran.stderr  # one pipeline failed: a validation failed
    assert f"{PROJECT}/validate-coverage" in ran.stdout and f"{PROJECT}/validate-sales-orders" in ran.stdout
    assert "1 passed, 1 failed" in ran.stdout and "validate-sales-orders)" in ran.stdout, ran.stdout
    batch_id = ran.stdout.split("Created batch ")[1].split(" ")[0]
    again = _cli(folder, env, "batch", "watch", batch_id)  # a finished batch: its bars and verdict at once
    assert again.returncode == 1 and "1 passed, 1 failed" in again.stdout, again.stdout + again.stderr
    shown = _cli(folder, env, "batch", "status", batch_id, "--format", "json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["progress"]["failed"] == 1


def test_audit_logs_name_the_actor_of_every_event(demo: tuple[Path, dict[str, str], str]) -> None:
    folder, env, _ = demo
    password = (folder / ".ombudsman" / "demo-admin.password").read_text()
    logged = _cli(folder, env, "login", "--server", _gateway(folder), "-u", "demo-admin", "--password-stdin",
                  stdin=password)
    assert logged.returncode == 0, logged.stderr + _gateway_log(folder)
    listed = _cli(folder, env, "audit", "logs", "--project", PROJECT, "--limit", "500", "--format", "json")
    assert listed.returncode == 0, listed.stderr + _gateway_log(folder)
    events = json.loads(listed.stdout)["items"]
    created = next(e for e in events if e["event_type"] == "ProjectCreated")
    assert created["actor"]["name"] == "demo-admin"
    table = _cli(folder, env, "audit", "logs", "--project", PROJECT, "--limit", "500")
    row = next(ln for ln in table.stdout.splitlines() if "ProjectCreated" in ln)
    assert row.rstrip(" │").endswith("demo-admin"), row  # the actor column, filled


def test_automate_shows_each_phase_then_its_summary(demo: tuple[Path, dict[str, str], str]) -> None:
    from ombudsman.contracts.events import AUTOMATE_PHASES

    folder, env, _ = demo
    password = (folder / ".ombudsman" / "demo-admin.password").read_text()
    assert _cli(folder, env, "login", "--server", _gateway(folder), "-u", "demo-admin", "--password-stdin",
                stdin=password).returncode == 0
    ran = _cli(folder, env, "automate", PROJECT)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    for phase in AUTOMATE_PHASES:  # a line per phase as it completes, in order
        assert f"  {phase} done: " in ran.stdout, (phase, ran.stdout)
    positions = [ran.stdout.index(f"  {phase} done: ") for phase in AUTOMATE_PHASES]
    assert positions == sorted(positions)
    assert "automate summary" in ran.stdout and "validate-coverage" in ran.stdout and "{" not in ran.stdout
    missing = _cli(folder, env, "automate", "no-such-project")
    assert missing.returncode == 2 and "no-such-project" in missing.stderr

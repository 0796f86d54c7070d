"""A full `ombudsman demo` leaves no secret and no personal value in the permanent audit chain
(issue 14, attack 4): the whole audit export of the run is scanned for every key and password the
stack generated under OMB_HOME and for every e-mail address of the sample customers, while the demo
itself still finds its defects and the chain verifies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ombudsman.client.sdk import OmbudsmanClient
from ombudsman.engine.pipeline.sample import source_data, target_data
from ombudsman.eventstore.embedded import free_port

EXE = str(Path(sys.executable).parent / "ombudsman")


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    home = tmp_path_factory.mktemp("demo-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMB_")}
    env.update({"OMB_HOME": str(home), "OMB_GATEWAY_PORT": str(free_port()), "COLUMNS": "200"})
    ran = subprocess.run([EXE, "demo"], env=env, capture_output=True, text=True, timeout=600)
    try:
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        assert "Audit chain verified: True" in ran.stdout, ran.stdout[-3000:]
        yield home, env
    finally:
        subprocess.run([EXE, "down"], env=env, capture_output=True, text=True, timeout=120)


def _secrets_under(home: Path) -> dict[str, str]:
    """Every secret the stack generated: key files, the demo admin's password, NATS and database passwords."""
    found = {name: (home / name).read_text().strip() for name in ("secret.key", "jwt.key", "alert.key",
                                                                   "demo-admin.password") if (home / name).exists()}
    found.update({f"nats:{user}": pw for user, pw in json.loads((home / "nats" / "credentials.json").read_text()).items()})
    found["bus-token.key"] = "".join((home / "nats" / "bus-token.key").read_text().splitlines()[1:-1])
    found.update({f"db:{p.name}": p.read_text().strip() for p in (home / "db-roles").glob("*.password")})
    return found


def test_the_whole_audit_export_of_a_demo_holds_no_secret_and_no_email(demo_home: tuple[Path, dict[str, str]]) -> None:
    home, _ = demo_home
    stack = json.loads((home / "stack.json").read_text())
    secrets = _secrets_under(home)
    assert len(secrets) >= 10 and all(len(v) >= 16 for v in secrets.values()), sorted(secrets)
    emails = {row[3] for table in (source_data(), target_data()) for row in table["customers"].rows if row[3]}
    assert len(emails) > 50

    with OmbudsmanClient(stack["gateway_url"], timeout=120) as client:
        client.login("demo-admin", (home / "demo-admin.password").read_text().strip())
        export = client.audit_export("jsonl")
        text = export.content.decode()
        events = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert len(events) > 100 and {"StepCompleted", "DiscrepancyRecorded", "ConnectionAdded"} <= {
            e["envelope"]["event_type"] for e in events}
        leaked_secrets = sorted(name for name, value in secrets.items() if value in text)
        assert leaked_secrets == []
        leaked_emails = sorted(e for e in emails if e in text)
        assert leaked_emails == []
        # the people who may read the runs still see the differences in full (the executor's own store)
        failed_runs = [r for r in client.runs(project_id="demo-sales", limit=50).items if r["status"] == "failed"]
        assert failed_runs
        details = json.dumps([client.run(r["run_id"]) for r in failed_runs])
        assert any(e in details for e in emails)

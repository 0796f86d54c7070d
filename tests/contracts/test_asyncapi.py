"""The public event interface document covers every registered event type."""

import json
import subprocess
import sys
from pathlib import Path

from ombudsman.contracts.asyncapi import asyncapi_document
from ombudsman.contracts.registry import event_types


def test_every_event_type_is_documented_with_its_data_schema() -> None:
    doc = asyncapi_document()
    types = event_types()
    assert doc["asyncapi"] == "3.0.0"
    assert set(doc["components"]["messages"]) == set(types)
    for name, cls in types.items():
        channel = doc["channels"][cls.stream_type]
        assert name in channel["messages"] and channel["address"].startswith(f"omb.evt.{cls.stream_type}.")
        assert set(cls.model_fields) <= set(doc["components"]["schemas"][name]["properties"])
    run_completed = doc["components"]["schemas"]["RunCompleted"]
    assert "failed_steps" in run_completed["required"]


def test_cli_writes_the_document() -> None:
    exe = Path(sys.executable).parent / "ombudsman"
    out = subprocess.run([str(exe), "events", "--format", "json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    document = json.loads(out.stdout)
    assert "ProjectCreated" in document["components"]["messages"]
    # the services' commands and queries too, from their FastStream subscribers
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert {"omb.cmd.projects.create", "omb.qry.executor.run", "omb.qry.audit.health"} <= addresses
    bad = subprocess.run([str(exe), "events", "--format", "xml"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "yaml or json" in bad.stderr

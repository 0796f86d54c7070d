"""The deployed NATS asks every client for its service's credentials, from the same table as the
embedded stack: deploy/nats/auth.conf is `ombudsman nats-config`, and nats-server accepts the
deploy configs only when every service's password is in its environment (no default)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ombudsman.contracts.access import PRINCIPALS
from ombudsman.eventstore.embedded import nats_server_binary
from ombudsman.eventstore.natsauth import deploy_config, password_variable

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_auth_conf_is_the_rendered_access_table() -> None:
    assert (DEPLOY / "nats" / "auth.conf").read_text() == deploy_config(), "run `ombudsman nats-config > deploy/nats/auth.conf`"


@pytest.mark.parametrize("config", ["single.conf", "cluster.conf"])
def test_nats_server_accepts_the_deploy_config_only_with_every_password(config: str) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OMB_NATS_PASSWORD_")}
    base["NATS_SERVER_NAME"] = "nats-0"  # cluster.conf: each node of deploy/docker-compose.yml sets its own
    passwords = {password_variable(p): f"pw-{p}" for p in PRINCIPALS}
    check = [nats_server_binary(), "-t", "-c", config]
    ok = subprocess.run(check, cwd=DEPLOY / "nats", env={**base, **passwords}, capture_output=True, text=True,
                        timeout=30)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    missing = dict(passwords)
    missing.pop(password_variable("projects"))
    refused = subprocess.run(check, cwd=DEPLOY / "nats", env={**base, **missing}, capture_output=True, text=True,
                             timeout=30)
    assert refused.returncode != 0
    assert password_variable("projects") in refused.stdout + refused.stderr


def test_compose_gives_each_service_its_own_bus_user() -> None:
    import yaml

    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    # Ombudsman's own services are the ones built from deploy/docker/Dockerfile (one target each)
    users = {name: svc.get("environment", {}).get("OMB_NATS_USER") for name, svc in compose["services"].items()
             if "build" in svc}
    assert users == {"projects": "projects", "metadata": "metadata", "executor": "executor", "worker": "worker",
                     "workload": "workload", "audit": "audit", "gateway": "gateway"}
    private = [n for n, s in compose["services"].items() if "OMB_BUS_TOKEN_PRIVATE_KEY" in (s.get("environment") or {})]
    assert private == ["gateway"]

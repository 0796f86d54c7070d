"""NATS authentication: one user per bus principal with the permissions of `contracts.access`.

The embedded stack generates a password per principal on first `ombudsman up` (kept in
`<OMB_HOME>/nats/credentials.json`, mode 0600) and writes the server's config with their bcrypt
hashes (`<OMB_HOME>/nats/auth.conf`, mode 0600). Each process is given only its own user and
password (`OMB_NATS_USER`, `OMB_NATS_PASSWORD`). Deployments render the same config with
`ombudsman nats-config` and keep the passwords in their secret store.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

import bcrypt

from ombudsman.contracts.access import PRINCIPALS, inbox_prefix, nats_authorization, nats_permissions

CREDENTIALS_FILE = "credentials.json"
CONFIG_FILE = "auth.conf"


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only (created 0600, never world-readable in between)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def load_or_create_credentials(folder: Path) -> dict[str, str]:
    """The password of every bus principal, generated on first use and reused afterwards."""
    path = folder / CREDENTIALS_FILE
    found: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [p for p in PRINCIPALS if not found.get(p)]
    if missing:
        found.update({p: secrets.token_urlsafe(32) for p in missing})
        write_private(path, json.dumps(found, indent=2))
    return found


def server_config(passwords: dict[str, str]) -> str:
    """A nats-server config (JSON is valid NATS config syntax) with the `authorization` block, the
    passwords stored as bcrypt hashes."""
    hashed = {p: bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=10, prefix=b"2a")).decode()
              for p, pw in passwords.items()}
    return json.dumps({"authorization": nats_authorization(hashed)}, indent=2)


def write_server_config(folder: Path, passwords: dict[str, str]) -> Path:
    """Write the server's auth config under `folder` (0600) and return its path."""
    path = folder / CONFIG_FILE
    write_private(path, server_config(passwords))
    return path


def connect_options(user: str | None, password: str | None) -> dict[str, Any]:
    """nats-py `connect()` options of a principal: its credentials and its private inbox prefix."""
    if not user:
        return {}
    options: dict[str, Any] = {"user": user, "password": password or ""}
    if user in PRINCIPALS and user != "admin":
        options["inbox_prefix"] = inbox_prefix(user)
    return options


def nats_folder(home: Path) -> Path:
    return home / "nats"


def client_credentials(home: Path | None = None) -> tuple[str | None, str | None]:
    """The NATS user and password of this process: `OMB_NATS_USER`/`OMB_NATS_PASSWORD`, else (for
    operators' tools next to an embedded stack) the `admin` principal of `<OMB_HOME>/nats/credentials.json`."""
    user = os.environ.get("OMB_NATS_USER")
    if user:
        return user, os.environ.get("OMB_NATS_PASSWORD", "")
    home = home or Path(os.environ.get("OMB_HOME", ".ombudsman"))
    path = nats_folder(home) / CREDENTIALS_FILE
    if path.exists():
        with contextlib.suppress(ValueError, OSError):
            return "admin", str(json.loads(path.read_text())["admin"])
    return None, None


def bus_keys(home: Path) -> tuple[Path, Path]:
    """The gateway's bus token key pair under `<OMB_HOME>/nats` (generated on first use): the private
    key file (0600, given to the gateway only) and the public key file (given to every service)."""
    from ombudsman.eventstore.bustoken import generate_keypair

    private, public = nats_folder(home) / "bus-token.key", nats_folder(home) / "bus-token.pub"
    if not private.exists() or not public.exists():
        private_pem, public_pem = generate_keypair()
        write_private(private, private_pem)
        write_private(public, public_pem)
    return private, public


def process_env(home: Path, principal: str, passwords: dict[str, str] | None) -> dict[str, str]:
    """The bus environment of one process of the embedded stack: its own NATS user and password (when
    the stack runs its own NATS), the public bus token key, and for the gateway the private one."""
    private, public = bus_keys(home)
    env = {"OMB_BUS_TOKEN_PUBLIC_KEY": str(public)}
    if principal == "gateway":
        env["OMB_BUS_TOKEN_PRIVATE_KEY"] = str(private)
    if passwords is not None:
        env.update({"OMB_NATS_USER": principal, "OMB_NATS_PASSWORD": passwords[principal]})
    return env


def password_variable(principal: str) -> str:
    """The environment variable holding a principal's NATS password in deployments."""
    return f"OMB_NATS_PASSWORD_{principal.upper()}"


def deploy_config() -> str:
    """The `authorization` block for deploy/nats (included by single.conf and cluster.conf): every
    principal with its permissions, its password read by nats-server from the environment variable
    `password_variable(principal)` (a Kubernetes/compose Secret)."""
    lines = ["# Generated by `ombudsman nats-config` from libs/contracts/ombudsman/contracts/access.py; do not edit.",
             "# Each password comes from the server's environment (one Secret per service).",
             "authorization {", "  users = ["]
    for principal in PRINCIPALS:
        permissions = json.dumps(nats_permissions(principal), separators=(", ", ": "))
        lines.append(f"    {{user: {principal}, password: ${password_variable(principal)}, permissions: {permissions}}}")
    lines += ["  ]", "}", ""]
    return "\n".join(lines)

"""Where the CLI keeps its settings and tokens: `$XDG_CONFIG_HOME/ombudsman/` (default ~/.config/ombudsman)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DEFAULT_SERVER = "http://127.0.0.1:8800"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ombudsman"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Write a file only its owner can read (0600), in a folder only its owner can enter (0700)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.chmod(path, 0o600)


def load_config() -> dict[str, Any]:
    return _read(config_dir() / "config.json")


def save_config(data: dict[str, Any]) -> None:
    _write_private(config_dir() / "config.json", data)


def load_tokens() -> dict[str, Any]:
    return _read(config_dir() / "token.json")


def save_tokens(data: dict[str, Any]) -> None:
    _write_private(config_dir() / "token.json", data)


def clear_tokens() -> None:
    path = config_dir() / "token.json"
    if path.exists():
        path.unlink()


def login_for(server: str) -> dict[str, Any]:
    """The saved login (tokens, username) for one gateway: each stack keeps its own."""
    tokens = load_tokens()
    found = (tokens.get("stacks") or {}).get(server)
    if found:
        return dict(found)
    return dict(tokens) if tokens.get("server") == server else {}


def save_login(server: str, access_token: str, refresh_token: str | None, username: str) -> None:
    """Save a login (or its refreshed tokens) for `server`, keeping the other stacks' logins."""
    tokens = load_tokens()
    entry = {"server": server, "access_token": access_token, "refresh_token": refresh_token, "username": username}
    stacks = {**(tokens.get("stacks") or {}), server: entry}
    save_tokens({**entry, "stacks": stacks})  # top level: the latest login, as before


def forget_login(server: str) -> None:
    """Forget `server`'s login; the file goes when no login is left."""
    tokens = load_tokens()
    stacks = {k: v for k, v in (tokens.get("stacks") or {}).items() if k != server}
    if not stacks:
        clear_tokens()
        return
    latest = next(iter(stacks.values())) if tokens.get("server") == server else {
        k: v for k, v in tokens.items() if k != "stacks"}
    save_tokens({**latest, "stacks": stacks})


def server_url(explicit: str | None = None) -> str:
    """--server, else OMB_SERVER, else the saved server, else a running `ombudsman up` stack, else the default."""
    if explicit:
        return explicit.rstrip("/")
    if os.environ.get("OMB_SERVER"):
        return os.environ["OMB_SERVER"].rstrip("/")
    saved = load_config().get("server")
    if saved:
        return str(saved).rstrip("/")
    stack = _read(Path(os.environ.get("OMB_HOME", ".ombudsman")) / "stack.json")
    if stack.get("gateway_url"):
        return str(stack["gateway_url"])
    return DEFAULT_SERVER

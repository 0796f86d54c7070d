"""What a pipeline's connections may reach: never the platform's own PostgreSQL or NATS, and DuckDB
files only inside the folders an administrator allowed.

- `check_not_platform(url)`: `Invalid` (field named) when a connection URL's endpoint is the
  platform's database (`OMB_DATABASE_URL`, including libpq's `?host=/socket/dir` form used by the
  embedded pgserver) or its bus (`OMB_NATS_URL`). Endpoints are compared normalised: localhost,
  127.0.0.1 and ::1 are one host; a missing port is the scheme's default (5432 PostgreSQL, 4222
  NATS); a unix socket is its resolved directory (and port, which names the socket file).
- `check_file_root(url)`: a `duckdb:///path` (and a `file:///config.yaml`) must lie inside one of `OMB_FILE_ROOTS` (folders
  separated by `,` or `:`). With no root configured, the standalone CLI (`platform=False`) allows any
  local path (it is the user's own machine) and the platform refuses every file.
- `check_connection_url(url)`: both; called where connections are added (projects service) and by
  the executor's worker before it opens a run's connections.

DuckDB connections are in addition opened with `enable_external_access=false` and
`lock_configuration=true` (see `DUCKDB_SANDBOX`), so no query can read host files even if it got
past the SQL guard (`ombudsman.engine.sqlguard`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from ombudsman.contracts.replies import Invalid

# Settings every DuckDB database the engine opens gets; a URL may not set them.
DUCKDB_SANDBOX: dict[str, object] = {"enable_external_access": False, "lock_configuration": True}
DUCKDB_LOCKED_KEYS = frozenset({
    "enable_external_access", "lock_configuration", "allowed_directories", "allowed_paths",
    "allow_unsigned_extensions", "allow_community_extensions", "autoinstall_known_extensions",
    "autoload_known_extensions", "custom_extension_repository", "autoinstall_extension_repository",
    "extension_directory", "secret_directory", "allow_persistent_secrets", "temp_directory",
})
_LOCAL = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::", "localhost.localdomain", "ip6-localhost"}
_DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "nats": 4222, "tls": 4222, "mssql": 1433,
                  "sqlserver": 1433, "snowflake": 443}


@dataclass(frozen=True)
class Endpoint:
    """Where a URL connects: a TCP host and port, or a unix socket directory and port."""

    host: str  # normalised host name, or the resolved socket directory
    port: int | None
    unix: bool = False


def file_roots(env: Mapping[str, str] | None = None) -> list[Path]:
    """The folders DuckDB files may be opened from (`OMB_FILE_ROOTS`), resolved; [] when unset."""
    raw = (os.environ if env is None else env).get("OMB_FILE_ROOTS", "")
    return [Path(p).expanduser().resolve() for p in re.split(r"[,:]", raw) if p.strip()]


def check_file_root(url: str, *, field: str = "url", platform: bool = True,
                    env: Mapping[str, str] | None = None) -> None:
    """`Invalid` when `url` is a DuckDB file outside the allowed roots (see the module docstring)."""
    from ombudsman.engine.connectors.duckdb import duckdb_target

    if url.strip().lower().startswith("file:"):
        from ombudsman.engine.connectors.files import check_file_url

        check_file_url(url, field=field, platform=platform, env=env)
        return
    if not url.lower().startswith("duckdb"):
        return
    path, _, _ = duckdb_target(url)
    if path == ":memory:":
        return
    roots = file_roots(env)
    if not roots and not platform:
        return
    resolved = Path(path).expanduser().resolve()
    if any(resolved == root or root in resolved.parents for root in roots):
        return
    allowed = ", ".join(str(r) for r in roots) or "none configured"
    raise Invalid(
        f"{field}: DuckDB file {path!r} is outside the folders an administrator allowed (OMB_FILE_ROOTS: {allowed})",
        {"field": field, "setting": "OMB_FILE_ROOTS"},
    )


_PLATFORM_OUTPUT_DIRS: set[Path] = set()


def trust_output_dir(path: Path) -> None:
    """A folder the platform itself has steps write to (a worker's private scratch folder, whose
    differences files it sends and removes): allowed by `check_output_path` whatever OMB_FILE_ROOTS says.
    Only code registers one, never a pipeline."""
    _PLATFORM_OUTPUT_DIRS.add(Path(path).expanduser().resolve())


def check_output_path(path: str, *, field: str = "parameters.output", env: Mapping[str, str] | None = None) -> Path:
    """The resolved path of a file a step writes (a validator's `output`), or `Invalid` naming
    `field` when it lies outside `OMB_FILE_ROOTS`. On the platform (`OMB_DATABASE_URL` or
    `OMB_NATS_URL` set) with no root configured, every file is refused; the standalone CLI writes
    where it is told (the user's own machine)."""
    env = os.environ if env is None else env
    roots = file_roots(env)
    resolved = Path(path).expanduser().resolve()
    platform = bool(env.get("OMB_DATABASE_URL") or env.get("OMB_NATS_URL"))
    allowed_dirs = [*roots, *_PLATFORM_OUTPUT_DIRS]
    if (not roots and not platform) or any(resolved == root or root in resolved.parents for root in allowed_dirs):
        return resolved
    allowed = ", ".join(str(r) for r in roots) or "none configured"
    raise Invalid(
        f"{field}: file {path!r} is outside the folders an administrator allowed (OMB_FILE_ROOTS: {allowed})",
        {"field": field, "setting": "OMB_FILE_ROOTS"},
    )


def endpoints(url: str) -> list[Endpoint]:
    """Every endpoint a URL may connect to (libpq allows several hosts and `?host=` / `?port=`)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return []
    scheme = parts.scheme.lower().partition("+")[0]
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    netloc_hosts = parts.netloc.rpartition("@")[2]
    hosts = [h for h in re.split(r",", query.get("host", "")) if h] or _netloc_hosts(netloc_hosts)
    if "port" in query and query["port"].isdigit():
        port = int(query["port"])
    port = port or _DEFAULT_PORTS.get(scheme)
    out = []
    for host in hosts or (["/tmp", "/var/run/postgresql"] if scheme in ("postgresql", "postgres") else []):
        host = unquote(host)
        if host.startswith("/") or host.startswith("@"):
            out.append(Endpoint(os.path.realpath(host), port, unix=True))
        else:
            name = host.strip("[]").lower()
            out.append(Endpoint("localhost" if name in _LOCAL or name.startswith("127.") else name, port))
    return out


def _netloc_hosts(netloc: str) -> list[str]:
    hosts = []
    for item in netloc.split(","):
        if item.startswith("["):
            hosts.append(item[1: item.index("]")] if "]" in item else item)
        elif item:
            hosts.append(item.rsplit(":", 1)[0] if item.count(":") == 1 else item)
    return hosts


def platform_endpoints(env: Mapping[str, str] | None = None) -> dict[str, list[Endpoint]]:
    """The platform's own database and bus endpoints, by setting name."""
    env = os.environ if env is None else env
    found: dict[str, list[Endpoint]] = {}
    for setting in ("OMB_DATABASE_URL", "OMB_NATS_URL"):
        for url in (u for u in env.get(setting, "").split(",") if u.strip()):
            if "://" not in url and setting == "OMB_NATS_URL":
                url = "nats://" + url
            found.setdefault(setting, []).extend(endpoints(url))
    return found


def check_not_platform(url: str, *, field: str = "url", env: Mapping[str, str] | None = None) -> None:
    """`Invalid` naming `field` when `url` points at the platform's PostgreSQL or NATS."""
    mine = endpoints(url)
    for setting, theirs in platform_endpoints(env).items():
        for a in mine:
            if any(a.unix == b.unix and a.host == b.host and (a.port == b.port or None in (a.port, b.port))
                   for b in theirs):
                what = "PostgreSQL database" if setting == "OMB_DATABASE_URL" else "NATS server"
                raise Invalid(
                    f"{field}: the connection points at the platform's own {what}; connect to the databases "
                    "being validated instead",
                    {"field": field, "refused": setting},
                )


def check_connection_url(url: str, *, field: str = "url", platform: bool = True,
                         env: Mapping[str, str] | None = None) -> None:
    """The checks every connection URL of the platform passes before it is stored or opened."""
    check_not_platform(url, field=field, env=env)
    check_file_root(url, field=field, platform=platform, env=env)

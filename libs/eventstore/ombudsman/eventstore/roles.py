"""Per-service PostgreSQL roles: each service logs in as `omb_<service>`, owns its schema, and has
no grant on any other schema.

`provision_roles(admin_url, services, home)` (run with a superuser URL, idempotent) for each service:

* creates the LOGIN role `omb_<service>` (NOSUPERUSER, NOCREATEDB, NOCREATEROLE) with a generated
  password kept in `<home>/db-roles/<role>.password` (mode 0600) and re-applied on every run, so
  the next `ombudsman up` reuses it and a rotated file takes effect;
* creates its schema `AUTHORIZATION` that role, or hands an existing schema (data from an earlier
  `up`, made by the superuser) and every table, view, sequence and function in it to the role;
* revokes `CREATE` on schema `public` and `CONNECT`/`TEMPORARY` on the database from `PUBLIC`,
  and grants `CONNECT` to the service roles only.

The audit service is split in two roles so its log is append-only *by grant*, not only by trigger:
`omb_audit_owner` owns schema `audit` and runs its migrations (`OMB_MIGRATION_DATABASE_URL`);
`omb_audit` (the running service) gets USAGE and CREATE on the schema (its projections create their
own tables), SELECT/INSERT/UPDATE/DELETE on the owner's tables (default privileges too) except
`audit.event_log` and `audit.archive_segments`, where it keeps SELECT and INSERT only. Not being
the owner, it can neither ALTER those tables nor disable their triggers; archiving deletes archived
rows through the owner's SECURITY DEFINER function `audit.delete_archived(first, last)`.

`pgserver` (the embedded PostgreSQL) trusts every local socket connection, so passwords would not be
checked there: with `enforce_passwords=True` a `local all /^omb_ scram-sha-256` line is put first in
`pg_hba.conf` and the configuration reloaded, so the service roles must prove their password (the
superuser keeps the server's own rule). A server whose pg_hba.conf is not writable from here is left
alone (its administrator configures authentication).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

from ombudsman.eventstore.db import quote_ident

if TYPE_CHECKING:
    from asyncpg import Connection

log = logging.getLogger(__name__)

# The schema of each service (its `SCHEMA` constant).
SERVICE_SCHEMAS: dict[str, str] = {
    "projects": "projects", "metadata": "metadata", "executor": "executor", "workload": "workload",
    "audit": "audit", "gateway": "gateway",
}
# Services whose schema is owned by a separate migration role (`omb_<service>_owner`).
SPLIT_OWNER = {"audit"}
# Tables the audit runtime role may only SELECT and INSERT.
AUDIT_APPEND_ONLY = ("event_log", "archive_segments")
HBA_LINE = "local all /^omb_ scram-sha-256  # ombudsman: service roles must give their password"


@dataclass(frozen=True)
class ServiceDatabase:
    """How one service connects: `url` as its runtime role; `migration_url` when another role owns
    the schema and runs the migrations (else None: the runtime role does)."""

    service: str
    role: str
    url: str
    migration_url: str | None = None


def role_name(service: str, suffix: str = "") -> str:
    return f"omb_{service}{suffix}"


def read_or_create_secret(path: Path) -> str:
    """The secret stored in `path`, created (random, mode 0600) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    path.chmod(0o600)
    return path.read_text().strip()


def role_url(admin_url: str, role: str, password: str) -> str:
    """`admin_url` with `role:password` as its user (host, socket `host=` parameter and database kept)."""
    parts = urlsplit(admin_url)
    host = parts.netloc.rsplit("@", 1)[1] if "@" in parts.netloc else parts.netloc
    netloc = f"{quote(role, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def provision_roles(admin_url: str, services: Iterable[str], home: Path, *,
                          enforce_passwords: bool = False) -> dict[str, ServiceDatabase]:
    """Create or update the roles and schemas of `services` in the database of `admin_url` (a
    superuser); returns each service's connection. Idempotent; existing data keeps working."""
    import asyncpg

    services = list(services)
    unknown = [s for s in services if s not in SERVICE_SCHEMAS]
    if unknown:
        raise ValueError(f"no schema known for service(s) {', '.join(unknown)}")
    conn = await asyncpg.connect(admin_url)
    try:
        database = await conn.fetchval("SELECT current_database()")
        async with conn.transaction():
            # Roles are cluster-wide: two provisioning runs at once must not race on CREATE ROLE.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('omb-provision-roles'))")
            await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            await conn.execute(f"REVOKE CONNECT, TEMPORARY ON DATABASE {quote_ident(database)} FROM PUBLIC")
            result: dict[str, ServiceDatabase] = {}
            for service in services:
                result[service] = await _provision_one(conn, admin_url, database, service, home)
        if enforce_passwords:
            await require_passwords(conn)
    finally:
        await conn.close()
    return result


async def _ensure_role(conn: Connection, role: str, password: str) -> None:
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    verb = "ALTER" if exists else "CREATE"
    # Passwords are generated URL-safe text; a literal is needed (utility statements take no parameters).
    literal = "'" + password.replace("'", "''") + "'"
    await conn.execute(
        f"{verb} ROLE {quote_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
        f"PASSWORD {literal}")


async def _provision_one(conn: Connection, admin_url: str, database: str, service: str, home: Path) -> ServiceDatabase:
    c = conn
    schema = SERVICE_SCHEMAS[service]
    runtime = role_name(service)
    owner = role_name(service, "_owner") if service in SPLIT_OWNER else runtime
    passwords = {role: read_or_create_secret(home / "db-roles" / f"{role}.password") for role in {runtime, owner}}
    for role, password in passwords.items():
        await _ensure_role(c, role, password)
        await c.execute(f"GRANT CONNECT ON DATABASE {quote_ident(database)} TO {quote_ident(role)}")
    s, o = quote_ident(schema), quote_ident(owner)
    await c.execute(f"CREATE SCHEMA IF NOT EXISTS {s} AUTHORIZATION {o}")
    await c.execute(f"ALTER SCHEMA {s} OWNER TO {o}")
    await c.execute(f"REVOKE ALL ON SCHEMA {s} FROM PUBLIC")
    await _hand_over_objects(c, schema, owner)
    if owner != runtime:
        await _grant_split_runtime(c, schema, owner, runtime)
    migration_url = role_url(admin_url, owner, passwords[owner]) if owner != runtime else None
    return ServiceDatabase(service, runtime, role_url(admin_url, runtime, passwords[runtime]), migration_url)


async def _hand_over_objects(c: Connection, schema: str, owner: str) -> None:
    """Every table, view, sequence and function of `schema` owned by someone else goes to `owner`."""
    o = quote_ident(owner)
    relations = await c.fetch(
        """SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
             AND pg_get_userbyid(c.relowner) <> $2""", schema, owner)
    for rel in relations:
        kind = {"v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE"}.get(rel["relkind"], "TABLE")
        await c.execute(f"ALTER {kind} {quote_ident(schema)}.{quote_ident(rel['relname'])} OWNER TO {o}")
    # Sequences that belong to no column (those that do followed their table).
    sequences = await c.fetch(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relkind = 'S' AND pg_get_userbyid(c.relowner) <> $2
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))""",
        schema, owner)
    for seq in sequences:
        await c.execute(f"ALTER SEQUENCE {quote_ident(schema)}.{quote_ident(seq['relname'])} OWNER TO {o}")
    functions = await c.fetch(
        """SELECT p.oid::regprocedure::text AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = $1 AND pg_get_userbyid(p.proowner) <> $2""", schema, owner)
    for fn in functions:
        await c.execute(f"ALTER ROUTINE {fn['sig']} OWNER TO {o}")


async def _grant_split_runtime(c: Connection, schema: str, owner: str, runtime: str) -> None:
    """The runtime role of a split schema: DML on the owner's tables except the append-only ones."""
    s, o, r = quote_ident(schema), quote_ident(owner), quote_ident(runtime)
    await c.execute(f"REVOKE {o} FROM {r}")  # never a member of the owner
    await c.execute(f"GRANT USAGE, CREATE ON SCHEMA {s} TO {r}")
    await c.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}")
    await c.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}")
    await c.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} "
                    f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}")
    await c.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} GRANT USAGE, SELECT ON SEQUENCES TO {r}")
    for table in AUDIT_APPEND_ONLY:
        exists = await c.fetchval("SELECT to_regclass($1)", f"{schema}.{table}")
        if exists:
            await c.execute(f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {s}.{quote_ident(table)} FROM {r}")


async def require_passwords(conn: Connection) -> bool:
    """Put `HBA_LINE` first in the server's pg_hba.conf and reload; False when the file is not ours to edit."""
    hba = Path(await conn.fetchval("SHOW hba_file"))
    try:
        _prepend_line(hba, HBA_LINE)
    except OSError as exc:
        log.warning("cannot edit %s (%s): service-role passwords are only checked if its rules say so", hba, exc)
        return False
    await conn.execute("SELECT pg_reload_conf()")
    return True


def _prepend_line(path: Path, line: str) -> None:
    text = path.read_text()
    if line not in text:
        path.write_text(line + "\n" + text)

"""`ombudsman up | down | status`: the embedded stack as separate processes.

A real `nats-server -js` (unless OMB_NATS_URL is set) — or, with `--nats-cluster 3`, a 3-node JetStream
cluster whose streams get three replicas —, a real PostgreSQL from `pgserver` (unless OMB_DATABASE_URL
is set), every service and the gateway, each its own process with its log in `.ombudsman/logs/`.
A second `up` reuses the data under `.ombudsman/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from ombudsman.eventstore import natsauth
from ombudsman.eventstore.cluster import CLUSTER_SIZES, NatsCluster, stream_replicas, wait_jetstream
from ombudsman.eventstore.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from ombudsman.eventstore.roles import provision_roles, read_or_create_secret

SERVICES = ["projects", "metadata", "executor", "workload", "audit"]
GATEWAY = "gateway"
DEFAULT_GATEWAY_PORT = 8800
STATE_FILE = "stack.json"
DEMO_PGDATA = "demo/pgdata"  # `ombudsman demo`'s source warehouse server, stopped with the stack

app = typer.Typer(add_completion=False)


@dataclass
class Stack:
    """What `up` started, as written to `.ombudsman/stack.json`."""

    home: Path
    nats_url: str = ""
    database_url: str = ""
    gateway_url: str = ""
    nats_pid: int | None = None  # the single embedded node
    nats_nodes: dict[str, int] = field(default_factory=dict)  # an embedded cluster: node name -> pid
    pgdata: str | None = None
    processes: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, int] = field(default_factory=dict)  # label -> its Prometheus /metrics port

    def save(self) -> None:
        data = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}
        (self.home / STATE_FILE).write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, home: Path) -> Stack | None:
        path = home / STATE_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        data["home"] = Path(data["home"])
        return cls(**data)


def home_dir() -> Path:
    return Path(os.environ.get("OMB_HOME", ".ombudsman")).resolve()


def _secret(home: Path, name: str, env: str) -> str:
    if os.environ.get(env):
        return os.environ[env]
    return read_or_create_secret(home / name)


# The secrets each process is given (nothing else: a service never holds another's key).
SECRET_FILES = {"OMB_SECRET_KEY": "secret.key", "OMB_JWT_SECRET": "jwt.key", "OMB_ALERT_SECRET": "alert.key"}
SECRETS_OF = {
    "projects": ("OMB_SECRET_KEY",),  # encrypts connection secrets
    "audit": ("OMB_SECRET_KEY", "OMB_ALERT_SECRET"),  # seeds the archive signing key; signs webhooks
    GATEWAY: ("OMB_JWT_SECRET",),
}
_PER_PROCESS = (*SECRET_FILES, "OMB_DATABASE_URL", "OMB_MIGRATION_DATABASE_URL", "OMB_METRICS_PORT",
                "OMB_BUS_TOKEN_PRIVATE_KEY", "OMB_NATS_USER", "OMB_NATS_PASSWORD")


def _database_urls(stack: Stack, services: list[str], embedded: bool) -> dict[str, dict[str, str]]:
    """Per service: its OMB_DATABASE_URL (and OMB_MIGRATION_DATABASE_URL), as its own role when the
    launcher runs PostgreSQL or OMB_DB_ROLES=per-service (OMB_DATABASE_URL is then a superuser's)."""
    if not (embedded or os.environ.get("OMB_DB_ROLES") == "per-service"):
        return {s: {"OMB_DATABASE_URL": stack.database_url} for s in services}
    dbs = asyncio.run(provision_roles(stack.database_url, services, stack.home, enforce_passwords=embedded))
    urls = {s: {"OMB_DATABASE_URL": d.url} for s, d in dbs.items()}
    for service, d in dbs.items():
        if d.migration_url:
            urls[service]["OMB_MIGRATION_DATABASE_URL"] = d.migration_url
    return urls


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    with contextlib.suppress(Exception):
        import psutil

        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    return True


def _port_free(port: int) -> bool:
    """Whether a server could listen on `port` now. The probe binds as the servers do, with
    SO_REUSEADDR, so a port whose last connections linger in TIME-WAIT after `down` counts as free."""
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PortTaken(RuntimeError):
    """The gateway port asked for (--port or OMB_GATEWAY_PORT) is in use by another program."""


def choose_gateway_port(explicit: int | None, previous: Stack | None) -> int:
    """The gateway's port: --port, else OMB_GATEWAY_PORT, else the port the last `up` used (so saved
    logins and URLs keep working across restarts), else 8800. A port asked for that is taken is an
    error; the saved or default port, when taken, gives way to a free one, with a warning."""
    asked = explicit or (int(os.environ["OMB_GATEWAY_PORT"]) if os.environ.get("OMB_GATEWAY_PORT") else None)
    if asked:
        if not _port_free(asked):
            raise PortTaken(f"port {asked} is in use by another program: stop it, or choose another with "
                            "--port (or OMB_GATEWAY_PORT)")
        return asked
    saved = _port_of(previous.gateway_url) if previous else None
    port = saved or DEFAULT_GATEWAY_PORT
    if _port_free(port):
        return port
    chosen = free_port()
    typer.secho(f"  port {port} is in use by another program: the gateway listens on {chosen} instead "
                "(--port chooses one)", fg="yellow", err=True)
    return chosen


def _port_of(url: str) -> int | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).port
    except ValueError:
        return None


def _module_runnable(module: str) -> bool:
    try:
        return importlib.util.find_spec(f"{module}.__main__") is not None
    except ModuleNotFoundError:
        return False


async def _ensure_database(server_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _healthy(nats_url: str, service: str, home: Path) -> bool:
    from ombudsman.contracts.subjects import health_subject
    from ombudsman.eventstore.runtime import connect_nats

    user, password = natsauth.client_credentials(home)
    try:
        nc = await connect_nats(nats_url, name="omb-launcher", timeout=2, user=user, password=password,
                                reconnect=False)
    except Exception:
        return False
    try:
        reply = await nc.request(health_subject(service), b"{}", timeout=1)
        return bool(json.loads(reply.data).get("ok"))
    except Exception:
        return False
    finally:
        await nc.close()


def _gateway_healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/api/v1/health", timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def cluster_size(asked: int | None) -> int:
    """The embedded NATS nodes to run: `asked` (--nats-cluster), else OMB_NATS_CLUSTER, else 1.

    Raises ValueError naming the bad value: a cluster has 1, 3 or 5 nodes, and an external NATS
    (OMB_NATS_URL) is never started by the launcher."""
    raw = asked if asked is not None else os.environ.get("OMB_NATS_CLUSTER") or 1
    try:
        size = int(raw)
    except ValueError:
        raise ValueError(f"--nats-cluster (OMB_NATS_CLUSTER) must be a number of nodes, not {raw!r}") from None
    if size not in CLUSTER_SIZES:
        raise ValueError(f"--nats-cluster must be 1, 3 or 5 nodes (a Raft majority), not {size}")
    if size > 1 and os.environ.get("OMB_NATS_URL"):
        raise ValueError("--nats-cluster starts embedded NATS nodes, but OMB_NATS_URL names an external NATS")
    return size


def stream_replica_count(nodes: int) -> int:
    """The replicas of OMB_EVENTS and OMB_WORK: OMB_EVENTS_REPLICAS if set, else 3 in a cluster, else 1."""
    return int(os.environ.get("OMB_EVENTS_REPLICAS") or (1 if nodes == 1 else 3))


def _nats_ports(nodes: int, explicit: int | None, previous: Stack | None) -> list[int]:
    """Client ports of the embedded NATS nodes: the first `explicit`, else the last `up`'s, else 4333;
    the others the last `up`'s; any port taken (or unknown) replaced by a free one."""
    before = [p for p in (_port_of(u) for u in previous.nats_url.split(",")) if p] if previous and previous.nats_url else []
    ports: list[int] = []
    for index in range(nodes):
        port = explicit if index == 0 and explicit else before[index] if index < len(before) else None
        if port is None and index == 0:
            port = 4333
        if port is None or port in ports or not _port_free(port):
            port = free_port()
        ports.append(port)
    return ports


def replica_label(service: str, index: int) -> str:
    """The process label of a service's replica: `executor`, then `executor-2`, `executor-3`, ..."""
    return service if index == 1 else f"{service}-{index}"


def start_stack(*, detach: bool, workers: int = 2, gateway_port: int | None = None, timeout: float = 90,
                replicas: int = 1, only: list[str] | None = None, nats_port: int | None = None,
                nats_cluster: int | None = None) -> Stack:
    """Start (or reuse) the whole stack; returns when every part answers its health check.

    `replicas` processes of every service (one gateway: it owns its port); `only` limits the
    services (and gateway) started to those named (tests that need a part of the stack);
    `nats_port` the embedded NATS server's port (else the last `up`'s, else 4333, else a free one);
    `nats_cluster` the embedded NATS nodes (`cluster_size`): 3 runs a JetStream cluster on loopback
    and the services create their streams with 3 replicas."""
    nodes = cluster_size(nats_cluster)
    home = home_dir()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    previous = Stack.load(home)
    if previous and any(_alive(pid) for pid in previous.processes.values()):
        raise typer.BadParameter(f"a stack is already running from {home} (ombudsman status / ombudsman down)")
    stack = Stack(home=home)
    gateway_port_chosen = choose_gateway_port(gateway_port, previous)  # before anything starts: it may refuse

    nats_server = None
    passwords: dict[str, str] | None = None  # the bus principals' passwords when the stack runs its own NATS
    stack.nats_url = os.environ.get("OMB_NATS_URL", "")
    if not stack.nats_url:
        ports = _nats_ports(nodes, nats_port, previous)
        folder = natsauth.nats_folder(home)
        passwords = natsauth.load_or_create_credentials(folder)
        config = natsauth.write_server_config(folder, passwords)
        if nodes == 1:
            nats_server = EmbeddedNats.start(home / "nats", ports[0], detach=detach, config=config)
            stack.nats_url, stack.nats_pid = nats_server.url, nats_server.process.pid if nats_server.process else None
        else:
            cluster = NatsCluster.start(folder, config, nodes, ports, detach=detach)
            stack.nats_url, stack.nats_nodes = cluster.url, cluster.pids
            stack.save()  # so `down` finds the nodes should the election below fail
            try:
                asyncio.run(wait_jetstream(stack.nats_url, "admin", passwords["admin"], timeout=timeout))
            except BaseException:
                cluster.stop()
                raise

    try:  # whatever fails from here stops what started before it (NATS first of all)
        pg = None
        stack.database_url = os.environ.get("OMB_DATABASE_URL", "")
        if not stack.database_url:
            pg = EmbeddedPostgres.start(home / "pgdata", keep_running=True)
            stack.pgdata = str(home / "pgdata")
            asyncio.run(_ensure_database(pg.uri("postgres"), "ombudsman"))
            stack.database_url = pg.uri("ombudsman")

        stack.gateway_url = f"http://127.0.0.1:{gateway_port_chosen}"
        env = {
            # secrets, database roles and bus credentials are given per process (the bus token's private
            # key to the gateway alone), whatever this shell holds
            **{k: v for k, v in os.environ.items() if k not in _PER_PROCESS},
            "OMB_NATS_URL": stack.nats_url,
            "OMB_EVENTS_REPLICAS": str(stream_replica_count(nodes)),
            "OMB_GATEWAY_PORT": str(gateway_port_chosen),
            "OMB_HOME": str(home),
            "OMB_FILE_ROOTS": os.environ.get("OMB_FILE_ROOTS") or str(home / "demo"),  # DuckDB files pipelines may open
            "PYTHONUNBUFFERED": "1",
        }
        keys = {env_name: _secret(home, file, env_name) for env_name, file in SECRET_FILES.items()}
        wanted = [s for s in SERVICES if only is None or s in only]
        runnable = [s for s in wanted if _module_runnable(f"ombudsman.{s}")]
        has_gateway = (only is None or GATEWAY in only) and _module_runnable("ombudsman.gateway")
        databases = _database_urls(stack, runnable + ([GATEWAY] if has_gateway else []), embedded=pg is not None)

        def spawn(label: str, args: list[str], service: str, principal: str) -> None:
            own = {**env, **databases[service], **{k: keys[k] for k in SECRETS_OF.get(service, ())}}
            if principal in SERVICES or principal in ("worker", GATEWAY):  # every process serves its metrics on a port of its own
                stack.metrics[label] = free_port()
                own["OMB_METRICS_PORT"] = str(stack.metrics[label])
            log = open(home / "logs" / f"{label}.log", "ab")
            proc = subprocess.Popen(
                [sys.executable, "-m", *args], env={**own, **natsauth.process_env(home, principal, passwords)},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=detach
            )
            stack.processes[label] = proc.pid

        started: list[str] = []
        for service in wanted:
            if service in runnable:
                for index in range(1, replicas + 1):
                    spawn(replica_label(service, index), [f"ombudsman.{service}"], service, service)
                started.append(service)
            else:
                typer.secho(f"  {service}: not installed, skipped", fg="yellow", err=True)
        if "executor" in started:
            for i in range(workers):
                spawn(f"worker-{i + 1}", ["ombudsman.executor", "worker"], "executor", "worker")
        if has_gateway:
            spawn(GATEWAY, ["ombudsman.gateway"], GATEWAY, GATEWAY)
        stack.save()
        _wait_healthy(stack, started, timeout)
    except BaseException:
        stop_stack(stack)
        raise
    return stack


def _wait_healthy(stack: Stack, services: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(services) | ({GATEWAY} if GATEWAY in stack.processes else set())
    while pending:
        for label, pid in stack.processes.items():
            if not _alive(pid):
                tail = _log_tail(stack.home / "logs" / f"{label}.log")
                raise RuntimeError(f"{label} exited during start-up; its log ends with:\n{tail}")
        for name in sorted(pending):
            ok = _gateway_healthy(stack.gateway_url) if name == GATEWAY else asyncio.run(_healthy(stack.nats_url, name, stack.home))
            if ok:
                pending.discard(name)
                typer.echo(f"  {name}: up")
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"not healthy after {timeout:.0f}s: {', '.join(sorted(pending))}")
        if pending:
            time.sleep(0.3)


def _log_tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def stop_stack(stack: Stack) -> None:
    """Stop every process of the stack (services first, then NATS and PostgreSQL)."""
    for pid in stack.processes.values():
        if _alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in stack.processes.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in stack.processes.values():
        if _alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    nats_pids = [p for p in (stack.nats_pid, *stack.nats_nodes.values()) if p and _alive(p)]
    for pid in nats_pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in nats_pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    # the platform's PostgreSQL, and the demo's warehouse server (kept apart: pipelines may not reach the platform's)
    demo_pgdata = Path(stack.home) / DEMO_PGDATA
    for pgdata in [*([stack.pgdata] if stack.pgdata else []), *([str(demo_pgdata)] if demo_pgdata.exists() else [])]:
        try:
            EmbeddedPostgres.shutdown(pgdata)
        except Exception as exc:  # reported, never a traceback: the rest is stopped already
            typer.secho(f"  PostgreSQL in {pgdata} did not stop cleanly: {exc}", fg="yellow", err=True)
    stack.processes = {}
    stack.metrics = {}
    stack.nats_pid = None
    stack.nats_nodes = {}
    stack.save()


def _reap_children() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


@app.command()
def up(
    detach: bool = typer.Option(False, "--detach", "-d", help="Start in the background and return."),
    workers: int = typer.Option(2, help="Executor worker processes."),
    replicas: int = typer.Option(1, min=1, help="Processes of every service but the gateway (queue groups share their "
                                 "requests; one executor coordinates at a time, the others stand by)."),
    port: int = typer.Option(None, help="Gateway port (default: OMB_GATEWAY_PORT, else the port the last `up` used, else 8800; a free one if that is taken)."),
    nats_cluster: int = typer.Option(None, "--nats-cluster", envvar="OMB_NATS_CLUSTER", show_default="1",
                                     help="Embedded NATS nodes: 3 (or 5) runs a JetStream cluster on loopback ports "
                                     "whose streams get 3 replicas (OMB_EVENTS_REPLICAS)."),
) -> None:
    """Start NATS, PostgreSQL, every service and the gateway; Ctrl-C stops them all."""
    try:
        cluster_size(nats_cluster)
    except ValueError as exc:
        typer.secho(f"ombudsman up: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"Starting Ombudsman from {home_dir()} ...")
    try:
        stack = start_stack(detach=detach, workers=workers, gateway_port=port, replicas=replicas,
                            nats_cluster=nats_cluster)
    except PortTaken as exc:
        typer.secho(f"ombudsman up: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError) as exc:
        # whatever had started is stopped already (start_stack)
        typer.secho(f"ombudsman up failed: {type(exc).__name__}: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    stop = {"now": False}

    def _stop(*_: Any) -> None:
        stop["now"] = True

    if not detach:  # from here on Ctrl-C means "stop the stack", never a traceback
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
    typer.echo(f"Gateway: {stack.gateway_url}  (API docs: {stack.gateway_url}/docs)")
    typer.echo(f"NATS: {stack.nats_url}")
    if detach:
        typer.echo("Running in the background: `ombudsman status`, `ombudsman down`.")
        return
    typer.echo("Press Ctrl-C to stop.")
    while not stop["now"]:
        time.sleep(0.3)
        _reap_children()
    typer.echo("Stopping ...")
    stop_stack(stack)
    typer.echo("Stopped.")


@app.command()
def down() -> None:
    """Stop a stack started with `ombudsman up --detach`."""
    stack = Stack.load(home_dir())
    if stack is None:
        typer.echo("No stack state found.")
        return
    stop_stack(stack)
    typer.echo("Stopped.")


def _postgres_pid(pgdata: str | None) -> int | None:
    """The postmaster's pid of the embedded PostgreSQL (first line of postmaster.pid), if it runs."""
    pid_file = Path(pgdata) / "postmaster.pid" if pgdata else None
    if pid_file is None or not pid_file.exists():
        return None
    with contextlib.suppress(ValueError, OSError, IndexError):
        return int(pid_file.read_text().split()[0])
    return None


def stack_processes(stack: Stack) -> list[tuple[str, int | None, str]]:
    """Every process of the stack as (label, pid, what it serves): NATS node(s), PostgreSQL, services."""
    urls = stack.nats_url.split(",")
    found: list[tuple[str, int | None, str]] = []
    if stack.nats_pid:
        found.append(("nats", stack.nats_pid, urls[0]))
    for index, (name, pid) in enumerate(stack.nats_nodes.items()):
        found.append((name, pid, urls[index] if index < len(urls) else ""))
    if stack.pgdata:
        found.append(("postgres", _postgres_pid(stack.pgdata), stack.pgdata))
    for label, pid in stack.processes.items():
        metrics = f"metrics http://127.0.0.1:{stack.metrics[label]}/metrics" if label in stack.metrics else ""
        found.append((label, pid, stack.gateway_url if label == GATEWAY else metrics))
    return found


@app.command()
def status() -> None:
    """Which parts of the stack are running, and each stream's replicas (leader, followers current or lagging)."""
    stack = Stack.load(home_dir())
    if stack is None or not stack.processes:
        typer.echo("Not running.")
        raise typer.Exit(1)
    typer.echo(f"Gateway: {stack.gateway_url}\nNATS: {stack.nats_url}")
    down_count = 0
    for label, pid, serves in stack_processes(stack):
        alive = _alive(pid)
        down_count += not alive
        typer.echo(f"  {label:<10} pid {pid or '-':<8} {'running' if alive else 'stopped'}  {serves}".rstrip())
    user, password = natsauth.client_credentials(stack.home)
    try:
        streams = asyncio.run(stream_replicas(stack.nats_url, user, password))
    except Exception as exc:  # NATS down or refusing: the processes above say which
        typer.echo(f"Streams: not readable ({type(exc).__name__}: {exc})")
    else:
        typer.echo("Streams:")
        for replicas in streams:
            typer.echo(f"  {replicas.describe()}")
    raise typer.Exit(1 if down_count else 0)

"""Gateway fixtures: the real app (its lifespan connects to the test's NATS and PostgreSQL) behind
an in-process httpx client, plus helpers to make users and tokens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import uvicorn

from ombudsman.audit import app as audit_app
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.registry import Event, envelope_for
from ombudsman.contracts.subjects import command_subject, event_subject
from ombudsman.eventstore.embedded import free_port
from ombudsman.eventstore.rpc import request
from ombudsman.eventstore.settings import Settings
from ombudsman.eventstore.streams import ensure_streams
from ombudsman.executor import app as executor_app
from ombudsman.executor.settings import ExecutorSettings
from ombudsman.gateway.app import create_app
from ombudsman.gateway.settings import GatewaySettings
from ombudsman.metadata import app as metadata_app
from ombudsman.projects import app as projects_app
from ombudsman.workload import app as workload_app
from ombudsman.workload.handlers import WorkloadSettings
from tests.engine.conftest import fakesnow_server, fakesnow_url  # noqa: F401  (fixtures)
from tests.gateway.standins import ExecutorTimingStandIn
from tests.support import eventually

JWT_SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery"


def service_settings(database_url: str, nats_url: str) -> Settings:
    return Settings(database_url=database_url, nats_url=nats_url, secret_key="k" * 32)


@pytest.fixture
async def projects_service(database_url: str, nats_url: str) -> AsyncIterator[Any]:
    """The real projects service."""
    service = projects_app.create_service(service_settings(database_url, nats_url))
    await service.start()
    yield service
    await service.stop()


def workload_settings(database_url: str, nats_url: str, upload_dir: Path) -> WorkloadSettings:
    return WorkloadSettings(database_url=database_url, nats_url=nats_url, secret_key="k" * 32,
                            workload_upload_dir=upload_dir)


def gateway_settings(database_url: str, nats_url: str, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "database_url": database_url, "nats_url": nats_url, "jwt_secret": JWT_SECRET,
        "bcrypt_rounds": 4,  # tests only: production is 12
        "open_registration": True, "request_timeout": 3.0, "health_timeout": 0.5,
    }
    values.update(overrides)
    return GatewaySettings(**values)


async def ensure_events_stream(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        await ensure_streams(nc.jetstream())
    finally:
        await nc.close()


@dataclass
class Gateway:
    app: Any
    client: httpx.AsyncClient
    settings: GatewaySettings

    async def register(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        r = await self.client.post("/api/v1/auth/register", json={"username": username, "password": password})
        assert r.status_code == 201, r.text
        return r.json()

    async def login(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        r = await self.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return r.json()

    async def user(self, username: str, role: str = "user") -> tuple[dict[str, Any], dict[str, str]]:
        """A user with `role` and the Authorization header of a fresh login."""
        users = self.app.state.users
        created = await users.register(username, PASSWORD, role)
        tokens = await self.login(username)
        return created, {"Authorization": f"Bearer {tokens['access_token']}"}


@contextlib.asynccontextmanager
async def gateway_app(database_url: str, nats_url: str, client_ip: str = "10.1.2.3",
                      base_url: str = "http://gateway") -> AsyncIterator[Gateway]:
    """A gateway app started (its lifespan) on the database and bus, with an in-process client
    calling from `client_ip`; a second one on the same database and bus is another replica."""
    await ensure_events_stream(nats_url)
    settings = gateway_settings(database_url, nats_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(client_ip, 5555))
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield Gateway(app, client, settings)


@pytest.fixture
async def gateway(database_url: str, nats_url: str) -> AsyncIterator[Gateway]:
    async with gateway_app(database_url, nats_url) as started:
        yield started


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


class Served:
    """A gateway on a free port with the REAL projects, metadata, workload and audit services behind
    it, and one stand-in (tests/gateway/standins.py): the executor's run queries, because the WebSocket
    tests publish synthetic run events with exact timing, which the real executor cannot know about
    (`executor` is None when the real executor serves: the `served_with_executor` fixture). The real
    executor and a worker are behind the gateway in test_gateway_e2e_run.py and test_gateway_full_flow.py."""

    def __init__(self, app: Any, port: int, nc: Any, executor: ExecutorTimingStandIn | None, upload_dir: Path):
        self.app, self.port, self.nc, self.executor = app, port, nc, executor
        self.upload_dir = upload_dir
        self.executor_service: Any = None  # the real executor service (served_with_executor)
        self.created: set[str] = set()
        self.versions: dict[str, int] = {}

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def token(self, username: str, role: str = "user") -> tuple[str, str]:
        user = await self.app.state.users.register(username, "password-123", role)
        issued = await self.app.state.users.login(username, "password-123")
        return user["id"], issued.access_token

    async def create_project(self, project_id: str, owner_id: str, owner_name: str = "owner",
                             members: tuple[str, ...] = ()) -> dict[str, Any]:
        """A project made through the real projects service, acting as its owner."""
        owner = Metadata(actor=Actor(id=owner_id, name=owner_name, role="user"))
        project = await request(self.nc, command_subject("projects", "create"), {"id": project_id, "name": project_id},
                                meta=owner)
        for member in members:
            project = await request(self.nc, command_subject("projects", "add_member"),
                                    {"id": project_id, "user_id": member}, meta=owner)
        return project

    async def publish(self, run_id: str, *events: Event) -> None:
        js = self.nc.jetstream()
        for event in events:
            version = self.versions.get(run_id, 0) + 1
            self.versions[run_id] = version
            env = envelope_for(event, stream_id=run_id, version=version, meta=Metadata(actor=Actor.service("executor")))
            await js.publish(event_subject("run", run_id, env.event_type), env.wire(), headers={"Nats-Msg-Id": env.event_id})


@contextlib.asynccontextmanager
async def serving(app: Any, deadline: float = 30.0) -> AsyncIterator[int]:
    """Serve `app` with uvicorn on a free port until the block ends; yields the port once it listens."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())

    def started() -> bool:
        if task.done():
            task.result()  # start-up failed: its error, not a timeout
        return bool(server.started)

    await eventually(started, timeout=deadline, interval=0.02, what="the gateway to start")
    try:
        yield port
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def worker_process(nats_url: str, database_url: str, name: str, **env: str) -> AsyncIterator[subprocess.Popen[bytes]]:
    """A step worker process (`python -m ombudsman.executor worker`) for the block's duration."""
    full = {**os.environ, "OMB_NATS_URL": nats_url, "OMB_DATABASE_URL": database_url, "OMB_WORKER_NAME": name,
            "OMB_LOG_LEVEL": "WARNING", **env}
    worker = subprocess.Popen([sys.executable, "-m", "ombudsman.executor", "worker"], env=full)  # noqa: ASYNC220
    try:
        yield worker
    finally:
        worker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(10)
        if worker.poll() is None:
            worker.kill()


@contextlib.asynccontextmanager
async def _serve(database_url: str, nats_url: str, tmp_path: Path, *, real_executor: bool) -> AsyncIterator[Served]:
    await ensure_events_stream(nats_url)
    upload_dir = tmp_path / "uploads"  # shared by the gateway and the workload service
    app = create_app(gateway_settings(database_url, nats_url, request_timeout=15.0,  # a loaded CI box is slow
                                      workload_upload_dir=upload_dir))
    async with serving(app) as port:
        services = [projects_app.create_service(service_settings(database_url, nats_url)),
                    metadata_app.create_service(service_settings(database_url, nats_url).model_copy(
                        update={"workload_upload_dir": upload_dir})),  # DDL files come through the same folder
                    workload_app.create_service(workload_settings(database_url, nats_url, upload_dir)),
                    audit_app.create_service(service_settings(database_url, nats_url))]
        for service in services:
            await service.start()
        async with contextlib.AsyncExitStack() as stack:
            executor: ExecutorTimingStandIn | None = None
            service = None
            if real_executor:
                service = await stack.enter_async_context(executor_app.running(ExecutorSettings(
                    nats_url=nats_url, database_url=database_url, executor_tick_seconds=0.2)))
            else:
                executor = await ExecutorTimingStandIn().start(nats_url)
            nc = await nats.connect(nats_url)
            try:
                served = Served(app, port, nc, executor, upload_dir)
                served.executor_service = service
                yield served
            finally:
                await nc.close()
                if executor is not None:
                    await executor.stop()
        for service in services:
            await service.stop()


@pytest.fixture
async def served(database_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    """The gateway with the real services and the executor's timing stand-in (WebSocket tests)."""
    async with _serve(database_url, nats_url, tmp_path, real_executor=False) as served:
        yield served


@pytest.fixture
async def served_with_executor(database_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    """The gateway with every real service, the executor included (no step worker: runs stay queued)."""
    async with _serve(database_url, nats_url, tmp_path, real_executor=True) as served:
        yield served


async def finished(client: Any, path: str, headers: dict[str, str], timeout: float = 60.0) -> dict[str, Any]:  # noqa: ASYNC109
    """The run or batch at `path` (through the gateway) once it has completed, failed or been cancelled."""

    async def done() -> dict[str, Any] | None:
        found = (await client.get(path, headers=headers)).json()
        return found if found["status"] in ("completed", "failed", "cancelled") else None

    return dict(await eventually(done, timeout=timeout, what=f"{path} to finish"))


async def wait_automate(client: Any, headers: dict[str, str], project_id: str, job_id: str,
                        seconds: float = 300) -> dict[str, Any]:
    """Poll an automate job through the gateway (`client`'s base URL ends in /api/v1) until it ends;
    its summary (the job must complete)."""

    async def ended() -> dict[str, Any] | None:
        r = await client.get(f"/projects/{project_id}/automate/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        return r.json() if r.json()["status"] != "running" else None

    job = await eventually(ended, timeout=seconds, interval=0.2, what=f"automate job {job_id} to end")
    assert job["status"] == "completed", job
    return dict(job["summary"])


@pytest.fixture
async def stack(database_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """Projects and executor services, one step worker process and the gateway: `{app, port}`."""
    projects = projects_app.create_service(Settings(database_url=database_url, nats_url=nats_url, secret_key="k" * 32))
    await projects.start()
    executor_settings = ExecutorSettings(nats_url=nats_url, database_url=database_url, executor_tick_seconds=0.2)
    app = create_app(gateway_settings(database_url, nats_url, request_timeout=20))
    async with (executor_app.running(executor_settings), worker_process(nats_url, database_url, "w1"),
                serving(app) as port):
        yield {"app": app, "port": port}
    await projects.stop()

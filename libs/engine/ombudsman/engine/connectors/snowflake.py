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
import datetime
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import snowflake.connector
from snowflake.connector.connection import DEFAULT_CONFIGURATION
from snowflake.connector.constants import FIELD_TYPES
from snowflake.connector.converter import SnowflakeConverter

from ombudsman.engine.connectors.errors import Invalid
from ombudsman.engine.connectors.params import multi_row_chunks
from ombudsman.engine.connectors.threaded import ThreadedConnector
from ombudsman.engine.connectors.urls import parse_url

_TRUE = {"1", "true", "yes", "on"}
_TYPE_NAMES = {i: f.name for i, f in enumerate(FIELD_TYPES)}
_CONVERTER = SnowflakeConverter()
# `INSERT ... VALUES (?, ?, ...)` ending the statement: group 1 is the parenthesised row


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
        # NUMBER(p, 0) holds integers: int64 (to_array falls back to decimal128(38, 0) past 2^63)
        return pa.int64() if not scale else pa.decimal128(precision or 38, scale)
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


def _snowflake_type(value: Any, fakesnow: bool = False) -> str:
    """The Snowflake binding type of a Python value (tz-aware datetimes as TIMESTAMP_TZ, not NTZ)."""
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return "TIMESTAMP_TZ"
    if fakesnow and isinstance(value, Decimal) and value.as_tuple().exponent != 0:
        # fakesnow 0.12 reads a FIXED binding with int(): send a fractional decimal as exact text
        return "TEXT"
    return str(_CONVERTER.snowflake_type(value) or "TEXT")


def _typed(value: Any, snowflake_type: str) -> Any:
    if snowflake_type == "ANY":
        return value
    if snowflake_type == "TEXT" and isinstance(value, Decimal):
        return (snowflake_type, str(value))
    return (snowflake_type, value)


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
    def is_fakesnow(self) -> bool:
        """Whether this is fakesnow (account `fakesnow`): the one switch for fakesnow-only workarounds."""
        return str(self.connect_args.get("account", "")).lower() == "fakesnow"

    @property
    def database(self) -> str | None:
        return self.connect_args.get("database")

    def _connect_raw(self) -> Any:
        return snowflake.connector.connect(**self.connect_args)

    def _execute_cursor(self, cursor: Any, sql: str, params: Sequence[Any]) -> None:
        bound = [_typed(v, _snowflake_type(v, self.is_fakesnow)) for v in params] if params else None
        cursor.execute(sql, bound, timeout=max(1, int(self.timeout)))

    def _execute_blocking(self, raw: Any, sql: str, params: Sequence[Any], many: bool) -> None:
        if not many:
            super()._execute_blocking(raw, sql, params, many)
            return
        # an array binding has one type per column: take it from the first non-NULL value, since
        # the connector would otherwise send a column mixing NULLs and dates as text
        rows = [list(r) for r in params]
        chunks = multi_row_chunks(sql, rows, 1000) if self.is_fakesnow else None
        if chunks is not None:
            # fakesnow runs an array binding row by row (~3 ms a row): send chunks of rows as one
            # multi-row VALUES statement instead, still with every value bound (fakesnow-only)
            cursor = raw.cursor()
            try:
                for chunk_sql, values in chunks:
                    bound = [_typed(v, _snowflake_type(v, True)) for v in values]
                    cursor.execute(chunk_sql, bound, timeout=max(1, int(self.timeout)))
            finally:
                cursor.close()
            return
        if self.is_fakesnow:
            # fakesnow 0.12 cannot read a NULL inside a typed array binding: send the rows in groups
            # that share their NULL columns, those columns untyped (fakesnow-only workaround)
            groups: dict[tuple[bool, ...], list[list[Any]]] = {}
            for row in rows:
                groups.setdefault(tuple(v is None for v in row), []).append(row)
            batches = list(groups.values())
        else:
            batches = [rows]
        cursor = raw.cursor()
        try:
            for batch in batches:
                types = [
                    next((t for v in column if (t := _snowflake_type(v, self.is_fakesnow)) != "ANY"), "ANY")
                    for column in zip(*batch, strict=True)
                ]
                typed = [[_typed(v, t) for v, t in zip(row, types, strict=True)] for row in batch]
                cursor.executemany(sql, typed, timeout=max(1, int(self.timeout)))
        finally:
            cursor.close()

    def _arrow_hints(self, cursor: Any) -> list[pa.DataType | None]:
        return [_arrow_hint(d.type_code, d.precision, d.scale) for d in cursor.description or ()]

    def _cancel(self, raw: Any) -> None:
        # the statement also carries a server-side timeout; this stops it sooner. Sent from a thread
        # of its own: it is a network call and must not block the event loop.
        def cancel() -> None:
            with contextlib.suppress(Exception):
                raw.cursor().execute("SELECT SYSTEM$CANCEL_ALL_QUERIES(CURRENT_SESSION())")

        threading.Thread(target=cancel, name="omb-snowflake-cancel", daemon=True).start()

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
            _patch_fakesnow_null_timestamps()
            if db_path is not None:
                Path(db_path).mkdir(parents=True, exist_ok=True)
                fakesnow_app.shared_fs = FakeSnow(db_path=str(db_path))
            with contextlib.closing(socket.socket()) as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
            server = uvicorn.Server(
                uvicorn.Config(
                    _errors_not_retried(fakesnow_app.app), host=host, port=port, log_level="warning"
                )
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


def _errors_not_retried(app: Any) -> Any:
    """fakesnow answers a statement it cannot handle with HTTP 500, which the Snowflake connector
    retries until it times out; answer with a failed query instead, so the caller gets the
    message at once as a ProgrammingError. (ASGI wrapper around the fakesnow server only.)"""
    import json

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or not str(scope.get("path", "")).startswith("/queries/"):
            await app(scope, receive, send)
            return
        failed: dict[str, Any] = {}

        async def send_once_failed(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 500:
                failed["start"] = message
                return
            if failed and message["type"] == "http.response.body":
                try:
                    text = str(json.loads(message.get("body") or b"{}").get("message") or "")
                except ValueError:
                    text = (message.get("body") or b"").decode("utf-8", "replace")[-500:]
                body = json.dumps(
                    {
                        "data": {"errorCode": "261000", "sqlState": "XX000"},
                        "code": "261000",
                        "message": f"fakesnow cannot run this statement: {text}",
                        "success": False,
                    }
                ).encode()
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await app(scope, receive, send_once_failed)

    return wrapped


def _patch_fakesnow_null_timestamps() -> None:
    """fakesnow 0.12's server sends a NULL timestamp as epoch 0 (its struct array has no validity
    mask); give the struct the timestamps' NULLs. Affects only the fakesnow server in this process."""
    import fakesnow.arrow as fakesnow_arrow
    import pyarrow.compute as pc

    original = fakesnow_arrow.timestamp_to_sf_struct
    if getattr(original, "_omb_patched", False):
        return

    def with_nulls(ts: pa.Array | pa.ChunkedArray) -> pa.Array:
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        struct = original(ts)
        if not ts.null_count:
            return struct
        fields = [struct.type.field(i) for i in range(struct.type.num_fields)]
        children = [pc.fill_null(struct.field(i), 0) for i in range(len(fields))]
        return pa.StructArray.from_arrays(children, fields=fields, mask=ts.is_null())

    with_nulls._omb_patched = True  # type: ignore[attr-defined]
    fakesnow_arrow.timestamp_to_sf_struct = with_nulls


def fakesnow_url(server: FakesnowServer, database: str | None = None, schema: str = "PUBLIC") -> str:
    """A URL the `connect()` factory opens against `server` (see `FakesnowServer.url`)."""
    return server.url(database, schema)

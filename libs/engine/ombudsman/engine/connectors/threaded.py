"""The base for blocking DB-API drivers (DuckDB, Snowflake, pyodbc): a pool of driver connections
used one at a time, each call run in a thread pool so the event loop never blocks.

A connection is taken from the pool in the event loop *before* work goes to a thread, so a stream
that holds a connection between batches can never starve the threads it needs to continue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa

from ombudsman.engine.connectors.arrow import rows_to_batch, rows_to_table
from ombudsman.engine.connectors.base import ConnectionTest, Connector, PoolStats
from ombudsman.engine.connectors.errors import ConnectionFailed, QueryFailed, QueryTimeout, sql_excerpt
from ombudsman.engine.connectors.params import check_param_count
from ombudsman.engine.connectors.urls import mask_url

T = TypeVar("T")
log = logging.getLogger(__name__)

# how long closing a connector waits for interrupted statements still running in their threads
UNWIND_SECONDS = 30.0


@dataclass
class RunningStatement:
    """What runs on one driver connection now: its thread's future and, for drivers that cancel a
    statement through its cursor (ODBC's SQLCancel), the cursor executing it."""

    future: concurrent.futures.Future[Any] | None = None
    cursor: Any = None


class ThreadedConnector(Connector):
    """A DB-API driver behind the async interface. Subclasses say how to connect and describe columns."""

    product: str = "database"  # for messages, e.g. "DuckDB"

    def __init__(
        self, url: str, *, timeout: float = 60.0, pool_size: int = 4, connect_timeout: float = 10.0
    ) -> None:
        super().__init__(url, timeout=timeout, pool_size=pool_size)
        self.connect_timeout = connect_timeout
        self._executor: ThreadPoolExecutor | None = None
        self._idle: asyncio.Queue[Any] | None = None
        self._all: list[Any] = []
        self._slots: asyncio.Semaphore | None = None
        # the statement each connection's thread runs: a timed-out one may still run after its await ended
        self._running_on: dict[int, RunningStatement] = {}
        # interrupted statements whose threads have not returned yet (they may still allocate)
        self._unwinding: set[concurrent.futures.Future[Any]] = set()

    # --- what a driver provides -------------------------------------------------------------
    @abstractmethod
    def _connect_raw(self) -> Any:
        """Open one driver connection (runs in a worker thread)."""

    def _close_raw(self, raw: Any) -> None:
        with contextlib.suppress(Exception):
            raw.close()

    def _cursor(self, raw: Any) -> Any:
        return raw.cursor()

    def _execute_cursor(self, cursor: Any, sql: str, params: Sequence[Any]) -> None:
        if params:
            cursor.execute(sql, list(params))
        else:
            cursor.execute(sql)

    def _arrow_hints(self, cursor: Any) -> list[pa.DataType | None]:
        """An Arrow type per result column, from the cursor's description (None: infer)."""
        return [None] * len(cursor.description or ())

    def _cancel(self, raw: Any) -> None:
        """Interrupt what runs on `raw` (called from the event loop when a statement times out)."""

    @abstractmethod
    def _server_version_raw(self, raw: Any) -> str:
        """The server's version text (runs in a worker thread)."""

    def _wrap(self, error: BaseException, sql: str | None) -> BaseException:
        """A driver error as a connector error."""
        if isinstance(error, QueryFailed | QueryTimeout | ConnectionFailed) or not isinstance(
            error, Exception
        ):
            return error
        if type(error).__module__.startswith("ombudsman"):
            return error
        where = f" in: {sql_excerpt(sql)}" if sql else ""
        return QueryFailed(f"{self.product} error: {_describe(error)}{where}")

    # --- pool mechanics ---------------------------------------------------------------------
    async def open(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=self.pool_size, thread_name_prefix=f"omb-{self.kind}")
        self._idle = asyncio.Queue()
        self._slots = asyncio.Semaphore(self.pool_size)
        self._all = []
        try:
            raw = await self._in_thread(self._connect_raw, timeout=self.connect_timeout)
        except Exception as error:
            await self.close()
            raise ConnectionFailed(
                f"cannot connect to {self.product} at {mask_url(self.url)}: {_describe(error)}",
                {"url": mask_url(self.url)},
            ) from error
        self._all.append(raw)
        self._idle.put_nowait(raw)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        raws, self._all = self._all, []
        if executor is None:
            return
        loop = asyncio.get_running_loop()
        for raw in raws:
            with contextlib.suppress(Exception):
                await loop.run_in_executor(executor, self._close_raw, raw)
        executor.shutdown(wait=False, cancel_futures=True)
        self._idle = None
        self._slots = None
        await self._wait_unwound()

    async def _wait_unwound(self) -> None:
        """Wait (bounded) for interrupted statements to return: a statement cancelled over a memory cap
        or a timeout may keep allocating in its thread after its await ended, and whoever runs next on
        this process (the worker's next step) would be charged with it."""
        running = [f for f in list(self._unwinding) if not f.done()]  # list(): a thread may discard meanwhile
        if not running:
            return
        _done, pending = await asyncio.wait([asyncio.wrap_future(f) for f in running], timeout=UNWIND_SECONDS)
        if pending:
            log.warning("%s: %d interrupted statement(s) still running %gs after close",
                        self.product, len(pending), UNWIND_SECONDS)

    def pool_stats(self) -> PoolStats:
        opened = len(self._all) if self._executor is not None else 0
        idle = self._idle.qsize() if self._idle is not None else 0
        return PoolStats(size=self.pool_size, open=opened, in_use=max(opened - idle, 0), idle=idle)

    async def _in_thread(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:  # noqa: ASYNC109
        if self._executor is None:
            raise RuntimeError(f"{type(self).__name__} is not open: use `async with connect(url) as db`")
        future = asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        return await asyncio.wait_for(future, timeout) if timeout else await future

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        if self._slots is None or self._idle is None:
            raise RuntimeError(f"{type(self).__name__} is not open: use `async with connect(url) as db`")
        async with self._slots:
            if self._idle.empty():
                try:
                    raw = await self._in_thread(self._connect_raw, timeout=self.connect_timeout)
                except Exception as error:
                    raise ConnectionFailed(f"cannot connect to {self.product}: {_describe(error)}") from error
                self._all.append(raw)
            else:
                raw = self._idle.get_nowait()
            healthy = True
            try:
                yield raw
            except (ConnectionFailed, QueryTimeout, asyncio.CancelledError):
                # a timed-out or cancelled statement may still be running in its thread: never reuse that
                # connection
                healthy = False
                raise
            finally:
                statement = self._running_on.pop(id(raw), None)
                if healthy and self._idle is not None:
                    self._idle.put_nowait(raw)
                elif raw in self._all:
                    self._all.remove(raw)
                    self._close_when_idle(raw, statement.future if statement else None)

    def _close_when_idle(self, raw: Any, running: concurrent.futures.Future[Any] | None) -> None:
        """Close a connection no statement uses any more: closing a driver connection while its thread
        still executes on it crashes some drivers (psqlODBC: a segmentation fault), so a connection whose
        statement still runs is closed by that thread once the statement returns."""
        if running is not None and not running.done():
            self._unwinding.add(running)

            def closed(done: concurrent.futures.Future[Any]) -> None:
                self._close_raw(raw)
                self._unwinding.discard(done)

            running.add_done_callback(closed)
        else:
            self._close_raw(raw)

    async def _run(self, raw: Any, fn: Callable[..., T], *args: Any, sql: str | None = None) -> T:
        """Run `fn(*args)` in a thread; on timeout, interrupt the driver and raise QueryTimeout."""
        if self._executor is None:
            raise RuntimeError(f"{type(self).__name__} is not open: use `async with connect(url) as db`")
        statement = self._running_on.setdefault(id(raw), RunningStatement())  # before its thread starts
        statement.future = running = self._executor.submit(fn, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(running), self.timeout or None)
        except asyncio.CancelledError:  # the step was cancelled (e.g. over its memory cap): stop the statement
            with contextlib.suppress(Exception):
                self._cancel(raw)
            raise
        except TimeoutError:
            self._cancel(raw)
            raise QueryTimeout(
                f"{self.product} statement exceeded {self.timeout:g}s"
                + (f": {sql_excerpt(sql)}" if sql else "")
            ) from None
        except Exception as error:
            raise self._wrap(error, sql) from error

    # --- the interface ------------------------------------------------------------------------
    def _fetch_blocking(self, raw: Any, sql: str, params: Sequence[Any], limit: int | None) -> pa.Table:
        cursor = self._cursor(raw)
        try:
            self._execute_cursor(cursor, sql, params)
            names = [d[0] for d in cursor.description or ()]
            hints = self._arrow_hints(cursor)
            rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit) if limit > 0 else []
            return rows_to_table(names, [tuple(r) for r in rows], hints)
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    async def fetch(self, sql: str, params: Sequence[Any] = (), *, limit: int | None = None) -> pa.Table:
        check_param_count(sql, params)
        async with self._connection() as raw:
            return await self._run(raw, self._fetch_blocking, raw, sql, params, limit, sql=sql)

    async def stream(
        self, sql: str, params: Sequence[Any] = (), *, batch_size: int = 50_000
    ) -> AsyncIterator[pa.RecordBatch]:
        check_param_count(sql, params)
        async with self._connection() as raw:
            cursor = await self._run(raw, self._cursor, raw, sql=sql)
            try:
                await self._run(raw, self._execute_cursor, cursor, sql, params, sql=sql)
                names = [d[0] for d in cursor.description or ()]
                hints = self._arrow_hints(cursor)
                while True:
                    rows = await self._run(raw, cursor.fetchmany, batch_size, sql=sql)
                    if not rows:
                        return
                    yield rows_to_batch(names, [tuple(r) for r in rows], hints)
            finally:
                with contextlib.suppress(Exception):
                    cursor.close()

    def _execute_blocking(self, raw: Any, sql: str, params: Sequence[Any], many: bool) -> None:
        cursor = self._cursor(raw)
        try:
            if many:
                cursor.executemany(sql, [list(p) for p in params])
            else:
                self._execute_cursor(cursor, sql, params)
            self._after_write(raw)
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    def _after_write(self, raw: Any) -> None:
        """Commit when the driver does not autocommit."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        check_param_count(sql, params)
        async with self._connection() as raw:
            await self._run(raw, self._execute_blocking, raw, sql, params, False, sql=sql)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per parameter row (loading test data)."""
        if not rows:
            return
        check_param_count(sql, rows[0])
        async with self._connection() as raw:
            await self._run(raw, self._execute_blocking, raw, sql, rows, True, sql=sql)

    async def server_version(self) -> str:
        async with self._connection() as raw:
            return await self._run(raw, self._server_version_raw, raw)

    async def test(self) -> ConnectionTest:
        opened_here = self._executor is None
        try:
            if opened_here:
                await self.open()
            async with self._connection() as raw:
                version = await self._run(raw, self._server_version_raw, raw)
                started = time.perf_counter()
                await self._run(raw, self._fetch_blocking, raw, "SELECT 1", (), None, sql="SELECT 1")
                latency = (time.perf_counter() - started) * 1000
            return ConnectionTest(ok=True, server_version=version, latency_ms=latency)
        except Exception as error:
            message = error.message if hasattr(error, "message") else _describe(error)
            return ConnectionTest(ok=False, server_version=None, latency_ms=None, error=message)
        finally:
            if opened_here:
                await self.close()


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    text = str(error).strip()
    name = type(error).__name__
    return f"{name}: {text}" if text else name

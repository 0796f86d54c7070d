"""A per-step memory cap for the worker: a step whose process RSS grows past the cap is cancelled
and fails with a clear error; the worker lives on.

Design. Validators bound what they hold by construction (grouped checks keep at most `max_groups`
groups or one line per hash bucket, row diff one chunk, samples are capped), so the cap is the
backstop for what no bound foresaw: a driver materialising a result, an in-process DuckDB hash join,
a plug-in validator. A watcher thread samples the process RSS (psutil) every `interval` seconds
while the step runs — a thread, so a step that blocks the event loop or allocates inside a driver's
thread is still seen. Past `baseline + cap` it cancels the step's task through the loop
(`call_soon_threadsafe`); cancellation reaches the connector, which interrupts the running statement
(`ThreadedConnector._run`), and the step's connections are discarded. RSS is per process: with
`worker_concurrency` > 1 a step is charged with what the process gained since it started, so a
neighbour's growth can count against it; the cap is therefore a guard for the worker, not an
accounting of each step.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from typing import TypeVar

import psutil

T = TypeVar("T")
MB = 1024 * 1024


class StepMemoryExceeded(Exception):
    """The step's RSS growth passed its cap; the message is the step's error."""

    def __init__(self, cap_mb: int, grown_mb: float):
        self.cap_mb = cap_mb
        self.grown_mb = grown_mb
        super().__init__(
            f"step exceeded its memory cap of {cap_mb} MB (the worker grew by {grown_mb:.0f} MB while it ran) "
            "and was stopped; narrow the step (filters, fewer group-by columns, a lower max_groups) or raise "
            "OMB_WORKER_STEP_MEMORY_MB"
        )


async def run_with_memory_cap(work: Awaitable[T], cap_mb: int, *, interval: float = 0.05) -> T:
    """Await `work`, cancelling it with StepMemoryExceeded when the process RSS grows by more than
    `cap_mb` MB above what it was when the step started (`cap_mb` <= 0: no cap)."""
    if cap_mb <= 0:
        return await work
    process = psutil.Process()
    baseline = process.memory_info().rss
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    stop = threading.Event()
    fired = threading.Event()
    grown = [0.0]

    def watch() -> None:
        while not stop.wait(interval):
            try:
                growth = process.memory_info().rss - baseline
            except psutil.Error:
                return
            grown[0] = max(grown[0], growth / MB)
            if growth > cap_mb * MB:
                fired.set()
                loop.call_soon_threadsafe(task.cancel)
                return

    watcher = threading.Thread(target=watch, name="omb-step-memory", daemon=True)
    watcher.start()
    try:
        return await task
    except asyncio.CancelledError:
        if fired.is_set() and not _cancelling_us():
            raise StepMemoryExceeded(cap_mb, grown[0]) from None
        raise
    except Exception as exc:  # unwinding a cancelled step can fail (a driver still busy): the cap is the cause
        if fired.is_set():
            raise StepMemoryExceeded(cap_mb, grown[0]) from exc
        raise
    finally:
        stop.set()


def _cancelling_us() -> bool:
    """True when the awaiting task itself is being cancelled (worker shutdown), not only the step."""
    current = asyncio.current_task()
    return bool(current is not None and current.cancelling())


__all__ = ["StepMemoryExceeded", "run_with_memory_cap"]

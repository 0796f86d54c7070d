"""The worker's sink for a `file_load` step's checkpoints (engine.files.checkpoints): each checkpoint is
the command `record_file_checkpoint` (an event on the run's stream, executor/file_loads.py), and what
earlier runs recorded is the query `file_loads`. Both go through the worker's patient `_ask`, so an
executor away for a moment costs no checkpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ombudsman.contracts import subjects

Ask = Callable[[str, dict[str, Any]], Awaitable[Any]]


class WorkerCheckpoints:
    """A load step's checkpoints, reported to the executor."""

    def __init__(self, ask: Ask, run_id: str, step: str) -> None:
        self.ask = ask
        self.run_id = run_id
        self.step = step

    async def recorded(self) -> list[dict[str, Any]]:
        """The checkpoints of the step's project and target connection, across runs."""
        found = await self.ask(subjects.query_subject("executor", "file_loads"), {"run_id": self.run_id, "step": self.step})
        return list(found["files"])

    async def record(self, status: str, **fields: Any) -> None:
        """One checkpoint (started, progress, completed, failed) of one file."""
        await self.ask(subjects.command_subject("executor", "record_file_checkpoint"),
                       {"run_id": self.run_id, "step": self.step, "status": status, **fields})

"""Where a `file_load` step reports its per-file checkpoints and reads those of earlier runs.

On the platform the executor's worker sets a sink for the step it runs (`SINK`, a context variable, so
it reaches the validator through the pipeline runner): each checkpoint (started, progress, completed,
failed) becomes an event on the run's stream, and `recorded()` reads the executor's read model of
those events across runs. Standalone (`ombudsman run`), there is no sink: the target's own checkpoint
rows (`omb_file_loads`) are all there is.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Protocol


class CheckpointSink(Protocol):
    """The executor's side of a load step's checkpoints."""

    run_id: str

    async def recorded(self) -> list[dict[str, Any]]:
        """Every file checkpoint recorded for this step's project and target connection, any run:
        dicts with spec, file, status (current | completed | failed), bytes, rows, run_id, step."""
        ...

    async def record(self, status: str, **fields: Any) -> None:
        """Record one checkpoint: `status` started | progress | completed | failed, with spec, file,
        bytes (and bytes_read, rows, seconds, reconciled, message)."""
        ...


SINK: ContextVar[CheckpointSink | None] = ContextVar("ombudsman_file_checkpoint_sink", default=None)

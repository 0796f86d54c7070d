"""Run events as the WebSocket names them (the seed's names). Pure."""

from __future__ import annotations

from typing import Any

from ombudsman.contracts.envelope import EventEnvelope

TERMINAL = {"pipeline.completed", "pipeline.failed"}
_FAILED_STEP = {"failed", "error"}
_FILE_KINDS = {"FileLoadStarted": "file.started", "FileLoadProgressed": "file.progress",
               "FileLoadCompleted": "file.completed", "FileLoadFailed": "file.failed"}


def ws_message(envelope: EventEnvelope, sequence: int | None = None) -> dict[str, Any] | None:
    """The WebSocket message for one run event, or None for event types the socket does not show.

    RunQueued -> pipeline.queued (carries the step list, so a client knows the total),
    RunStarted -> pipeline.started, StepStarted -> step.started, StepCompleted -> step.completed or
    step.failed (failed/error), StepSkipped -> step.completed (status skipped), RunCompleted ->
    pipeline.completed or pipeline.failed, RunCancelled -> pipeline.failed (status cancelled).
    A file_load step's checkpoints: FileLoadStarted -> file.started, FileLoadProgressed -> file.progress,
    FileLoadCompleted -> file.completed, FileLoadFailed -> file.failed (each with step, spec, file, bytes,
    and bytes_read / rows / message).
    """
    data = envelope.data
    kind: str
    extra: dict[str, Any] = {}
    match envelope.event_type:
        case "RunQueued":
            kind = "pipeline.queued"
            extra = {"steps": data.get("steps", []), "pipeline_name": data.get("pipeline_name", ""),
                     "project_id": data.get("project_id")}
        case "RunStarted":
            kind = "pipeline.started"
        case "StepStarted":
            kind = "step.started"
            extra = {"step": data.get("step"), "attempt": data.get("attempt", 1)}
        case "StepCompleted":
            status = data.get("status")
            kind = "step.failed" if status in _FAILED_STEP else "step.completed"
            extra = {"step": data.get("step"), "status": status}
        case "StepSkipped":
            kind = "step.completed"
            extra = {"step": data.get("step"), "status": "skipped", "reason": data.get("reason", "")}
        case "RunCompleted":
            status = data.get("status")
            kind = "pipeline.completed" if status == "completed" else "pipeline.failed"
            extra = {"status": status, "total_steps": data.get("total_steps"),
                     "successful_steps": data.get("successful_steps"), "failed_steps": data.get("failed_steps")}
        case "RunCancelled":
            kind = "pipeline.failed"
            extra = {"status": "cancelled", "reason": data.get("reason", "")}
        case "FileLoadStarted" | "FileLoadProgressed" | "FileLoadCompleted" | "FileLoadFailed":
            kind = _FILE_KINDS[envelope.event_type]
            extra = {k: data[k] for k in ("step", "spec", "file", "bytes", "bytes_read", "rows", "message") if k in data}
        case _:
            return None
    return {
        "type": kind,
        "run_id": envelope.stream_id,
        **extra,
        "event_type": envelope.event_type,
        "event_id": envelope.event_id,
        "version": envelope.version,
        "sequence": sequence,
        "occurred_at": envelope.occurred_at.isoformat(),
        "data": data,
    }

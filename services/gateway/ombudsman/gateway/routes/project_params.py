"""Path and query parameters shared by the routes: the ids in paths (projects, pipelines, runs,
batches, jobs) and the sides of a project."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path

PID = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
PLID = PID  # a pipeline's id
RID = PID  # a run's id
BID = PID  # a batch's id
JobId = PID
NAME = Annotated[str, Path(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9_-]+$")]
Side = Literal["source", "target"]

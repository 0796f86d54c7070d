"""Path and query parameters shared by the routes under /projects/{project_id} (one module per
backing service: projects, connections, catalog, relationships, automate, mappings, project_results,
project_workloads)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path

PID = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
JobId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
NAME = Annotated[str, Path(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9_-]+$")]
Side = Literal["source", "target"]

"""A typed Python SDK over the gateway's REST API (`/api/v1`) and its run WebSocket.

    client = OmbudsmanClient("http://127.0.0.1:8800")
    client.login("alice", "secret")
    for project in client.list_projects().items: ...

Every error the gateway returns raises `ApiError` (an `OmbudsmanError`), carrying the HTTP status
and the gateway's `{code, message, details}`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ValidationError

from ombudsman.client.frames import Differences, Records
from ombudsman.contracts.commands.audit import AlertRuleCreate, ArchiveBase
from ombudsman.contracts.commands.executor import BatchCreate, RunName
from ombudsman.contracts.commands.metadata import DdlCreate, ExtractCreate
from ombudsman.contracts.commands.paging import Page
from ombudsman.contracts.commands.projects import (
    ConnectionBase,
    MemberIn,
    PipelineBase,
    ProjectChanges,
    ProjectCreate,
    SchemaMappingBase,
)
from ombudsman.contracts.commands.workload import GeneratePipelineBase, WorkloadUploadCreate
from ombudsman.contracts.replies import ErrorCode, OmbudsmanError, field_errors

API = "/api/v1"
Role = Literal["admin", "user", "viewer"]
ExportFormat = Literal["json", "csv", "xlsx", "excel", "pdf", "junit", "html"]


class ApiError(OmbudsmanError):
    """An error reply of the gateway (or no reply at all: code `unavailable`, status 0)."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None):
        try:
            error_code: ErrorCode | None = ErrorCode(code)
        except ValueError:
            error_code = ErrorCode.INTERNAL
        super().__init__(message, details, code=error_code)
        self.status = status
        self.code_text = code

    def __str__(self) -> str:
        return f"{self.status} {self.code_text}: {self.message}"


class User(BaseModel):
    id: str
    username: str
    role: Role
    created_at: datetime | None = None
    last_login_at: datetime | None = None
    locked_until: datetime | None = None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    user: User


class ExportFile(BaseModel):
    filename: str
    content_type: str
    content: bytes


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in params.items() if v is not None}


def _body(model: type[BaseModel], fields: dict[str, Any]) -> dict[str, Any]:
    """A request body checked against its contracts model before it is sent: the gateway's own error
    (`ApiError` 422, `details.fields`) for a field it would refuse; only the fields given are sent."""
    unknown = sorted(set(fields) - set(model.model_fields))
    problems = [{"field": name, "message": "Extra inputs are not permitted"} for name in unknown]
    try:
        checked = model.model_validate(fields)
    except ValidationError as exc:
        problems += field_errors(exc.errors())
    if problems:
        named = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise ApiError(422, "invalid", f"invalid request body: {named}", {"fields": problems})
    return checked.model_dump(mode="json", include=set(fields))


def _seg(value: str) -> str:
    return quote(value, safe="")


class OmbudsmanClient:
    """Synchronous client; one instance keeps one HTTP connection pool and the current tokens."""

    def __init__(self, base_url: str, token: str | None = None, *, refresh_token: str | None = None,
                 timeout: float = 60.0, transport: httpx.BaseTransport | None = None, retries: int = 3):
        """`retries`: how often a read (GET) or a login is tried again when the gateway cannot be
        reached or answers 502/503/504 with a Retry-After (it says a retry is welcome: its database was
        busy), waiting that long (at most 5 s); a command is never sent twice (it may have been done)."""
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.token = token
        self.refresh_token = refresh_token
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OmbudsmanClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ----------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, json_body: Any = None, params: dict[str, Any] | None = None,
                 files: Any = None, data: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        tries = 1 + max(self.retries, 0) if method in SAFE_TO_RETRY or path in RETRIED_POSTS else 1
        for attempt in range(tries):
            last = attempt == tries - 1
            try:
                response = self._http.request(method, API + path, json=json_body, params=_clean(params or {}),
                                              headers=headers, files=files, data=data)
            except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                if last:
                    raise ApiError(0, "unavailable", f"cannot reach the gateway at {self.base_url}: {exc}") from None
                time.sleep(_backoff(attempt, None))
                continue
            except httpx.HTTPError as exc:
                raise ApiError(0, "unavailable", f"cannot reach the gateway at {self.base_url}: {exc}") from None
            retry_after = response.headers.get("Retry-After")
            if response.status_code in RETRY_STATUSES and retry_after and not last:
                time.sleep(_backoff(attempt, retry_after))
                continue
            if response.status_code >= 400:
                raise _error(response)
            return response
        raise AssertionError("unreachable")  # the last try returns or raises

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _page(self, path: str, params: dict[str, Any]) -> Page:
        return Page.model_validate(self._json("GET", path, params=params))

    # --- auth and users ------------------------------------------------------------------------

    def login(self, username: str, password: str) -> TokenPair:
        pair = TokenPair.model_validate(self._json("POST", "/auth/login",
                                                   json_body={"username": username, "password": password}))
        self.token, self.refresh_token = pair.access_token, pair.refresh_token
        return pair

    def auth_providers(self) -> dict[str, Any]:
        """The ways to sign in to the gateway: `{"password": true, "oidc": {issuer, client_id, ...} | None}`."""
        return dict(self._json("GET", "/auth/providers"))

    def login_with_id_token(self, id_token: str) -> TokenPair:
        """Tokens for an ID token the gateway's identity provider issued (single sign-on, device flow)."""
        pair = TokenPair.model_validate(self._json("POST", "/auth/oidc/id-token", json_body={"id_token": id_token}))
        self.token, self.refresh_token = pair.access_token, pair.refresh_token
        return pair

    def refresh(self) -> TokenPair:
        if not self.refresh_token:
            raise ApiError(401, "unauthorized", "no refresh token: log in again")
        pair = TokenPair.model_validate(self._json("POST", "/auth/refresh", json_body={"refresh_token": self.refresh_token}))
        self.token, self.refresh_token = pair.access_token, pair.refresh_token
        return pair

    def logout(self) -> None:
        self._json("POST", "/auth/logout", json_body={"refresh_token": self.refresh_token})
        self.token = self.refresh_token = None

    def register(self, username: str, password: str) -> User:
        return User.model_validate(self._json("POST", "/auth/register", json_body={"username": username, "password": password}))

    def me(self) -> User:
        return User.model_validate(self._json("GET", "/auth/me"))

    def list_users(self, offset: int = 0, limit: int = 50, role: Role | None = None, q: str | None = None) -> Page:
        return self._page("/users", {"offset": offset, "limit": limit, "role": role, "q": q})

    def create_user(self, username: str, password: str, role: Role = "user") -> User:
        return User.model_validate(self._json("POST", "/users", json_body={"username": username, "password": password,
                                                                             "role": role}))

    def set_role(self, user_id: str, role: Role) -> User:
        return User.model_validate(self._json("PATCH", f"/users/{_seg(user_id)}", json_body={"role": role}))

    def unlock_user(self, user_id: str) -> User:
        """Admin: clear a user's lockout flag and login throttles."""
        return User.model_validate(self._json("POST", f"/users/{_seg(user_id)}/unlock"))

    # --- projects --------------------------------------------------------------------------------

    def list_projects(self, offset: int = 0, limit: int = 50, status: str | None = None, q: str | None = None) -> Page:
        return self._page("/projects", {"offset": offset, "limit": limit, "status": status, "q": q})

    def create_project(self, project_id: str, name: str, **fields: Any) -> dict[str, Any]:
        body = _body(ProjectCreate, {"id": project_id, "name": name, **fields})
        return self._json("POST", "/projects", json_body=body)

    def get_project(self, project_id: str) -> dict[str, Any]:
        return self._json("GET", f"/projects/{_seg(project_id)}")

    def update_project(self, project_id: str, expected_version: int | None = None, **changes: Any) -> dict[str, Any]:
        body = {**_body(ProjectChanges, changes),
                **({"expected_version": expected_version} if expected_version is not None else {})}
        return self._json("PATCH", f"/projects/{_seg(project_id)}", json_body=body)

    def delete_project(self, project_id: str) -> None:
        self._json("DELETE", f"/projects/{_seg(project_id)}")

    def add_member(self, project_id: str, user_id: str) -> dict[str, Any]:
        return self._json("POST", f"/projects/{_seg(project_id)}/members", json_body=_body(MemberIn, {"user_id": user_id}))

    def members(self, project_id: str) -> dict[str, Any]:
        """The project's members: `items` of {user_id, username, role}."""
        return self._json("GET", f"/projects/{_seg(project_id)}/members")

    def remove_member(self, project_id: str, user_id: str) -> None:
        self._json("DELETE", f"/projects/{_seg(project_id)}/members/{_seg(user_id)}")

    def setup_status(self, project_id: str) -> dict[str, Any]:
        return self._json("GET", f"/projects/{_seg(project_id)}/setup-status")

    def schema_mappings(self, project_id: str) -> dict[str, Any]:
        return self._json("GET", f"/projects/{_seg(project_id)}/schema-mappings")

    def set_schema_mapping(self, project_id: str, source_schema: str, target_schema: str) -> dict[str, Any]:
        return self._json("PUT", f"/projects/{_seg(project_id)}/schema-mappings",
                          json_body=_body(SchemaMappingBase, {"source_schema": source_schema, "target_schema": target_schema}))

    # --- connections -----------------------------------------------------------------------------

    def connections(self, project_id: str) -> Any:
        return self._json("GET", f"/projects/{_seg(project_id)}/connections")

    def add_connection(self, project_id: str, name: str, url: str, role: str = "other",
                       kind: str | None = None) -> dict[str, Any]:
        body = _body(ConnectionBase, {"name": name, "url": url, "role": role, **({"kind": kind} if kind else {})})
        return self._json("POST", f"/projects/{_seg(project_id)}/connections", json_body=body)

    def remove_connection(self, project_id: str, name: str) -> None:
        self._json("DELETE", f"/projects/{_seg(project_id)}/connections/{_seg(name)}")

    def test_connection(self, project_id: str, name: str) -> dict[str, Any]:
        return self._json("POST", f"/projects/{_seg(project_id)}/connections/{_seg(name)}/test")

    def connection_status(self, project_id: str, name: str) -> dict[str, Any]:
        return self._json("GET", f"/projects/{_seg(project_id)}/connections/{_seg(name)}/status")

    def connection_pool(self, project_id: str, name: str) -> dict[str, Any]:
        """The connection's pools on the step workers now (open, in use, idle per worker)."""
        return self._json("GET", f"/projects/{_seg(project_id)}/connections/{_seg(name)}/pool")

    def workers(self) -> dict[str, Any]:
        """Every step worker answering now, with its kept connections (admins)."""
        return self._json("GET", "/workers")

    # --- metadata and mapping --------------------------------------------------------------------

    def extract_metadata(self, project_id: str, side: str | None = None) -> Any:
        body = _body(ExtractCreate, {"side": side} if side else {})
        return self._json("POST", f"/projects/{_seg(project_id)}/extract-metadata", json_body=body)

    def upload_ddl(self, project_id: str, side: str, dialect: str, ddl: str) -> Any:
        return self._json("POST", f"/projects/{_seg(project_id)}/ddl",
                          json_body=_body(DdlCreate, {"side": side, "dialect": dialect, "ddl": ddl}))

    def upload_ddl_file(self, project_id: str, side: str, dialect: str, path: str | Path,
                        default_schema: str | None = None) -> Any:
        """Upload a .sql file of CREATE TABLE statements (streamed from disk: no size limit of the bus)."""
        file = Path(path)
        form = {"side": side, "dialect": dialect, **({"default_schema": default_schema} if default_schema else {})}
        with file.open("rb") as handle:
            return self._json("POST", f"/projects/{_seg(project_id)}/ddl/file",
                              files={"file": (file.name, handle)}, data=form)

    def catalog(self, project_id: str, side: str = "source") -> Any:
        return self._json("GET", f"/projects/{_seg(project_id)}/catalog", params={"side": side})

    def relationships(self, project_id: str) -> Any:
        return self._json("GET", f"/projects/{_seg(project_id)}/relationships")

    def classification(self, project_id: str, side: str = "source") -> Any:
        """Each table's class (fact, dimension, bridge, staging) with evidence, keys, SCD2 and measures."""
        return self._json("GET", f"/projects/{_seg(project_id)}/classification", params={"side": side})

    def infer_relationships(self, project_id: str) -> Any:
        return self._json("POST", f"/projects/{_seg(project_id)}/infer-relationships")

    def automate(
        self, project_id: str, auto_approve_threshold: float | None = None, *, wait: bool = True,
        on_progress: Callable[[dict[str, Any]], None] | None = None, poll_seconds: float = 0.5,
        timeout: float = 3600.0, **options: Any,
    ) -> Any:
        """Start an automate job (`options`: source_connection, extract, schema_map, … as the API takes).

        Without `wait`: `{job_id, project_id, status}` at once. With `wait` (default): the job once it
        ended (`status` completed or failed, `phases`, `summary` or `error`), polled every `poll_seconds`;
        `on_progress(job)` is called whenever a phase completes. A running job of the same project
        gives ApiError 409 (`details.job_id`)."""
        body = {k: v for k, v in {"auto_approve_threshold": auto_approve_threshold, **options}.items() if v is not None}
        started = self._json("POST", f"/projects/{_seg(project_id)}/automate", json_body=body)
        if not wait:
            return started
        return self.wait_automate(project_id, started["job_id"], on_progress=on_progress, poll_seconds=poll_seconds,
                                  timeout=timeout)

    def automate_job(self, project_id: str, job_id: str) -> Any:
        """An automate job: status, completed phases, summary or error."""
        return self._json("GET", f"/projects/{_seg(project_id)}/automate/{_seg(job_id)}")

    def wait_automate(
        self, project_id: str, job_id: str, *, on_progress: Callable[[dict[str, Any]], None] | None = None,
        poll_seconds: float = 0.5, timeout: float = 3600.0,
    ) -> dict[str, Any]:
        """Poll an automate job until it ends (ApiError 504 `timeout` after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        seen: tuple[int, str] | None = None
        while True:
            job: dict[str, Any] = self.automate_job(project_id, job_id)
            progress = (len(job.get("phases") or []), str(job.get("status")))
            if on_progress is not None and progress != seen:
                on_progress(job)
            seen = progress
            if job.get("status") in ("completed", "failed"):
                return job
            if time.monotonic() > deadline:
                raise ApiError(504, "timeout", f"automate job {job_id} still running after {timeout:.0f} s",
                               {"job_id": job_id})
            time.sleep(poll_seconds)

    def create_comprehensive_pipelines(self, project_id: str) -> Any:
        return self._json("POST", f"/projects/{_seg(project_id)}/create-comprehensive-pipelines")

    def mappings(self, project_id: str) -> Any:
        return self._json("GET", f"/projects/{_seg(project_id)}/mappings")

    def suggest_mappings(self, project_id: str) -> Any:
        return self._json("POST", f"/projects/{_seg(project_id)}/mappings/suggest")

    def approve_mapping(self, project_id: str, source_table: str, target_table: str, **extra: Any) -> Any:
        return self._json("POST", f"/projects/{_seg(project_id)}/mappings/approve",
                          json_body={"source_table": source_table, "target_table": target_table, **extra})

    def exclude_mapping(self, project_id: str, source_table: str, note: str = "", columns: list[str] | None = None,
                        withdraw: bool = False) -> Any:
        """Exclude a source table (no columns) or some of its columns from coverage, saying why in
        `note`; `withdraw=True` takes the exclusion back."""
        body = {"source_table": source_table, "columns": list(columns or []), "note": note, "withdraw": withdraw}
        return self._json("POST", f"/projects/{_seg(project_id)}/mappings/exclude", json_body=body)

    def mapping_exclusions(self, project_id: str) -> Any:
        """Source tables and columns excluded from coverage, with their notes."""
        return self._json("GET", f"/projects/{_seg(project_id)}/mappings/exclusions")

    def table_keys(self, project_id: str, side: str = "source", table: str | None = None) -> Any:
        """The key of each table of a side (declared, discovered with its evidence, confirmed, overridden)."""
        params = {"side": side, **({"table": table} if table else {})}
        return self._json("GET", f"/projects/{_seg(project_id)}/keys", params=params)

    def discover_keys(self, project_id: str, table: str | None = None, sides: list[str] | None = None) -> Any:
        """Discover keys of tables without a declared key (one source `table`, or every one)."""
        body: dict[str, Any] = {**({"table": table} if table else {}), **({"sides": sides} if sides else {})}
        return self._json("POST", f"/projects/{_seg(project_id)}/keys/discover", json_body=body)

    def confirm_key(self, project_id: str, table: str, side: str = "source", columns: list[str] | None = None) -> Any:
        """Confirm the discovered key of a table (`columns`, when given, must be that key)."""
        body: dict[str, Any] = {"table": table, "side": side, **({"columns": columns} if columns is not None else {})}
        return self._json("POST", f"/projects/{_seg(project_id)}/keys/confirm", json_body=body)

    def override_key(self, project_id: str, table: str, columns: list[str], side: str = "source", note: str = "") -> Any:
        """Set the key of a table to `columns` (names of that side's catalog), saying why in `note`."""
        return self._json("POST", f"/projects/{_seg(project_id)}/keys/override",
                          json_body={"table": table, "side": side, "columns": list(columns), "note": note})

    # --- the language model's help (off unless the server configures one: ApiError 409 then) ------

    def suggest_descriptions(self, project_id: str, table: str, side: str = "source",
                             columns: list[str] | None = None) -> Any:
        """The model drafts a description of each column of `table` (or of `columns`): `{drafts,
        model, suggested_by: "model"}`; drafts wait for approve_description / reject_description."""
        body: dict[str, Any] = {"table": table, "side": side, **({"columns": list(columns)} if columns else {})}
        return self._json("POST", f"/projects/{_seg(project_id)}/catalog/descriptions/suggest", json_body=body)

    def descriptions(self, project_id: str, side: str = "source", table: str | None = None) -> Any:
        """Column descriptions of a side (or one table): approved ones and the model's drafts."""
        params = {"side": side, **({"table": table} if table else {})}
        return self._json("GET", f"/projects/{_seg(project_id)}/catalog/descriptions", params=params)

    def approve_description(self, project_id: str, table: str, column: str, side: str = "source",
                            description: str | None = None) -> Any:
        """Approve the model's draft description of a column, or set `description` (yours): it becomes
        the column's description in the catalog."""
        body: dict[str, Any] = {"table": table, "column": column, "side": side,
                                **({"description": description} if description is not None else {})}
        return self._json("POST", f"/projects/{_seg(project_id)}/catalog/descriptions/approve", json_body=body)

    def reject_description(self, project_id: str, table: str, column: str, side: str = "source") -> Any:
        """Reject the model's draft description of a column."""
        return self._json("POST", f"/projects/{_seg(project_id)}/catalog/descriptions/reject",
                          json_body={"table": table, "column": column, "side": side})

    def explain_step(self, run_id: str, step: str) -> Any:
        """The model's plain-words explanation of a failed step (`{explanation, model, asked_with}`),
        recorded with the run's project; only names and counts are sent to the model."""
        return self._json("POST", f"/runs/{_seg(run_id)}/steps/{_seg(step)}/explain")

    def draft_check(self, project_id: str, sentence: str, tables: list[str] | None = None) -> Any:
        """A custom_query step the model drafts from `sentence` (`{step, model, suggested_by}`), its
        SQL checked for both sides' dialects; save it with a pipeline to keep it."""
        body: dict[str, Any] = {"sentence": sentence, **({"tables": list(tables)} if tables else {})}
        return self._json("POST", f"/projects/{_seg(project_id)}/checks/draft", json_body=body)

    def reject_mapping(self, project_id: str, source_table: str, target_table: str) -> Any:
        return self._json("POST", f"/projects/{_seg(project_id)}/mappings/reject",
                          json_body={"source_table": source_table, "target_table": target_table})

    # --- pipelines -------------------------------------------------------------------------------

    def pipelines(self, project_id: str) -> Any:
        return self._json("GET", f"/projects/{_seg(project_id)}/pipelines")

    def save_pipeline(self, project_id: str, name: str, yaml: str, **fields: Any) -> Any:
        return self._json("POST", f"/projects/{_seg(project_id)}/pipelines",
                          json_body=_body(PipelineBase, {"name": name, "yaml": yaml, **fields}))

    def get_pipeline(self, project_id: str, pipeline_id: str) -> Any:
        return self._json("GET", f"/projects/{_seg(project_id)}/pipelines/{_seg(pipeline_id)}")

    def delete_pipeline(self, project_id: str, pipeline_id: str) -> None:
        self._json("DELETE", f"/projects/{_seg(project_id)}/pipelines/{_seg(pipeline_id)}")

    def execute_pipeline(self, project_id: str, pipeline_id: str, name: str | None = None) -> dict[str, Any]:
        return self._json("POST", f"/projects/{_seg(project_id)}/pipelines/{_seg(pipeline_id)}/execute",
                          json_body=_body(RunName, _clean({"name": name})))

    def pipeline_mermaid(self, project_id: str, pipeline_id: str) -> str:
        return self._request("GET", f"/projects/{_seg(project_id)}/pipelines/{_seg(pipeline_id)}/mermaid").text

    def pipeline_history(self, project_id: str, pipeline_id: str) -> Any:
        return self._json("GET", f"/projects/{_seg(project_id)}/pipelines/{_seg(pipeline_id)}/history")

    def templates(self) -> Any:
        return self._json("GET", "/pipelines/templates")

    # --- runs and results ------------------------------------------------------------------------

    def queue_run(self, *, project_id: str | None = None, pipeline_id: str | None = None,
                  pipeline_yaml: str | None = None, name: str | None = None) -> dict[str, Any]:
        body = _clean({"project_id": project_id, "pipeline_id": pipeline_id, "pipeline_yaml": pipeline_yaml, "name": name})
        return self._json("POST", "/runs", json_body=body)

    def plan_run(self, *, project_id: str | None = None, pipeline_id: str | None = None,
                 pipeline_yaml: str | None = None) -> dict[str, Any]:
        """The price of a run before running it (`POST /runs?dry_run=true`): per step and side the rows
        and bytes to scan, seconds and Snowflake credits; nothing is queued."""
        body = _clean({"project_id": project_id, "pipeline_id": pipeline_id, "pipeline_yaml": pipeline_yaml})
        return self._json("POST", "/runs", json_body=body, params={"dry_run": "true"})

    def runs(self, project_id: str | None = None, offset: int = 0, limit: int = 50, **filters: Any) -> Page:
        return self._page("/runs", {"project_id": project_id, "offset": offset, "limit": limit, **filters})

    def run(self, run_id: str) -> dict[str, Any]:
        return self._json("GET", f"/runs/{_seg(run_id)}")

    def steps(self, run_id: str) -> Records:
        """A run's steps (a list; `.to_dataframe()` gives one row per step, `result.*` columns)."""
        return Records(self._json("GET", f"/runs/{_seg(run_id)}/steps"), flatten=("result",),
                       dates=("started_at", "finished_at"))

    def differences(self, run_id: str, step: str, page_size: int = 1000, kind: str | None = None,
                    column: str | None = None) -> Differences:
        """Every difference a step's row diff found (only those of `kind` and naming `column` when
        given), fetched a page at a time as you iterate (`.to_dataframe()` gathers them: one row
        per differing column)."""
        path = f"/runs/{_seg(run_id)}/steps/{_seg(step)}/differences"
        chosen = {k: v for k, v in (("kind", kind), ("column", column)) if v is not None}
        return Differences(lambda offset, limit: self._json("GET", path, params={"offset": offset, "limit": limit,
                                                                                 **chosen}),
                           page_size)

    def codegen(self, project_id: str, platform: str) -> ExportFile:
        """The migration code of `platform` (snowflake, bigquery, databricks, beam, dbt) generated from
        the project's approved mappings, as a zip (the generation is recorded as an event)."""
        response = self._request("GET", f"/projects/{_seg(project_id)}/codegen/{_seg(platform)}")
        return ExportFile(filename=f"{project_id}-{platform}.zip",
                          content_type=response.headers.get("content-type", ""), content=response.content)

    def cancel_run(self, run_id: str) -> Any:
        return self._json("POST", f"/runs/{_seg(run_id)}/cancel")

    def export_run(self, run_id: str, format: ExportFormat = "json") -> ExportFile:
        response = self._request("GET", f"/runs/{_seg(run_id)}/export", params={"format": format})
        disposition = response.headers.get("content-disposition", "")
        filename = disposition.split('filename="', 1)[1].rstrip('"') if 'filename="' in disposition else f"{run_id}.{format}"
        return ExportFile(filename=filename, content_type=response.headers.get("content-type", ""), content=response.content)

    def trends(self, project_id: str, days: int = 30) -> Records:
        """Runs per day of a project (a list; `.to_dataframe()` gives one row per day)."""
        return Records(self._json("GET", f"/projects/{_seg(project_id)}/trends", params={"days": days}),
                       dates=("day",))

    def discrepancies(self, project_id: str, run_id: str | None = None) -> Any:
        return self._json("GET", f"/projects/{_seg(project_id)}/discrepancies", params={"run_id": run_id})

    def accept_discrepancy(self, project_id: str, discrepancy_id: str, note: str = "") -> dict[str, Any]:
        """Accept a discrepancy as a known difference (it stops failing later runs)."""
        return self._json("POST", f"/projects/{_seg(project_id)}/discrepancies/{_seg(discrepancy_id)}/accept",
                          json_body={"note": note})

    def resolve_discrepancy(self, project_id: str, discrepancy_id: str, note: str = "") -> dict[str, Any]:
        return self._json("POST", f"/projects/{_seg(project_id)}/discrepancies/{_seg(discrepancy_id)}/resolve",
                          json_body={"note": note})

    def compare_runs(self, run_id: str, baseline_run_id: str, force: bool = False) -> dict[str, Any]:
        """What got better or worse in `run_id` against `baseline_run_id` (better, worse, same, added,
        removed). Runs of different pipelines are refused (422) unless `force`."""
        params: dict[str, Any] = {"baseline": baseline_run_id}
        if force:
            params["force"] = "true"
        return self._json("GET", f"/runs/{_seg(run_id)}/compare", params=params)

    def schedules(self, project_id: str) -> Any:
        return self._json("GET", f"/projects/{_seg(project_id)}/schedules")

    def schedule_pipeline(self, project_id: str, pipeline_id: str, cron: str) -> dict[str, Any]:
        """Run a saved pipeline on a cron schedule (UTC)."""
        return self._json("POST", f"/projects/{_seg(project_id)}/schedules",
                          json_body={"pipeline_id": pipeline_id, "cron": cron})

    def delete_schedule(self, project_id: str, schedule_id: str) -> None:
        self._json("DELETE", f"/projects/{_seg(project_id)}/schedules/{_seg(schedule_id)}")

    # --- batches ---------------------------------------------------------------------------------

    def create_batch(self, name: str, pipelines: list[dict[str, str]], max_parallel: int = 4,
                     continue_on_error: bool = True, sequential: bool = False) -> dict[str, Any]:
        body = _body(BatchCreate, {"name": name, "pipelines": pipelines, "max_parallel": max_parallel,
                                   "continue_on_error": continue_on_error, "sequential": sequential})
        return self._json("POST", "/batches", json_body=body)

    def batches(self, offset: int = 0, limit: int = 50) -> Page:
        return self._page("/batches", {"offset": offset, "limit": limit})

    def batch(self, batch_id: str) -> dict[str, Any]:
        return self._json("GET", f"/batches/{_seg(batch_id)}")

    def execute_batch(self, batch_id: str) -> Any:
        return self._json("POST", f"/batches/{_seg(batch_id)}/execute")

    def cancel_batch(self, batch_id: str) -> Any:
        return self._json("POST", f"/batches/{_seg(batch_id)}/cancel")

    def retry_batch(self, batch_id: str) -> Any:
        return self._json("POST", f"/batches/{_seg(batch_id)}/retry")

    def delete_batch(self, batch_id: str) -> None:
        self._json("DELETE", f"/batches/{_seg(batch_id)}")

    # --- workload --------------------------------------------------------------------------------

    def upload_workload(self, project_id: str, filename: str, content: str, format: str = "json") -> Any:
        body = _body(WorkloadUploadCreate, {"filename": filename, "content": content, "format": format})
        return self._json("POST", f"/projects/{_seg(project_id)}/workloads", json_body=body)

    def upload_workload_file(self, project_id: str, path: str | Path, format: str = "json") -> Any:
        """Upload a Query Store export file (multipart, streamed from disk: no 1 MiB bus limit)."""
        file = Path(path)
        with file.open("rb") as handle:
            return self._json("POST", f"/projects/{_seg(project_id)}/workloads/file",
                              files={"file": (file.name, handle)}, data={"format": format})

    def workloads(self, project_id: str) -> Any:
        return self._json("GET", f"/projects/{_seg(project_id)}/workloads")

    def workload(self, workload_id: str) -> Any:
        return self._json("GET", f"/workloads/{_seg(workload_id)}")

    def analyze_workload(self, workload_id: str) -> Any:
        return self._json("POST", f"/workloads/{_seg(workload_id)}/analyze")

    def workload_suggestions(self, workload_id: str) -> Any:
        return self._json("GET", f"/workloads/{_seg(workload_id)}/suggestions")

    def suggest_workload(self, workload_id: str) -> Any:
        """Turn the analysed workload into validation suggestions, each with its evidence."""
        return self._json("POST", f"/workloads/{_seg(workload_id)}/suggest")

    def workload_pipeline(self, workload_id: str, *, suggestion_ids: list[str] | None = None,
                          schema_map: dict[str, str] | None = None, save: bool = False) -> Any:
        """A pipeline of the suggestions (all by default); the target side through `schema_map`, else
        the project's schema mappings; `save` also stores it in the project."""
        fields = _clean({"save": save, "suggestion_ids": suggestion_ids, "schema_map": schema_map})
        return self._json("POST", f"/workloads/{_seg(workload_id)}/pipeline",
                          json_body=_body(GeneratePipelineBase, fields))

    # --- audit and notifications -----------------------------------------------------------------

    def audit_logs(self, offset: int = 0, limit: int = 50, **filters: Any) -> Page:
        return self._page("/audit/logs", {"offset": offset, "limit": limit, **filters})

    def audit_stats(self, **filters: Any) -> Any:
        return self._json("GET", "/audit/stats", params=filters)

    def audit_verify(self, from_position: int | None = None, to_position: int | None = None,
                     include_archives: bool = False) -> Any:
        params: dict[str, Any] = {"from_position": from_position, "to_position": to_position}
        if include_archives:
            params["include_archives"] = "true"
        return self._json("GET", "/audit/verify", params=params)

    def audit_archive(self, before: datetime | str) -> Any:
        """Archive the audit log rows older than `before` (admin; `before` beyond the retention period)."""
        return self._json("POST", "/audit/archive", json_body=_body(ArchiveBase, {"before": before}))

    def audit_archive_segments(self) -> Any:
        return self._json("GET", "/audit/archive-segments")

    def audit_export(self, format: Literal["jsonl", "csv"] = "jsonl", **filters: Any) -> ExportFile:
        response = self._request("GET", "/audit/export", params={"format": format, **filters})
        disposition = response.headers.get("content-disposition", "")
        filename = disposition.split('filename="', 1)[1].rstrip('"') if 'filename="' in disposition else f"audit.{format}"
        return ExportFile(filename=filename, content_type=response.headers.get("content-type", ""), content=response.content)

    def audit_as_of(self, stream_type: str, stream_id: str, at: datetime | str) -> Any:
        return self._json("GET", "/audit/as-of", params={"stream_type": stream_type, "stream_id": stream_id, "at": at})

    def notifications(self) -> Any:
        return self._json("GET", "/notifications")

    def subscribe(self, name: str, event_types: list[str], project_id: str | None = None,
                  channel: Literal["notification", "webhook", "log"] = "notification",
                  target: str | None = None) -> dict[str, Any]:
        """An alert rule: events of `event_types` (of `project_id`; every project's for an admin only)
        notify `channel` (in-app notifications; a webhook at `target`, admin only; the log). The rule
        as stored, with its `id`."""
        fields = _clean({"name": name, "event_types": event_types, "project_id": project_id,
                         "channel": channel, "target": target})
        return self._json("POST", "/notifications/subscribe", json_body=_body(AlertRuleCreate, fields))

    def dismiss_notification(self, notification_id: str) -> Any:
        return self._json("POST", f"/notifications/{_seg(notification_id)}/dismiss")

    def health(self) -> dict[str, Any]:
        return self._json("GET", "/health")

    # --- live events -----------------------------------------------------------------------------

    def ws_url(self, path: str) -> str:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path, "", ""))

    async def watch_run(self, run_id: str) -> AsyncIterator[dict[str, Any]]:
        """The run's events (`pipeline.started`, `step.completed`, ...) from its first to its last."""
        import websockets

        async with websockets.connect(self.ws_url(f"/ws/runs/{_seg(run_id)}"), max_size=2**22) as ws:
            await ws.send(json.dumps({"token": self.token or ""}))  # the token stays out of URLs and logs
            try:
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("type") == "error":
                        error = message.get("error") or {}
                        raise ApiError(0, str(error.get("code", "invalid")), str(error.get("message", "")),
                                       error.get("details"))
                    yield message
            except websockets.ConnectionClosedOK:
                return


# what the client tries again: reads, and a login (it changes nothing but a new session)
SAFE_TO_RETRY = frozenset({"GET", "HEAD"})
RETRIED_POSTS = frozenset({"/auth/login"})
RETRY_STATUSES = frozenset({502, 503, 504})


def _backoff(attempt: int, retry_after: str | None) -> float:
    """Seconds before try `attempt + 2`: the server's Retry-After in seconds (at most 5 s), else 0.5, 1,
    2 … s."""
    if retry_after:
        with contextlib.suppress(ValueError):
            return min(max(float(retry_after), 0.0), 5.0)
    return min(0.5 * 2**attempt, 5.0)


def _error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(response.status_code, str(error["code"]), str(error["message"]), error.get("details") or {})
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, "internal" if response.status_code >= 500 else "invalid",
                        response.text[:200] or response.reason_phrase)

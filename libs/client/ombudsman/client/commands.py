"""The `ombudsman` commands that talk to a gateway: login, projects, connections, automate, remote-run,
batch, watch, results, audit, admin. Exit codes: 0 ok, 1 failed (run failed, service down), 2 bad input."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ombudsman.client import config
from ombudsman.client.device_flow import DeviceFlowError, DevicePrompt, device_login
from ombudsman.client.output import STATUS_STYLE, FormatOpt, OutputFormat, console, emit, err, fail, fields
from ombudsman.client.output import table as _output_table
from ombudsman.client.sdk import ApiError, OmbudsmanClient
from ombudsman.contracts.events import AUTOMATE_PHASES

app = typer.Typer(add_completion=False)
projects_app = typer.Typer(no_args_is_help=True, help="Projects on the gateway.")
connections_app = typer.Typer(no_args_is_help=True, help="Database connections of a project.")
batch_app = typer.Typer(no_args_is_help=True, help="Batches of pipeline runs.")
results_app = typer.Typer(no_args_is_help=True, help="Runs, steps and exported reports.")
audit_app = typer.Typer(no_args_is_help=True, help="The audit log.")
admin_app = typer.Typer(no_args_is_help=True, help="Administration.")
app.add_typer(projects_app, name="projects")
app.add_typer(connections_app, name="connections")
app.add_typer(batch_app, name="batch")
app.add_typer(results_app, name="results")
app.add_typer(audit_app, name="audit")
app.add_typer(admin_app, name="admin")

T = TypeVar("T")
ServerOpt = typer.Option(None, "--server", "-s", envvar="OMB_SERVER", help="Gateway URL (default: saved, or http://127.0.0.1:8800)")
JsonOpt = typer.Option(False, "--json", hidden=True, help="Same as --format json")  # kept for older scripts
ProjectArg = typer.Argument(..., help="The project's id")
RunArg = typer.Argument(..., help="The run's id")
BatchArg = typer.Argument(..., help="The batch's id")
OffsetOpt = typer.Option(0, "--offset", min=0, help="Skip this many rows (paging)")
LimitOpt = typer.Option(50, "--limit", min=1, max=500, help="At most this many rows")
_STATUS_STYLE = STATUS_STYLE
TERMINAL = ("completed", "failed", "cancelled")


def _client(server: str | None) -> OmbudsmanClient:
    url = config.server_url(server)
    saved = config.login_for(url)
    return OmbudsmanClient(url, saved.get("access_token"), refresh_token=saved.get("refresh_token"))


def _call(client: OmbudsmanClient, fn: Callable[[], T]) -> T:
    """Run `fn`; on an expired access token refresh once (saving the new tokens) and retry; API errors
    end the command: exit 2 for what the caller got wrong (4xx), 1 for a gateway or service failure."""
    try:
        try:
            return fn()
        except ApiError as exc:
            if exc.status != 401 or not client.refresh_token:
                raise
            pair = client.refresh()
            config.save_login(client.base_url, pair.access_token, pair.refresh_token, pair.user.username)
            return fn()
    except ApiError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}")
        for field in (exc.details or {}).get("fields", []) or []:
            err.print(f"  - {escape(str(field.get('field')))}: {escape(str(field.get('message')))}")
        if exc.status == 401:
            err.print("  (log in with `ombudsman login`)")
        raise typer.Exit(2 if 400 <= exc.status < 500 else 1) from None


def _print(data: Any, as_json: bool = True) -> None:
    """Print `data` as JSON (kept for commands not yet on `output.emit`)."""
    if as_json:
        emit(data, OutputFormat.json)


def _fmt(output: OutputFormat, as_json: bool = False) -> OutputFormat:
    return OutputFormat.json if as_json else output


def _table(rows: list[dict[str, Any]], columns: list[str], title: str | None = None) -> None:
    _output_table(rows, columns, title=title)


def _items(found: Any, key: str = "items") -> list[dict[str, Any]]:
    items = found.get(key, []) if isinstance(found, dict) else found
    return list(items or [])


# --- auth --------------------------------------------------------------------------------------


@app.command()
def login(
    username: str | None = typer.Option(None, "--username", "-u", help="Your user name (asked for when not given)"),
    password: str | None = typer.Option(None, "--password", "-p", envvar="OMB_PASSWORD",
                                        help="Your password (asked for, hidden, when not given; or OMB_PASSWORD)"),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the password from stdin (first line), e.g. from a file"),
    sso: bool = typer.Option(False, "--sso", help="Sign in with the gateway's identity provider (OIDC device flow)"),
    server: str | None = ServerOpt,
) -> None:
    """Log in to a gateway; the tokens are saved (0600) under ~/.config/ombudsman/, one login per gateway."""
    if sso:
        if username or password or password_stdin:
            raise fail("--sso signs in at the identity provider: give no username or password")
        _login_sso(server)
        return
    if password_stdin and password:
        raise fail("give either --password or --password-stdin, not both")
    if not username:
        username = typer.prompt("Username")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise fail("--password-stdin: nothing was read from stdin")
    elif not password:
        password = typer.prompt("Password", hide_input=True)
    client = OmbudsmanClient(config.server_url(server))
    pair = _call(client, lambda: client.login(str(username), str(password)))
    config.save_config({**config.load_config(), "server": client.base_url})
    config.save_login(client.base_url, pair.access_token, pair.refresh_token, pair.user.username)
    console.print(f"Logged in to {client.base_url} as [bold]{escape(pair.user.username)}[/] ({pair.user.role}).")


def _login_sso(server: str | None) -> None:
    """`login --sso`: the device flow at the provider the gateway names, then its ID token for tokens."""
    client = OmbudsmanClient(config.server_url(server))
    oidc = _call(client, client.auth_providers).get("oidc")
    if not oidc:
        raise fail(f"single sign-on is not configured on {client.base_url}; log in with a username and password")

    def show(prompt: DevicePrompt) -> None:
        console.print(f"To sign in, open [bold]{escape(prompt.verification_uri)}[/] and enter the code "
                      f"[bold]{escape(prompt.user_code)}[/]")
        if prompt.verification_uri_complete:
            console.print(f"(or open {escape(prompt.verification_uri_complete)})")
        console.print(f"Waiting for you to approve (the code is valid {prompt.expires_in // 60} min)...")

    try:
        id_token = device_login(str(oidc["issuer"]), str(oidc["client_id"]), str(oidc.get("scopes") or "openid"), show)
    except DeviceFlowError as exc:
        raise fail(str(exc), code=1) from None
    pair = _call(client, lambda: client.login_with_id_token(id_token))
    config.save_config({**config.load_config(), "server": client.base_url})
    config.save_login(client.base_url, pair.access_token, pair.refresh_token, pair.user.username)
    console.print(f"Logged in to {client.base_url} as [bold]{escape(pair.user.username)}[/] ({pair.user.role}) "
                  "through single sign-on.")


@app.command()
def logout(server: str | None = ServerOpt) -> None:
    """Revoke the saved tokens of this gateway and forget them."""
    client = _client(server)
    if client.token:
        try:
            client.logout()
        except ApiError as exc:
            err.print(f"[yellow]warning:[/] {escape(exc.message)}")
    config.forget_login(client.base_url)
    console.print("Logged out.")


@app.command()
def whoami(server: str | None = ServerOpt, output: OutputFormat = FormatOpt) -> None:
    """The user the saved token belongs to."""
    client = _client(server)
    user = _call(client, client.me)
    emit({**user.model_dump(mode="json"), "server": client.base_url}, output,
         lambda: console.print(f"{escape(user.username)} ({user.role}) on {client.base_url}"))


# --- projects ----------------------------------------------------------------------------------


@projects_app.command("list")
def projects_list(q: str | None = typer.Option(None, help="Text search in ids, names and descriptions"),
                  offset: int = OffsetOpt, limit: int = LimitOpt,
                  server: str | None = ServerOpt, output: OutputFormat = FormatOpt, as_json: bool = JsonOpt) -> None:
    """Projects you belong to."""
    client = _client(server)
    page = _call(client, lambda: client.list_projects(offset=offset, limit=limit, q=q))
    emit(page.model_dump(), _fmt(output, as_json),
         lambda: _table(page.items, ["id", "name", "description"], title=f"{page.total} project(s)"))


@projects_app.command("create")
def projects_create(project_id: str = typer.Argument(..., help="The new project's id (lower case, digits, -)"),
                    name: str = typer.Option(..., "--name", help="A readable name"),
                    description: str = typer.Option("", "--description", help="What is migrated"),
                    server: str | None = ServerOpt, output: OutputFormat = FormatOpt) -> None:
    """Create a project (you become its member)."""
    client = _client(server)
    project = _call(client, lambda: client.create_project(project_id, name, description=description))
    emit(project, output, lambda: console.print(f"Created project [bold]{escape(project.get('id', project_id))}[/]."))


def _show_project(project: dict[str, Any]) -> None:
    fields([(k, project.get(k)) for k in ("id", "name", "description", "status", "source_schemas", "target_schemas",
                                          "schema_mappings", "version", "created_at") if k in project],
           title=f"project {project.get('id')}")
    connections = _items(project.get("connections") or [])
    if connections:
        _table(connections, ["name", "role", "kind", "url_masked"], title="connections")
    pipelines = _items(project.get("pipelines") or [])
    if pipelines:
        _table(pipelines, ["pipeline_id", "name"], title="pipelines")
    members = project.get("members") or []
    if members:
        rows = [m if isinstance(m, dict) else {"user_id": m} for m in members]
        _table(rows, [c for c in ("user_id", "username", "role") if any(c in r for r in rows)], title="members")


@projects_app.command("show")
def projects_show(project_id: str = ProjectArg, server: str | None = ServerOpt, output: OutputFormat = FormatOpt) -> None:
    """A project with its schemas, connections, pipelines and members."""
    client = _client(server)
    project = _call(client, lambda: client.get_project(project_id))
    emit(project, output, lambda: _show_project(project))


@projects_app.command("delete")
def projects_delete(project_id: str = ProjectArg, yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask"),
                    server: str | None = ServerOpt) -> None:
    """Delete a project."""
    if not yes:
        typer.confirm(f"Delete project {project_id}?", abort=True)
    client = _client(server)
    _call(client, lambda: client.delete_project(project_id))
    console.print(f"Deleted project {escape(project_id)}.")


@projects_app.command("add-member")
def projects_add_member(project_id: str = ProjectArg, user_id: str = typer.Argument(..., help="The user's id"),
                        server: str | None = ServerOpt) -> None:
    """Add a user (by id) to a project."""
    client = _client(server)
    _call(client, lambda: client.add_member(project_id, user_id))
    console.print(f"Added {escape(user_id)} to {escape(project_id)}.")


@projects_app.command("members")
def projects_members(project_id: str = ProjectArg, server: str | None = ServerOpt, output: OutputFormat = FormatOpt) -> None:
    """A project's members with their username and role."""
    client = _client(server)
    found = _call(client, lambda: client.members(project_id))
    emit(found, output, lambda: _table(found.get("items") or [], ["user_id", "username", "role"], title="members"))


@projects_app.command("remove-member")
def projects_remove_member(project_id: str = ProjectArg, user_id: str = typer.Argument(..., help="The user's id"),
                           server: str | None = ServerOpt) -> None:
    """Remove a user (by id) from a project: they no longer see it."""
    client = _client(server)
    _call(client, lambda: client.remove_member(project_id, user_id))
    console.print(f"Removed {escape(user_id)} from {escape(project_id)}.")


# --- connections -------------------------------------------------------------------------------

ConnectionArg = typer.Argument(..., help="The connection's name in the project")


@connections_app.command("list")
def connections_list(project_id: str = ProjectArg, server: str | None = ServerOpt, output: OutputFormat = FormatOpt,
                     as_json: bool = JsonOpt) -> None:
    """A project's connections (secrets masked)."""
    client = _client(server)
    items = _items(_call(client, lambda: client.connections(project_id)))
    emit(items, _fmt(output, as_json), lambda: _table(items, ["name", "kind", "role", "url_masked"],
                                                     title=f"{len(items)} connection(s)"))


@connections_app.command("add")
def connections_add(
    project_id: str = ProjectArg, name: str = typer.Argument(..., help="A name for the connection (e.g. source)"),
    url: str = typer.Option(..., "--url", envvar="OMB_CONNECTION_URL",
                            help="Connection URL (or set OMB_CONNECTION_URL to keep the secret out of shell history)"),
    role: str = typer.Option("other", help="source, target or other"),
    server: str | None = ServerOpt, output: OutputFormat = FormatOpt,
) -> None:
    """Add a connection; its secret is encrypted by the projects service and never shown again."""
    client = _client(server)
    added = _call(client, lambda: client.add_connection(project_id, name, url, role=role)) or {}
    shown = next((c for c in _items(_call(client, lambda: client.connections(project_id))) if c.get("name") == name),
                 {"name": name, "role": role})

    def render() -> None:
        console.print(f"Added connection [bold]{escape(name)}[/] to {escape(project_id)}: role "
                      f"{escape(str(shown.get('role') or role))}, {escape(str(shown.get('kind') or '?'))}, "
                      f"{escape(str(shown.get('url_masked') or ''))}")

    emit({**added, **shown}, output, render)


@connections_app.command("remove")
def connections_remove(project_id: str = ProjectArg, name: str = ConnectionArg, server: str | None = ServerOpt) -> None:
    """Remove a connection from a project (pipelines naming it then fail to run)."""
    client = _client(server)
    _call(client, lambda: client.remove_connection(project_id, name))
    console.print(f"Removed connection {escape(name)}.")


@connections_app.command("test")
def connections_test(project_id: str = ProjectArg, name: str = ConnectionArg, server: str | None = ServerOpt,
                     output: OutputFormat = FormatOpt) -> None:
    """Connect and report the server version and latency (exit 1 when it cannot connect)."""
    client = _client(server)
    result = _call(client, lambda: client.test_connection(project_id, name))
    emit(result, output, lambda: fields([("connection", name), *((k, v) for k, v in result.items())],
                                        title=f"connection test of {name}"))
    if isinstance(result, dict) and result.get("ok") is False:
        raise typer.Exit(1)


@connections_app.command("pool")
def connections_pool(project_id: str = ProjectArg, name: str = ConnectionArg, server: str | None = ServerOpt,
                     output: OutputFormat = FormatOpt, as_json: bool = JsonOpt) -> None:
    """The connection's pools on the step workers: connections open, in use and idle per worker."""
    client = _client(server)
    found = _call(client, lambda: client.connection_pool(project_id, name))
    totals = found.get("totals", {})
    emit(found, _fmt(output, as_json), lambda: _table(
        found.get("pools") or [], ["worker", "pool_size", "open", "in_use", "idle", "steps_served", "idle_seconds"],
        title=f"{name}: {totals.get('open', 0)} open, {totals.get('in_use', 0)} in use on "
              f"{totals.get('workers', 0)} of {found.get('workers_answering', 0)} workers"))


# --- automation, runs, watch -------------------------------------------------------------------


def _phase_line(phase: dict[str, Any]) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in (phase.get("counts") or {}).items())
    return f"{counts}  ({float(phase.get('seconds') or 0):.1f} s)"


@app.command()
def automate(project_id: str = ProjectArg,
             threshold: float | None = typer.Option(None, help="Auto-approve mappings at or above this confidence (0-1)"),
             extract: bool = typer.Option(True, "--extract/--no-extract",
                                          help="--no-extract: use the catalogs already extracted or uploaded"),
             wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the job (--no-wait: print its id)"),
             server: str | None = ServerOpt, output: OutputFormat = FormatOpt) -> None:
    """Extract both catalogs, map tables, and generate pipelines for a project: a background job
    followed with a progress bar per phase, then its summary (exit 1 when the job fails)."""
    client = _client(server)
    options = {} if extract else {"extract": False}
    started = _call(client, lambda: client.automate(project_id, threshold, wait=False, **options))
    if not wait:
        emit(started, output, lambda: console.print(f"automate job [bold]{escape(str(started.get('job_id')))}[/] started"))
        return
    job_id = started["job_id"]
    console.print(f"automate job {escape(job_id)} of project {escape(project_id)}")
    with Progress(TextColumn("{task.description:<14}"), BarColumn(bar_width=20), TextColumn("{task.fields[info]}"),
                  console=console) as progress:
        bars = {phase: progress.add_task(phase, total=1, info="") for phase in AUTOMATE_PHASES}
        shown: set[str] = set()

        def show(job: dict[str, Any]) -> None:
            for phase in job.get("phases") or []:
                name = phase.get("phase")
                if name in bars and name not in shown:
                    shown.add(name)
                    progress.update(bars[name], completed=1, info=escape(_phase_line(phase)))
                    progress.console.print(f"  {escape(name)} done: {escape(_phase_line(phase))}")

        job = _call(client, lambda: client.wait_automate(project_id, job_id, on_progress=show))
    if job.get("status") != "completed":
        err.print(f"[bold red]automate failed[/] in phase {escape(str(job.get('failed_phase') or '-'))}: "
                  f"{escape(str(job.get('error')))}")
        raise typer.Exit(1)
    summary = job.get("summary") or {}
    emit(summary, output, lambda: _show_automated(summary))


def _show_automated(summary: dict[str, Any]) -> None:
    scalars = [(k, v) for k, v in summary.items() if not isinstance(v, dict | list) or k == "pipeline_ids"]
    fields(scalars, title="automate summary")
    for key, value in summary.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(c for row in value[:50] for c in row))[:6]
            _table(value, columns, title=key.replace("_", " "))


@app.command("remote-run")
def remote_run(
    pipeline: str = typer.Argument(..., help="A saved pipeline id (with --project) or a pipeline YAML file"),
    project: str | None = typer.Option(None, "--project", "-p", help="The project of a saved pipeline"),
    watch_it: bool = typer.Option(True, "--watch/--no-watch", help="Follow the run live"),
    server: str | None = ServerOpt,
) -> None:
    """Run a pipeline on the gateway's workers (the standalone `ombudsman run` needs no server)."""
    client = _client(server)
    path = Path(pipeline)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            text = path.read_text()
        except OSError as exc:
            err.print(f"[bold red]error:[/] cannot read {escape(pipeline)}: {escape(exc.strerror or str(exc))}")
            raise typer.Exit(2) from None
        queued = _call(client, lambda: client.queue_run(project_id=project, pipeline_yaml=text))
    else:
        if not project:
            err.print("[bold red]error:[/] a saved pipeline needs --project")
            raise typer.Exit(2)
        queued = _call(client, lambda: client.execute_pipeline(project, pipeline))
    run_id = str(queued.get("run_id"))
    console.print(f"Queued run [bold]{escape(run_id)}[/].")
    if watch_it:
        raise typer.Exit(_watch(client, run_id))


def remote_plan(pipeline: str, *, project: str | None, server: str | None, output_format: str) -> None:
    """`ombudsman run --server … --plan`: the gateway's price of a pipeline file or saved pipeline."""
    from ombudsman.contracts.results import PipelinePlan
    from ombudsman.engine.cli import plan_table

    client = _client(server)
    path = Path(pipeline)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            text = path.read_text()
        except OSError as exc:
            err.print(f"[bold red]error:[/] cannot read {escape(pipeline)}: {escape(exc.strerror or str(exc))}")
            raise typer.Exit(2) from None
        priced = _call(client, lambda: client.plan_run(project_id=project, pipeline_yaml=text))
    elif not project:
        err.print("[bold red]error:[/] a saved pipeline needs --project")
        raise typer.Exit(2)
    else:
        priced = _call(client, lambda: client.plan_run(project_id=project, pipeline_id=pipeline))
    if output_format == "json":
        print(json.dumps(priced, indent=2))
    else:
        console.print(plan_table(PipelinePlan.model_validate(priced)))


@app.command()
def watch(run_id: str = RunArg, server: str | None = ServerOpt) -> None:
    """Follow a run live (progress bars); joins late runs from their start. Exit 0 passed, 1 failed."""
    client = _client(server)
    _call(client, lambda: client.run(run_id))  # auth (refresh if needed) and visibility first
    raise typer.Exit(_watch(client, run_id))


def _watch(client: OmbudsmanClient, run_id: str) -> int:
    return asyncio.run(_watch_async(client, run_id))


async def _watch_async(client: OmbudsmanClient, run_id: str) -> int:
    outcome = 1
    counts: dict[str, int] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        overall = progress.add_task(f"run {run_id}", total=None)
        running: dict[str, Any] = {}
        try:
            async for event in client.watch_run(run_id):
                kind = event.get("type")
                step = event.get("step")
                if kind == "pipeline.queued":
                    progress.update(overall, total=len(event.get("steps") or []) or None)
                elif kind == "step.started" and step and step not in running:
                    running[step] = progress.add_task(f"  {escape(step)}", total=1)
                elif kind in ("step.completed", "step.failed") and step:
                    status = str(event.get("status"))
                    counts[status] = counts.get(status, 0) + 1
                    task = running.pop(step, None)
                    if task is not None:
                        progress.remove_task(task)
                    style = _STATUS_STYLE.get(status, "")
                    progress.console.print(f"  [{style}]{status:<8}[/] {escape(step)}")
                    progress.advance(overall)
                elif kind in ("pipeline.completed", "pipeline.failed"):
                    outcome = 0 if kind == "pipeline.completed" else 1
                    for task in running.values():
                        progress.remove_task(task)
                    break
        except ApiError as exc:
            err.print(f"[bold red]error:[/] {escape(exc.message)}")
            return 2 if exc.code_text in ("not_found", "unauthorized", "invalid") else 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no steps"
    verdict = "[green]passed[/]" if outcome == 0 else "[red]failed[/]"
    console.print(f"Run {escape(run_id)} {verdict}: {summary}")
    return outcome


# --- batches -----------------------------------------------------------------------------------


def _pipeline_refs(refs: list[str]) -> list[dict[str, str]]:
    out = []
    for ref in refs:
        if "/" not in ref:
            raise fail(f"{ref}: write pipelines as PROJECT/PIPELINE_ID")
        project_id, pipeline_id = ref.split("/", 1)
        out.append({"project_id": project_id, "pipeline_id": pipeline_id})
    return out


@batch_app.command("create")
def batch_create(name: str = typer.Argument(..., help="A name for the batch"),
                 pipelines: list[str] = typer.Argument(..., help="PROJECT/PIPELINE_ID ..."),
                 max_parallel: int = typer.Option(4, min=1, max=64, help="Pipelines run at the same time"),
                 stop_on_error: bool = typer.Option(False, help="Start no further pipeline once one fails"),
                 sequential: bool = typer.Option(False, help="One pipeline after the other, in the order given"),
                 execute: bool = typer.Option(False, "--execute", help="Start it right away"),
                 watch_it: bool = typer.Option(False, "--watch", help="With --execute: follow it (as `batch watch`)"),
                 server: str | None = ServerOpt, output: OutputFormat = FormatOpt) -> None:
    """Create a batch of pipeline runs."""
    client = _client(server)
    refs = _pipeline_refs(pipelines)
    batch = _call(client, lambda: client.create_batch(name, refs, max_parallel, not stop_on_error, sequential))
    batch_id = str(batch.get("batch_id"))
    emit(batch, output, lambda: console.print(f"Created batch [bold]{escape(batch_id)}[/] ({len(refs)} pipelines)."))
    if execute:
        _call(client, lambda: client.execute_batch(batch_id))
        if output is OutputFormat.table:
            console.print("Started.")
        if watch_it:
            raise typer.Exit(_watch_batch(client, batch_id))


@batch_app.command("list")
def batch_list(offset: int = OffsetOpt, limit: int = LimitOpt, server: str | None = ServerOpt,
               output: OutputFormat = FormatOpt, as_json: bool = JsonOpt) -> None:
    """Batches, newest first, with their progress."""
    client = _client(server)
    page = _call(client, lambda: client.batches(offset, limit))
    emit(page.model_dump(), _fmt(output, as_json), lambda: _table(
        page.items, ["batch_id", "name", "status", "total", "completed", "failed", "created_at"],
        title=f"{page.total} batch(es)"))


def _show_batch(batch: dict[str, Any]) -> None:
    progress = batch.get("progress") or {}
    fields([("batch_id", batch.get("batch_id")), ("name", batch.get("name")), ("status", batch.get("status")),
            ("progress", ", ".join(f"{k} {v}" for k, v in progress.items())),
            ("created_at", batch.get("created_at")), ("finished_at", batch.get("finished_at"))],
           title=f"batch {batch.get('batch_id')}")
    runs = batch.get("runs") or {}
    rows = [{"#": i + 1, "project_id": p.get("project_id"), "pipeline_id": p.get("pipeline_id"),
             "run_id": runs.get(str(i)) or runs.get(i)} for i, p in enumerate(batch.get("pipelines") or [])]
    _table(rows, ["#", "project_id", "pipeline_id", "run_id"], title="pipelines")


@batch_app.command("status")
def batch_status(batch_id: str = BatchArg, server: str | None = ServerOpt, output: OutputFormat = FormatOpt) -> None:
    """A batch's status, progress and the run of each of its pipelines."""
    client = _client(server)
    batch = _call(client, lambda: client.batch(batch_id))
    emit(batch, output, lambda: _show_batch(batch))


@batch_app.command("execute")
def batch_execute(batch_id: str = BatchArg,
                  watch_it: bool = typer.Option(True, "--watch/--no-watch",
                                                help="Follow it with a progress bar per pipeline (as `batch watch`)"),
                  server: str | None = ServerOpt, output: OutputFormat = FormatOpt) -> None:
    """Start a batch's runs; followed live unless --no-watch (exit 0 all passed, 1 a pipeline failed)."""
    client = _client(server)
    started = _call(client, lambda: client.execute_batch(batch_id))
    if not watch_it or output is not OutputFormat.table:
        emit(started, output, lambda: console.print(f"Started batch [bold]{escape(batch_id)}[/]."))
        return
    console.print(f"Started batch [bold]{escape(batch_id)}[/].")
    raise typer.Exit(_watch_batch(client, batch_id))


@batch_app.command("watch")
def batch_watch(batch_id: str = BatchArg, server: str | None = ServerOpt,
                timeout: float = typer.Option(3600, "--timeout", min=1, help="Give up after this many seconds")) -> None:
    """Follow a batch with a progress bar per pipeline (its steps done); exit 0 all passed, 1 any failed."""
    client = _client(server)
    _call(client, lambda: client.batch(batch_id))  # auth (refresh if needed) and visibility first
    raise typer.Exit(_watch_batch(client, batch_id, timeout))


def _steps_done(client: OmbudsmanClient, run_id: str) -> tuple[int, int, str]:
    """(steps finished, steps in all, run status) of a run."""
    run = client.run(run_id)
    steps = _items(run.get("steps") if isinstance(run.get("steps"), list) else client.steps(run_id))
    done = sum(1 for s in steps if s.get("status"))
    return done, len(steps) or int(run.get("total_steps") or 0), str(run.get("status") or "?")


def _watch_batch(client: OmbudsmanClient, batch_id: str, timeout: float = 3600) -> int:
    """Progress bars per pipeline of a batch until it ends; 0 when every run passed, else 1."""
    import time

    deadline = time.monotonic() + timeout
    columns = (TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
               TextColumn("{task.fields[state]}"), TimeElapsedColumn())
    finished: dict[str, str] = {}
    with Progress(*columns, console=console) as progress:
        bars: dict[int, Any] = {}
        while True:
            batch = _call(client, lambda: client.batch(batch_id))
            runs = batch.get("runs") or {}
            for index, ref in enumerate(batch.get("pipelines") or []):
                label = f"{ref.get('project_id')}/{ref.get('pipeline_id')}"
                if index not in bars:
                    bars[index] = progress.add_task(escape(label), total=None, state="pending")
                run_id = runs.get(str(index)) or runs.get(index)
                if not run_id or finished.get(label):
                    continue
                try:
                    done, total, status = _steps_done(client, str(run_id))
                except ApiError:
                    continue
                style = STATUS_STYLE.get(status, "")
                progress.update(bars[index], completed=done, total=total or None,
                                state=f"[{style}]{escape(status)}[/]" if style else escape(status))
                if status in ("completed", "failed", "cancelled", "error"):
                    finished[label] = status
            if batch.get("status") in TERMINAL or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    failed = [label for label, status in finished.items() if status != "completed"]
    verdict = "[green]passed[/]" if batch.get("status") == "completed" and not failed else "[red]failed[/]"
    if batch.get("status") not in TERMINAL:
        verdict = "[yellow]still running[/] (timed out watching)"
    console.print(f"Batch {escape(batch_id)} {verdict}: {len(finished) - len(failed)} passed, {len(failed)} failed"
                  + (f" ({escape(', '.join(failed))})" if failed else ""))
    return 0 if verdict == "[green]passed[/]" else 1


@batch_app.command("cancel")
def batch_cancel(batch_id: str = BatchArg, server: str | None = ServerOpt, output: OutputFormat = FormatOpt) -> None:
    """Cancel a batch: no further pipeline starts and its running runs are cancelled."""
    client = _client(server)
    found = _call(client, lambda: client.cancel_batch(batch_id))
    emit(found, output, lambda: console.print(f"Cancelled batch {escape(batch_id)}."))


@batch_app.command("retry")
def batch_retry(batch_id: str = BatchArg, server: str | None = ServerOpt, output: OutputFormat = FormatOpt) -> None:
    """Run a finished batch's failed pipelines again (only their failed steps)."""
    client = _client(server)
    found = _call(client, lambda: client.retry_batch(batch_id))
    emit(found, output, lambda: console.print(f"Retrying the failed pipelines of batch {escape(batch_id)}."))


@batch_app.command("delete")
def batch_delete(batch_id: str = BatchArg, server: str | None = ServerOpt) -> None:
    """Delete a batch (its runs are kept)."""
    client = _client(server)
    _call(client, lambda: client.delete_batch(batch_id))
    console.print(f"Deleted batch {escape(batch_id)}.")


# --- results -----------------------------------------------------------------------------------


@results_app.command("runs")
def results_runs(project_id: str = ProjectArg,
                 status: str | None = typer.Option(None, help="Only runs with this status (completed, failed …)"),
                 offset: int = OffsetOpt, limit: int = LimitOpt,
                 server: str | None = ServerOpt, output: OutputFormat = FormatOpt, as_json: bool = JsonOpt) -> None:
    """A project's runs, newest first."""
    client = _client(server)
    page = _call(client, lambda: client.runs(project_id, offset=offset, limit=limit, status=status))
    emit(page.model_dump(), _fmt(output, as_json), lambda: _table(
        page.items, ["run_id", "pipeline_name", "status", "score", "queued_at"], title=f"{page.total} run(s)"))


@results_app.command("show")
def results_show(run_id: str = RunArg, server: str | None = ServerOpt, output: OutputFormat = FormatOpt) -> None:
    """A run's steps and their results (exit 0 whatever the run's outcome)."""
    client = _client(server)
    run = _call(client, lambda: client.run(run_id))
    steps = _items(_call(client, lambda: client.steps(run_id)))

    def render() -> None:
        console.print(f"Run {escape(run_id)} of {escape(str(run.get('pipeline_name') or run.get('pipeline_id') or ''))}: "
                      f"[{STATUS_STYLE.get(str(run.get('status')), '')}]{escape(str(run.get('status')))}[/]")
        _table(steps, ["step", "validator", "status", "message"])

    emit({"run": run, "steps": steps}, output, render)


@results_app.command("export")
def results_export(run_id: str = RunArg,
                   output_format: str = typer.Option("json", "--format", "-f", help="json, csv, xlsx, pdf, junit, html"),
                   output: Path | None = typer.Option(None, "--output", "-o", help="File to write (default: the server's name; - for stdout)"),
                   server: str | None = ServerOpt) -> None:
    """Download a run's report."""
    allowed = ("json", "csv", "xlsx", "excel", "pdf", "junit", "html")
    if output_format not in allowed:
        raise fail(f"--format must be one of {', '.join(allowed)}")
    client = _client(server)
    exported = _call(client, lambda: client.export_run(run_id, output_format))  # type: ignore[arg-type]
    target = output or Path(exported.filename)
    if str(target) == "-":
        sys.stdout.buffer.write(exported.content)
        return
    target.write_bytes(exported.content)
    console.print(f"Wrote {escape(str(target))} ({len(exported.content)} bytes).")


# --- audit -------------------------------------------------------------------------------------


@audit_app.command("logs")
def audit_logs(project: str | None = typer.Option(None, "--project", help="One project's entries (required unless admin)"),
               actor: str | None = typer.Option(None, help="Only entries by this user (id or name)"),
               stream_type: str | None = typer.Option(None, help="Only this kind of stream (project, run, batch …)"),
               since: str | None = typer.Option(None, help="Only entries at or after this ISO time"),
               offset: int = OffsetOpt, limit: int = LimitOpt,
               server: str | None = ServerOpt, output: OutputFormat = FormatOpt, as_json: bool = JsonOpt) -> None:
    """Audit log entries, oldest first (admins see everything; others one project at a time)."""
    client = _client(server)
    page = _call(client, lambda: client.audit_logs(offset, limit, project_id=project, actor=actor,
                                                  stream_type=stream_type, since=since))
    rows = [{**e, "actor": (e.get("actor") or {}).get("name") or (e.get("actor") or {}).get("id") or "",
             "occurred_at": str(e.get("occurred_at") or "")[:19].replace("T", " ")} for e in page.items]
    emit(page.model_dump(), _fmt(output, as_json), lambda: _table(
        rows, ["position", "occurred_at", "event_type", "stream_id", "actor"], title=f"{page.total} entries"))


@audit_app.command("verify")
def audit_verify(file: Path | None = typer.Argument(None, help="an export (.jsonl/.csv) or archive segment to "
                                                               "verify offline, with no server"),
                 public_key: str | None = typer.Option(None, "--public-key", envvar="OMB_AUDIT_PUBLIC_KEY",
                                                       help="the key archive segments must be signed with"),
                 server: str | None = ServerOpt, output: OutputFormat = FormatOpt) -> None:
    """Recompute the hash chain of the live log (or, given FILE, of an export offline); exit 1 if broken."""
    if file is not None:
        from ombudsman.client.audit_verify import print_report, verify_file

        report_offline = verify_file(file, public_key=public_key)
        print_report(file, report_offline, as_json=output is OutputFormat.json, public_key=public_key)
        raise typer.Exit(0 if report_offline.ok else 1)
    client = _client(server)
    report = _call(client, client.audit_verify)
    emit(report, output, lambda: fields(list(report.items()), title="audit chain"))
    if isinstance(report, dict) and report.get("ok") is False:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(output: Path = typer.Option(Path("audit.jsonl"), "--output", "-o", help="File to write"),
                 output_format: str = typer.Option("jsonl", "--format", "-f", help="jsonl or csv"),
                 project: str | None = typer.Option(None, "--project", help="Only this project's entries"),
                 server: str | None = ServerOpt) -> None:
    """Download the audit log with its hashes (admins), to keep or to verify offline with `audit verify FILE`."""
    if output_format not in ("jsonl", "csv"):
        raise fail("--format must be jsonl or csv")
    client = _client(server)
    filters = {"project_id": project} if project else {}
    exported = _call(client, lambda: client.audit_export(output_format, **filters))  # type: ignore[arg-type]
    output.write_bytes(exported.content)
    console.print(f"Wrote {escape(str(output))} ({len(exported.content)} bytes).")


# --- admin -------------------------------------------------------------------------------------


def _readable(exc: Exception) -> str:
    """A validation error as one sentence per field (not pydantic's "1 validation error for …")."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors())
    return str(getattr(exc, "message", None) or str(exc).splitlines()[0])


@admin_app.command("create")
def admin_create(
    username: str = typer.Argument(..., help="The new user's name"),
    role: str = typer.Option("admin", help="admin, user or viewer"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin"),
) -> None:
    """Create a user (the first admin) directly in the gateway's database (OMB_DATABASE_URL, or the
    stack `ombudsman up` started)."""
    if role not in ("admin", "user", "viewer"):
        raise fail("--role must be admin, user or viewer")
    try:
        from ombudsman.gateway.admin import create_user
        from ombudsman.gateway.settings import GatewaySettings
    except ModuleNotFoundError:
        raise fail("the gateway package (ombudsman-gateway) is not installed here") from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    env: dict[str, Any] = {}
    if not os.environ.get("OMB_DATABASE_URL"):
        state = Path(os.environ.get("OMB_HOME", ".ombudsman")) / "stack.json"
        stack = json.loads(state.read_text()) if state.exists() else {}
        if not stack.get("database_url"):
            raise fail("set OMB_DATABASE_URL or start the stack with `ombudsman up`")
        env = {"database_url": stack["database_url"], "nats_url": stack.get("nats_url") or "nats://127.0.0.1:4222"}
    from ombudsman.contracts.replies import OmbudsmanError

    try:
        user = asyncio.run(create_user(username, password, role, GatewaySettings(**env)))  # type: ignore[arg-type]
    except (OmbudsmanError, ValueError) as exc:
        raise fail(_readable(exc)) from None
    console.print(f"Created {user['role']} [bold]{escape(str(user['username']))}[/] ({user['id']}).")

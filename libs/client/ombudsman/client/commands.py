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
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ombudsman.client import config
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

console = Console()
err = Console(stderr=True)
T = TypeVar("T")
ServerOpt = typer.Option(None, "--server", "-s", envvar="OMB_SERVER", help="Gateway URL (default: saved, or http://127.0.0.1:8800)")
JsonOpt = typer.Option(False, "--json", help="Print JSON")
_STATUS_STYLE = {"passed": "green", "failed": "red", "error": "bold red", "warning": "yellow", "skipped": "dim",
                 "completed": "green", "running": "cyan", "queued": "dim", "cancelled": "yellow"}


def _client(server: str | None) -> OmbudsmanClient:
    tokens = config.load_tokens()
    url = config.server_url(server)
    same = tokens.get("server") == url
    return OmbudsmanClient(url, tokens.get("access_token") if same else None,
                           refresh_token=tokens.get("refresh_token") if same else None)


def _call(client: OmbudsmanClient, fn: Callable[[], T]) -> T:
    """Run `fn`; on an expired access token refresh once and retry; API errors end the command."""
    try:
        try:
            return fn()
        except ApiError as exc:
            if exc.status != 401 or not client.refresh_token:
                raise
            pair = client.refresh()
            config.save_tokens({"server": client.base_url, "access_token": pair.access_token,
                                "refresh_token": pair.refresh_token, "username": pair.user.username})
            return fn()
    except ApiError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}")
        for field in (exc.details or {}).get("fields", []) or []:
            err.print(f"  - {escape(str(field.get('field')))}: {escape(str(field.get('message')))}")
        if exc.status == 401:
            err.print("  (log in with `ombudsman login`)")
        raise typer.Exit(2 if 400 <= exc.status < 500 else 1) from None


def _print(data: Any, as_json: bool = True) -> None:
    if as_json:
        console.print_json(json.dumps(data, default=str))


def _table(rows: list[dict[str, Any]], columns: list[str], title: str | None = None) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            text = escape("" if value is None else str(value))
            style = _STATUS_STYLE.get(str(value)) if column == "status" else None
            cells.append(f"[{style}]{text}[/]" if style else text)
        table.add_row(*cells)
    console.print(table)


# --- auth --------------------------------------------------------------------------------------


@app.command()
def login(
    username: str = typer.Option(..., "--username", "-u", prompt=True),
    password: str = typer.Option(..., "--password", "-p", prompt=True, hide_input=True, envvar="OMB_PASSWORD"),
    server: str | None = ServerOpt,
) -> None:
    """Log in to a gateway; the tokens are saved (0600) under ~/.config/ombudsman/."""
    client = OmbudsmanClient(config.server_url(server))
    pair = _call(client, lambda: client.login(username, password))
    config.save_config({**config.load_config(), "server": client.base_url})
    config.save_tokens({"server": client.base_url, "access_token": pair.access_token,
                        "refresh_token": pair.refresh_token, "username": pair.user.username})
    console.print(f"Logged in to {client.base_url} as [bold]{escape(pair.user.username)}[/] ({pair.user.role}).")


@app.command()
def logout(server: str | None = ServerOpt) -> None:
    """Revoke the saved tokens and forget them."""
    client = _client(server)
    if client.token:
        try:
            client.logout()
        except ApiError as exc:
            err.print(f"[yellow]warning:[/] {escape(exc.message)}")
    config.clear_tokens()
    console.print("Logged out.")


@app.command()
def whoami(server: str | None = ServerOpt) -> None:
    """The user the saved token belongs to."""
    client = _client(server)
    user = _call(client, client.me)
    console.print(f"{escape(user.username)} ({user.role}) on {client.base_url}")


# --- projects ----------------------------------------------------------------------------------


@projects_app.command("list")
def projects_list(q: str | None = typer.Option(None, help="Text search"), offset: int = 0, limit: int = 50,
                  server: str | None = ServerOpt, as_json: bool = JsonOpt) -> None:
    """Projects you belong to."""
    client = _client(server)
    page = _call(client, lambda: client.list_projects(offset=offset, limit=limit, q=q))
    if as_json:
        _print(page.model_dump())
        return
    _table(page.items, ["id", "name", "description"], title=f"{page.total} project(s)")


@projects_app.command("create")
def projects_create(project_id: str, name: str = typer.Option(..., "--name"), description: str = "",
                    server: str | None = ServerOpt) -> None:
    """Create a project (you become its member)."""
    client = _client(server)
    project = _call(client, lambda: client.create_project(project_id, name, description=description))
    console.print(f"Created project [bold]{escape(project.get('id', project_id))}[/].")


@projects_app.command("show")
def projects_show(project_id: str, server: str | None = ServerOpt) -> None:
    """A project with its connections, pipelines and members."""
    client = _client(server)
    _print(_call(client, lambda: client.get_project(project_id)))


@projects_app.command("delete")
def projects_delete(project_id: str, yes: bool = typer.Option(False, "--yes", "-y"), server: str | None = ServerOpt) -> None:
    """Delete a project."""
    if not yes:
        typer.confirm(f"Delete project {project_id}?", abort=True)
    client = _client(server)
    _call(client, lambda: client.delete_project(project_id))
    console.print(f"Deleted project {escape(project_id)}.")


@projects_app.command("add-member")
def projects_add_member(project_id: str, user_id: str, server: str | None = ServerOpt) -> None:
    """Add a user (by id) to a project."""
    client = _client(server)
    _call(client, lambda: client.add_member(project_id, user_id))
    console.print(f"Added {escape(user_id)} to {escape(project_id)}.")


# --- connections -------------------------------------------------------------------------------


@connections_app.command("list")
def connections_list(project_id: str, server: str | None = ServerOpt, as_json: bool = JsonOpt) -> None:
    """A project's connections (secrets masked)."""
    client = _client(server)
    items = _call(client, lambda: client.connections(project_id))
    items = items.get("items", items) if isinstance(items, dict) else items
    if as_json:
        _print(items)
        return
    _table(items or [], ["name", "kind", "role", "url_masked"])


@connections_app.command("add")
def connections_add(
    project_id: str, name: str,
    url: str = typer.Option(..., "--url", envvar="OMB_CONNECTION_URL",
                            help="Connection URL (or set OMB_CONNECTION_URL to keep the secret out of shell history)"),
    role: str = typer.Option("other", help="source, target or other"),
    server: str | None = ServerOpt,
) -> None:
    """Add a connection; its secret is encrypted by the projects service and never shown again."""
    client = _client(server)
    added = _call(client, lambda: client.add_connection(project_id, name, url, role=role))
    console.print(f"Added connection {escape(name)}: {escape(str((added or {}).get('url_masked', '')))}")


@connections_app.command("remove")
def connections_remove(project_id: str, name: str, server: str | None = ServerOpt) -> None:
    client = _client(server)
    _call(client, lambda: client.remove_connection(project_id, name))
    console.print(f"Removed connection {escape(name)}.")


@connections_app.command("test")
def connections_test(project_id: str, name: str, server: str | None = ServerOpt) -> None:
    """Connect and report the server version and latency."""
    client = _client(server)
    result = _call(client, lambda: client.test_connection(project_id, name))
    _print(result)
    if isinstance(result, dict) and result.get("ok") is False:
        raise typer.Exit(1)


@connections_app.command("pool")
def connections_pool(project_id: str, name: str, server: str | None = ServerOpt, as_json: bool = JsonOpt) -> None:
    """The connection's pools on the step workers: connections open, in use and idle per worker."""
    client = _client(server)
    found = _call(client, lambda: client.connection_pool(project_id, name))
    if as_json:
        _print(found)
        return
    totals = found.get("totals", {})
    _table(found.get("pools") or [], ["worker", "pool_size", "open", "in_use", "idle", "steps_served", "idle_seconds"],
           title=f"{escape(name)}: {totals.get('open', 0)} open, {totals.get('in_use', 0)} in use on "
                 f"{totals.get('workers', 0)} of {found.get('workers_answering', 0)} workers")


# --- automation, runs, watch -------------------------------------------------------------------


def _phase_line(phase: dict[str, Any]) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in (phase.get("counts") or {}).items())
    return f"{counts}  ({float(phase.get('seconds') or 0):.1f} s)"


@app.command()
def automate(project_id: str, threshold: float | None = typer.Option(None, help="Auto-approve mappings at or above"),
             extract: bool = typer.Option(True, "--extract/--no-extract",
                                          help="--no-extract: use the catalogs already extracted or uploaded"),
             wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the job (--no-wait: print its id)"),
             server: str | None = ServerOpt) -> None:
    """Extract both catalogs, map tables, and generate pipelines for a project: a background job
    followed with a progress bar per phase, then its summary (exit 1 when the job fails)."""
    client = _client(server)
    options = {} if extract else {"extract": False}
    started = _call(client, lambda: client.automate(project_id, threshold, wait=False, **options))
    if not wait:
        _print(started)
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
    _print(job.get("summary"))


@app.command("remote-run")
def remote_run(
    pipeline: str = typer.Argument(..., help="A saved pipeline id (with --project) or a pipeline YAML file"),
    project: str | None = typer.Option(None, "--project", "-p"),
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


@app.command()
def watch(run_id: str, server: str | None = ServerOpt) -> None:
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
            err.print(f"[bold red]error:[/] {escape(ref)}: write pipelines as PROJECT/PIPELINE_ID")
            raise typer.Exit(2)
        project_id, pipeline_id = ref.split("/", 1)
        out.append({"project_id": project_id, "pipeline_id": pipeline_id})
    return out


@batch_app.command("create")
def batch_create(name: str, pipelines: list[str] = typer.Argument(..., help="PROJECT/PIPELINE_ID ..."),
                 max_parallel: int = 4, stop_on_error: bool = False, sequential: bool = False,
                 execute: bool = typer.Option(False, "--execute", help="Start it right away"),
                 server: str | None = ServerOpt) -> None:
    """Create a batch of pipeline runs."""
    client = _client(server)
    refs = _pipeline_refs(pipelines)
    batch = _call(client, lambda: client.create_batch(name, refs, max_parallel, not stop_on_error, sequential))
    batch_id = str(batch.get("batch_id"))
    console.print(f"Created batch [bold]{escape(batch_id)}[/].")
    if execute:
        _call(client, lambda: client.execute_batch(batch_id))
        console.print("Started.")


@batch_app.command("list")
def batch_list(offset: int = 0, limit: int = 50, server: str | None = ServerOpt, as_json: bool = JsonOpt) -> None:
    client = _client(server)
    page = _call(client, lambda: client.batches(offset, limit))
    if as_json:
        _print(page.model_dump())
        return
    _table(page.items, ["batch_id", "name", "status"], title=f"{page.total} batch(es)")


@batch_app.command("status")
def batch_status(batch_id: str, server: str | None = ServerOpt) -> None:
    client = _client(server)
    _print(_call(client, lambda: client.batch(batch_id)))


@batch_app.command("execute")
def batch_execute(batch_id: str, server: str | None = ServerOpt) -> None:
    client = _client(server)
    _print(_call(client, lambda: client.execute_batch(batch_id)))


@batch_app.command("cancel")
def batch_cancel(batch_id: str, server: str | None = ServerOpt) -> None:
    client = _client(server)
    _print(_call(client, lambda: client.cancel_batch(batch_id)))


@batch_app.command("retry")
def batch_retry(batch_id: str, server: str | None = ServerOpt) -> None:
    client = _client(server)
    _print(_call(client, lambda: client.retry_batch(batch_id)))


@batch_app.command("delete")
def batch_delete(batch_id: str, server: str | None = ServerOpt) -> None:
    client = _client(server)
    _call(client, lambda: client.delete_batch(batch_id))
    console.print(f"Deleted batch {escape(batch_id)}.")


# --- results -----------------------------------------------------------------------------------


@results_app.command("runs")
def results_runs(project_id: str, status: str | None = None, offset: int = 0, limit: int = 50,
                 server: str | None = ServerOpt, as_json: bool = JsonOpt) -> None:
    """A project's runs, newest first."""
    client = _client(server)
    page = _call(client, lambda: client.runs(project_id, offset=offset, limit=limit, status=status))
    if as_json:
        _print(page.model_dump())
        return
    _table(page.items, ["run_id", "pipeline_name", "status", "queued_at"], title=f"{page.total} run(s)")


@results_app.command("show")
def results_show(run_id: str, output_format: str = typer.Option("table", "--format", "-f", help="table or json"),
                 server: str | None = ServerOpt) -> None:
    """A run's steps and their results."""
    client = _client(server)
    run = _call(client, lambda: client.run(run_id))
    steps = _call(client, lambda: client.steps(run_id))
    steps = steps.get("items", steps) if isinstance(steps, dict) else steps
    if output_format == "json":
        _print({"run": run, "steps": steps})
        return
    console.print(f"Run {escape(run_id)}: {escape(str(run.get('status')))}")
    _table(steps or [], ["step", "validator", "status", "message"])


@results_app.command("export")
def results_export(run_id: str,
                   output_format: str = typer.Option("json", "--format", "-f", help="json, csv, xlsx, pdf, junit, html"),
                   output: Path | None = typer.Option(None, "--output", "-o", help="File to write (default: the server's name)"),
                   server: str | None = ServerOpt) -> None:
    """Download a run's report."""
    allowed = ("json", "csv", "xlsx", "excel", "pdf", "junit", "html")
    if output_format not in allowed:
        err.print(f"[bold red]error:[/] --format must be one of {', '.join(allowed)}")
        raise typer.Exit(2)
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
def audit_logs(project: str | None = typer.Option(None, "--project"), actor: str | None = None,
               stream_type: str | None = None, since: str | None = None, offset: int = 0, limit: int = 50,
               server: str | None = ServerOpt, as_json: bool = JsonOpt) -> None:
    """Audit log entries (admins see everything; others one project at a time)."""
    client = _client(server)
    page = _call(client, lambda: client.audit_logs(offset, limit, project_id=project, actor=actor,
                                                  stream_type=stream_type, since=since))
    if as_json:
        _print(page.model_dump())
        return
    _table(page.items, ["position", "occurred_at", "event_type", "stream_id", "actor_name"], title=f"{page.total} entries")


@audit_app.command("verify")
def audit_verify(file: Path | None = typer.Argument(None, help="an export (.jsonl/.csv) or archive segment to "
                                                               "verify offline, with no server"),
                 public_key: str | None = typer.Option(None, "--public-key", envvar="OMB_AUDIT_PUBLIC_KEY",
                                                       help="the key archive segments must be signed with"),
                 server: str | None = ServerOpt) -> None:
    """Recompute the hash chain of the live log (or, given FILE, of an export offline); exit 1 if broken."""
    if file is not None:
        from ombudsman.client.audit_verify import print_report, verify_file

        report_offline = verify_file(file, public_key=public_key)
        print_report(file, report_offline, as_json=False, public_key=public_key)
        raise typer.Exit(0 if report_offline.ok else 1)
    client = _client(server)
    report = _call(client, client.audit_verify)
    _print(report)
    if isinstance(report, dict) and report.get("ok") is False:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(output: Path = typer.Option(Path("audit.jsonl"), "--output", "-o"),
                 output_format: str = typer.Option("jsonl", "--format", "-f", help="jsonl or csv"),
                 server: str | None = ServerOpt) -> None:
    if output_format not in ("jsonl", "csv"):
        err.print("[bold red]error:[/] --format must be jsonl or csv")
        raise typer.Exit(2)
    client = _client(server)
    exported = _call(client, lambda: client.audit_export(output_format))  # type: ignore[arg-type]
    output.write_bytes(exported.content)
    console.print(f"Wrote {escape(str(output))} ({len(exported.content)} bytes).")


# --- admin -------------------------------------------------------------------------------------


@admin_app.command("create")
def admin_create(
    username: str,
    role: str = typer.Option("admin", help="admin, user or viewer"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin"),
) -> None:
    """Create a user (the first admin) directly in the gateway's database (OMB_DATABASE_URL, or the
    stack `ombudsman up` started)."""
    if role not in ("admin", "user", "viewer"):
        err.print("[bold red]error:[/] --role must be admin, user or viewer")
        raise typer.Exit(2)
    try:
        from ombudsman.gateway.admin import create_user
        from ombudsman.gateway.settings import GatewaySettings
    except ModuleNotFoundError:
        err.print("[bold red]error:[/] the gateway package (ombudsman-gateway) is not installed here")
        raise typer.Exit(2) from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    env: dict[str, Any] = {}
    if not os.environ.get("OMB_DATABASE_URL"):
        stack = json.loads((Path(os.environ.get("OMB_HOME", ".ombudsman")) / "stack.json").read_text()) \
            if (Path(os.environ.get("OMB_HOME", ".ombudsman")) / "stack.json").exists() else {}
        if not stack.get("database_url"):
            err.print("[bold red]error:[/] set OMB_DATABASE_URL or start the stack with `ombudsman up`")
            raise typer.Exit(2)
        env = {"database_url": stack["database_url"], "nats_url": stack.get("nats_url") or "nats://127.0.0.1:4222"}
    from ombudsman.contracts.replies import OmbudsmanError

    try:
        user = asyncio.run(create_user(username, password, role, GatewaySettings(**env)))  # type: ignore[arg-type]
    except (OmbudsmanError, ValueError) as exc:
        message = getattr(exc, "message", None) or str(exc).splitlines()[0]
        err.print(f"[bold red]error:[/] {escape(str(message))}")
        raise typer.Exit(2) from None
    console.print(f"Created {user['role']} [bold]{escape(str(user['username']))}[/] ({user['id']}).")

"""`ombudsman demo`: the main job end to end on the embedded default.

A bundled sample migration (a small sales warehouse in PostgreSQL as the source, in a PostgreSQL of its own
under OMB_HOME/demo, never the platform's; its copy in DuckDB with a handful of real defects as the target,
under OMB_HOME/demo, which the launcher puts in OMB_FILE_ROOTS) -> the stack (`ombudsman up --detach`, reused if
running) -> an admin user -> a project with both connections -> `automate` (catalogs, mappings,
relationships, classification, pipelines) -> a batch run with live progress -> a results table,
the project's events from the audit log, and the run's URL on the gateway.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ombudsman.client.sdk import ApiError, OmbudsmanClient

app = typer.Typer(add_completion=False)
console = Console()

PROJECT = "demo-sales"
SCHEMA = "sales"
SOURCE_DB = "omb_demo_source"
ADMIN = "demo-admin"


async def load_source(server_url: str) -> str:
    """(Re)create the source warehouse in PostgreSQL; its URL."""
    import asyncpg

    from ombudsman.engine.pipeline.sample import TABLE_ORDER, source_data
    from ombudsman.eventstore.db import asyncpg_dsn

    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{SOURCE_DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{SOURCE_DB}"')
    finally:
        await admin.close()
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(server_url)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{SOURCE_DB}", parts.query, ""))
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(f"CREATE SCHEMA {SCHEMA}")
        data = source_data()
        for name in TABLE_ORDER:
            table = data[name]
            await conn.execute(table.ddl(f"{SCHEMA}.{name}"))
            await conn.copy_records_to_table(name, schema_name=SCHEMA, records=table.rows, columns=table.names)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return url


def source_server(home: Path) -> str:
    """A PostgreSQL of its own for the sample source (the platform's database may not be validated:
    connections pointing at it are refused), kept running in OMB_HOME/demo/pgdata; its server URL."""
    from ombudsman.eventstore.embedded import EmbeddedPostgres
    from ombudsman.eventstore.launcher import DEMO_PGDATA

    return EmbeddedPostgres.start(home / DEMO_PGDATA, keep_running=True).uri("postgres")


def write_target(path: Path) -> str:
    """The migrated copy, with its defects, as a DuckDB file; its (read-only) URL."""
    from ombudsman.engine.pipeline.sample import target_data, write_duckdb

    write_duckdb(path, target_data(), schema=SCHEMA)
    return f"duckdb:///{path}?read_only=true"


def ensure_stack() -> Any:
    from ombudsman.eventstore.launcher import Stack, _alive, home_dir, start_stack

    stack = Stack.load(home_dir())
    if stack and stack.processes and all(_alive(pid) for pid in stack.processes.values()):
        console.print(f"Using the running stack at {stack.gateway_url}")
        return stack
    console.print("Starting the embedded stack (NATS, PostgreSQL, services, gateway) ...")
    return start_stack(detach=True)


def admin_client(stack: Any) -> OmbudsmanClient:
    """A client logged in as the demo admin (created on first use; password kept in OMB_HOME)."""
    from ombudsman.gateway.admin import create_user

    secret_file = Path(stack.home) / "demo-admin.password"
    if not secret_file.exists():
        password = secrets.token_urlsafe(16)
        os.environ["OMB_DATABASE_URL"] = stack.database_url
        os.environ["OMB_NATS_URL"] = stack.nats_url
        asyncio.run(create_user(ADMIN, password, "admin"))
        secret_file.write_text(password)
        secret_file.chmod(0o600)
    client = OmbudsmanClient(stack.gateway_url, timeout=300)
    client.login(ADMIN, secret_file.read_text().strip())
    return client


def setup_project(client: OmbudsmanClient, source_url: str, target_url: str) -> None:
    try:
        client.get_project(PROJECT)
        console.print(f"Project [bold]{PROJECT}[/] exists: reusing it")
        return
    except ApiError as exc:
        if exc.status != 404:
            raise
    client.create_project(PROJECT, "Sales warehouse migration (demo)", description="PostgreSQL -> DuckDB sample",
                          source_schemas=[SCHEMA], target_schemas=[SCHEMA])
    client.add_connection(PROJECT, "source", source_url, role="source")
    client.add_connection(PROJECT, "target", target_url, role="target")
    client.set_schema_mapping(PROJECT, SCHEMA, SCHEMA)
    for name in ("source", "target"):
        result = client.test_connection(PROJECT, name)
        console.print(f"  connection {name}: {'ok' if result.get('ok') else 'FAILED'} "
                      f"{result.get('server_version') or result.get('error') or ''}")


def run_batch(client: OmbudsmanClient, pipeline_ids: list[str]) -> dict[str, Any]:
    batch = client.create_batch("demo batch", [{"project_id": PROJECT, "pipeline_id": p} for p in pipeline_ids],
                                max_parallel=4)
    batch_id = batch["batch_id"] if "batch_id" in batch else batch["id"]
    client.execute_batch(batch_id)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("pipelines", total=len(pipeline_ids))
        deadline = time.monotonic() + 600
        while True:
            status = client.batch(batch_id)
            done = int(status.get("completed", 0)) + int(status.get("failed", 0))
            progress.update(task, completed=done, description=f"batch {status.get('status', '?')}")
            if status.get("status") in ("completed", "failed", "cancelled") or time.monotonic() > deadline:
                return status
            time.sleep(0.5)


def show_results(client: OmbudsmanClient, batch: dict[str, Any]) -> list[str]:
    runs = [r for r in client.runs(project_id=PROJECT, limit=200).items if r.get("batch_id") == batch["batch_id"]]
    run_ids = [r["run_id"] for r in sorted(runs, key=lambda r: r.get("pipeline_id") or "")]
    table = Table(title="Validation results")
    for column in ("pipeline", "step", "validator", "status", "message"):
        table.add_column(column)
    colours = {"passed": "green", "failed": "red", "error": "red", "warning": "yellow", "skipped": "dim"}
    for run_id in run_ids:
        run = client.run(run_id)
        steps = client.steps(run_id)
        for step in steps.get("items", []) if isinstance(steps, dict) else steps:
            status = step.get("status") or step.get("state") or "?"
            table.add_row(run.get("pipeline_name") or run.get("pipeline_id") or run_id, step.get("step", ""),
                          step.get("validator", ""), f"[{colours.get(status, 'white')}]{status}[/]",
                          (step.get("message") or "")[:90])
    console.print(table)
    return run_ids


@app.command()
def demo() -> None:
    """Run the sample migration end to end on the embedded stack and show what Ombudsman finds."""
    stack = ensure_stack()
    console.print("Loading the sample source warehouse into PostgreSQL and its migrated copy into DuckDB ...")
    source_url = asyncio.run(load_source(source_server(Path(stack.home))))
    target_url = write_target(Path(stack.home) / "demo" / "target.duckdb")
    with admin_client(stack) as client:
        setup_project(client, source_url, target_url)
        console.print("Automating: catalogs, mapping suggestions, relationships, classification, pipelines ...")
        job = client.automate(PROJECT, wait=True)  # a background job: wait for it to end
        if job["status"] != "completed":
            console.print(f"[bold red]automate failed[/] in phase {job.get('failed_phase')}: {job.get('error')}")
            raise typer.Exit(1)
        automated = job["summary"]
        pipeline_ids = list(automated.get("pipeline_ids") or [p["pipeline_id"] for p in client.pipelines(PROJECT)["items"]])
        console.print(f"  {len(pipeline_ids)} pipelines generated: {', '.join(pipeline_ids)}")
        batch = run_batch(client, pipeline_ids)
        run_ids = show_results(client, batch)
        events = client.audit_logs(project_id=PROJECT, limit=500)
        table = Table(title=f"Audit log of project {PROJECT} ({events.total} events)")
        for column in ("#", "when", "event", "actor"):
            table.add_column(column)
        for row in events.items[:20]:
            table.add_row(str(row["position"]), row["occurred_at"][:19], row["event_type"], row["actor"]["name"] or "")
        if events.total > 20:
            table.add_row("…", "", f"{events.total - 20} more", "")
        console.print(table)
        by_action = client.audit_stats(project_id=PROJECT).get("by_action", {})
        console.print("Events by type: " + ", ".join(f"{k} {v}" for k, v in sorted(by_action.items())))
        verified = client.audit_verify()
        console.print(f"Audit chain verified: {verified.get('ok')} ({verified.get('checked')} rows)")
        for run_id in run_ids[:3]:
            console.print(f"Run: {stack.gateway_url}/api/v1/runs/{run_id}")
        console.print(f"API docs: {stack.gateway_url}/docs   Stop the stack: ombudsman down")
    if batch.get("status") not in ("completed", "failed"):
        raise typer.Exit(1)

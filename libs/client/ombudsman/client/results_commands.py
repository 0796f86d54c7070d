"""`ombudsman discrepancies …`, `ombudsman schedule …` and `ombudsman results compare`: acting on results.

    ombudsman results compare RUN_ID --baseline RUN_ID [--strict] [--force]   # exit 1 when a step got worse
    ombudsman results explain RUN_ID STEP        # a failed step in plain words, from the language model
    ombudsman discrepancies list sales [--run RUN_ID]
    ombudsman discrepancies accept sales DISCREPANCY_ID --note "3 test rows purged on purpose"
    ombudsman schedule add sales PIPELINE_ID --cron "0 2 * * *"
"""

from __future__ import annotations

import typer
from rich.markup import escape

from ombudsman.client.commands import (
    JsonOpt,
    ProjectArg,
    ServerOpt,
    _call,
    _client,
    _fmt,
    _table,
    console,
    results_app,
)
from ombudsman.client.output import FormatOpt, OutputFormat, emit

app = typer.Typer(add_completion=False)
discrepancies_app = typer.Typer(no_args_is_help=True, help="Differences found by runs: accept as known, or resolve.")
schedule_app = typer.Typer(no_args_is_help=True, help="Saved pipelines run on a cron schedule (UTC).")
app.add_typer(discrepancies_app, name="discrepancies")
app.add_typer(schedule_app, name="schedule")


@results_app.command("compare")
def results_compare(run_id: str = typer.Argument(..., help="the run to judge"),
                    baseline: str = typer.Option(..., "--baseline", "-b", help="the baseline run (the last good one)"),
                    strict: bool = typer.Option(False, "--strict", help="also fail (exit 1) when a step of the "
                                                "baseline is missing from the run"),
                    force: bool = typer.Option(False, "--force", help="compare runs of different pipelines "
                                               "(refused with exit 2 otherwise)"),
                    server: str | None = ServerOpt, output: OutputFormat = FormatOpt, as_json: bool = JsonOpt) -> None:
    """A CI gate: exit 1 when a step got worse (a newly failing step counts), or with --strict when a
    step was removed; exit 2 for runs of different pipelines unless --force; else 0."""
    client = _client(server)
    found = _call(client, lambda: client.compare_runs(run_id, baseline, force=force))
    worse, removed = found.get("worse") or [], found.get("removed") or []

    def render() -> None:
        delta = found.get("score_delta")
        console.print(f"Score {found.get('baseline_score')} -> {found.get('score')}"
                      + (f" ({delta:+})" if isinstance(delta, int | float) else ""))
        if not found.get("same_pipeline", True):
            console.print(f"[yellow]Forced: pipeline {escape(str(found.get('pipeline')))} against "
                          f"{escape(str(found.get('baseline_pipeline')))}[/]")
        rows = [{**item, "change": change} for change in ("worse", "removed", "added", "better")
                for item in found.get(change) or []]
        console.print(f"{len(worse)} worse, {len(found.get('better') or [])} better, "
                      f"{len(found.get('same') or [])} unchanged; {len(removed)} removed, "
                      f"{len(found.get('added') or [])} added")
        if rows:
            _table(rows, ["change", "step", "baseline", "current"])

    emit(found, _fmt(output, as_json), render)
    if worse or (strict and removed):
        raise typer.Exit(1)


@results_app.command("explain")
def results_explain(run_id: str = typer.Argument(..., help="the run"),
                    step: str = typer.Argument(..., help="its failed step's id"),
                    server: str | None = ServerOpt, output: OutputFormat = FormatOpt, as_json: bool = JsonOpt) -> None:
    """A failed step explained in plain words by the server's language model (told its names and
    counts, never its values); exit 2 when no model is configured or the step did not fail."""
    client = _client(server)
    found = _call(client, lambda: client.explain_step(run_id, step))

    def render() -> None:
        console.print(f"[bold]{escape(step)}[/] (suggested by model {escape(str(found.get('model')))}):")
        console.print(escape(str(found.get("explanation") or "")))

    emit(found, _fmt(output, as_json), render)


@discrepancies_app.command("list")
def discrepancies_list(project_id: str = ProjectArg, run: str | None = typer.Option(None, "--run", help="one run's only"),
                       server: str | None = ServerOpt, output: OutputFormat = FormatOpt, as_json: bool = JsonOpt) -> None:
    """A project's discrepancies, newest first."""
    client = _client(server)
    found = _call(client, lambda: client.discrepancies(project_id, run))
    emit(found, _fmt(output, as_json), lambda: _table(
        found or [], ["discrepancy_id", "step", "type", "severity", "table_name", "status", "occurrences", "last_seen", "message"],
        title=f"{len(found or [])} discrepancies"))


def _decide(action: str, project_id: str, discrepancy_id: str, note: str, server: str | None) -> None:
    client = _client(server)
    decide = client.accept_discrepancy if action == "accept" else client.resolve_discrepancy
    decided = _call(client, lambda: decide(project_id, discrepancy_id, note))
    console.print(f"Discrepancy {escape(discrepancy_id)}: {escape(str(decided.get('status')))}.")


@discrepancies_app.command("accept")
def discrepancies_accept(project_id: str = ProjectArg,
                         discrepancy_id: str = typer.Argument(..., help="The discrepancy's id (see `discrepancies list`)"),
                         note: str = typer.Option(..., "--note", help="why this difference is expected"),
                         server: str | None = ServerOpt) -> None:
    """Accept a discrepancy as a known difference: later runs no longer fail on it."""
    _decide("accept", project_id, discrepancy_id, note, server)


@discrepancies_app.command("resolve")
def discrepancies_resolve(project_id: str = ProjectArg,
                          discrepancy_id: str = typer.Argument(..., help="The discrepancy's id (see `discrepancies list`)"),
                          note: str = typer.Option("", "--note", help="How it was fixed"),
                          server: str | None = ServerOpt) -> None:
    """Mark a discrepancy resolved (the data was fixed)."""
    _decide("resolve", project_id, discrepancy_id, note, server)


@schedule_app.command("add")
def schedule_add(project_id: str = ProjectArg, pipeline_id: str = typer.Argument(..., help="The saved pipeline's id"),
                 cron: str = typer.Option(..., "--cron", help='five fields, UTC, e.g. "0 2 * * *"'),
                 server: str | None = ServerOpt) -> None:
    """Run a saved pipeline on a cron schedule (fires once per instant, also across restarts)."""
    client = _client(server)
    made = _call(client, lambda: client.schedule_pipeline(project_id, pipeline_id, cron))
    console.print(f"Scheduled {escape(pipeline_id)} at {escape(cron)}: schedule {escape(str(made.get('schedule_id')))}.")


@schedule_app.command("list")
def schedule_list(project_id: str = ProjectArg, server: str | None = ServerOpt, output: OutputFormat = FormatOpt,
                  as_json: bool = JsonOpt) -> None:
    """A project's schedules: which pipeline, when (cron, UTC), how often it fired and last when."""
    client = _client(server)
    found = _call(client, lambda: client.schedules(project_id))
    emit(found, _fmt(output, as_json), lambda: _table(
        found or [], ["schedule_id", "pipeline_id", "cron", "fired", "last_instant"],
        title=f"{len(found or [])} schedule(s)"))


@schedule_app.command("remove")
def schedule_remove(project_id: str = ProjectArg,
                    schedule_id: str = typer.Argument(..., help="The schedule's id (see `schedule list`)"),
                    server: str | None = ServerOpt) -> None:
    """Stop a schedule (runs it started are kept)."""
    client = _client(server)
    _call(client, lambda: client.delete_schedule(project_id, schedule_id))
    console.print(f"Removed schedule {escape(schedule_id)}.")

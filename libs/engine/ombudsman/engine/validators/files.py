"""`file_checks`: the checks of `ombudsman files validate` as a pipeline step, so they run on the
executor's workers like any step and their findings are recorded, exported and shown as for tables.

The step's source (or `side`) is a file connection (`file:///…/config.yaml`, connectors.files); the
checks (files present, rows per file and period, bad lines, missing days, duplicate keys, anomalies)
run in their own capped DuckDB over the config's files (engine.files.checks). A missing file, a bad
line, a missing day… is a failed step whose message names the first finding; bad lines are the step's
sample (file, line, column, value) and every check's figures are in `details.checks`, lists capped
at `report` entries while the totals count everything.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ombudsman.contracts.replies import Invalid
from ombudsman.contracts.results import StepResult
from ombudsman.engine.validators.base import (
    ValidationContext,
    ValidationInputError,
    Validator,
    ValidatorParams,
    jsonable,
    register,
)

CHECKS = ("files_present", "row_counts", "conformance", "date_completeness", "duplicates", "anomalies")
_LISTS = ("files", "periods", "lines", "keys", "anomalies", "missing", "outside")
MAX_TEXT = 500  # characters of a bad line's text kept in a result


@register
class FileChecks(Validator):
    name = "file_checks"
    category = "files"
    description = ("The checks of a file config on its files (step source: a file:// connection): files present, "
                   "rows per file and period, bad lines (file, line, column, value), missing days, duplicate keys "
                   "with their lines, anomalous daily counts.")
    needs_table = False

    class Params(ValidatorParams):
        files: list[str] | None = Field(default=None, description="file families (config `name`s); default: all")
        checks: list[Literal[CHECKS]] | None = Field(  # type: ignore[valid-type]
            default=None, description=f"checks reported; default: all ({', '.join(CHECKS)})")
        side: Literal["source", "target"] = Field(default="source", description="the step's side holding the file connection")
        report: int = Field(default=20, ge=1, le=100, description="findings listed per check (totals count all)")

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        connector = ctx.connector(params.side)
        config = getattr(connector, "file_config", None)
        if config is None:
            raise ValidationInputError(
                f"file_checks reads a file connection (file:///…/config.yaml): the step's {params.side} is a "
                f"{connector.kind} connection")
        names = [spec.name for spec in config.files]
        unknown = [n for n in params.files or [] if n not in names]
        if unknown:
            raise ValidationInputError(f"parameters.files: {', '.join(unknown)} not in the config ({', '.join(names)})")
        specs = [spec for spec in config.files if params.files is None or spec.name in params.files]
        wanted = set(params.checks or CHECKS)
        checks = []
        for spec in specs:
            try:
                found = await _checked(connector, spec, config.base)
            except Invalid as error:
                if (error.details or {}).get("setting") == "OMB_FILE_ROOTS":
                    raise ValidationInputError(error.message) from None
                found = [{"spec": spec.name, "check": "files_readable", "status": "failed", "summary": error.message,
                          "details": {}}]
            checks += [_capped(c, params.report) for c in found if c["check"] in wanted or c["check"] == "files_readable"]
        failed = [c for c in checks if c["status"] != "passed"]
        rows = sum(c["details"].get("rows", 0) for c in checks if c["check"] == "row_counts")
        bad_lines = [line for c in checks if c["check"] == "conformance" for line in c["details"].get("lines", [])]
        sample = [{"file": line["file"], "line": line["line"], "column": column, "value": value, "error": line["message"]}
                  for line in bad_lines for column, value in zip(line["columns"], line.get("values") or [None] * len(line["columns"]),
                                                                 strict=False)]
        if failed:
            first = failed[0]
            more = f" (+{len(failed) - 1} more failed check(s))" if len(failed) > 1 else ""
            message = f"{first['spec']}: {first['check']}: {first['summary']}{more}"
        else:
            message = f"{len(checks)} check(s) passed on {len(specs)} file famil{'y' if len(specs) == 1 else 'ies'}, {rows} rows"
        summary = {c["spec"] + "." + c["check"]: c["status"] for c in checks}
        return ctx.result("failed" if failed else "passed", message, source={"rows": rows, "checks": summary},
                          sample=sample, details={"checks": checks, "files": sorted(names)},
                          affected_columns=sorted({s["column"] for s in sample}))


async def _checked(connector: Any, spec: Any, base: Path) -> list[dict[str, Any]]:
    """Every check of one file family, in a scanner capped as the connection is (its rejects its own);
    a timed-out step interrupts the scan (scan.interruptible) before the scanner is closed."""
    from ombudsman.engine.files.scan import ScanSettings, close_scanner, interruptible, open_scanner

    target = connector.target
    con = await asyncio.to_thread(open_scanner, ScanSettings(memory_limit=target.memory_limit, threads=target.threads))
    try:
        return await interruptible(con, _check_spec, spec, base)
    finally:
        close_scanner(con)


def _check_spec(con: Any, spec: Any, base: Path) -> list[dict[str, Any]]:
    """Every check of one file family on the scanner `con` (in a thread)."""
    from ombudsman.engine.connectors.files import is_platform
    from ombudsman.engine.files.checks import validate_spec

    env = dict(os.environ)
    return [dataclasses.asdict(c) for c in validate_spec(con, spec, base, platform=is_platform(env), env=env)]


def _capped(check: dict[str, Any], report: int) -> dict[str, Any]:
    """A check's details with its lists cut to `report` entries and long line texts shortened."""
    details = dict(check["details"])
    for name in _LISTS:
        if isinstance(details.get(name), list):
            details[name] = details[name][:report]
    for line in details.get("lines", []):
        if isinstance(line, dict) and isinstance(line.get("text"), str):
            line["text"] = line["text"][:MAX_TEXT]
    return jsonable({**check, "details": details})

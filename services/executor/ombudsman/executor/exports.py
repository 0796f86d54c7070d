"""Exports of a run: JSON, CSV, JUnit XML (for CI systems), and the reports (reports.py): PDF,
Excel and HTML. Input: the run detail of the `run` query (and, for the reports, their context)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from xml.etree import ElementTree as ET

from ombudsman.executor import reports

CONTENT_TYPES = {
    "json": ("application/json", "json"),
    "csv": ("text/csv", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "pdf": ("application/pdf", "pdf"),
    "junit": ("application/xml", "xml"),
    "html": ("text/html", "html"),
}


def render(run: dict[str, Any], fmt: str, context: reports.ReportContext | None = None) -> tuple[bytes, str, str]:
    """The export's bytes, content type and file extension."""
    content_type, extension = CONTENT_TYPES[fmt]
    if fmt in ("pdf", "xlsx", "html"):
        report = {"pdf": reports.to_pdf, "xlsx": reports.to_xlsx, "html": reports.to_html}[fmt]
        return report(run, context or reports.ReportContext()), content_type, extension
    renderers = {"json": to_json, "csv": to_csv, "junit": to_junit}
    return renderers[fmt](run), content_type, extension


def to_json(run: dict[str, Any]) -> bytes:
    return json.dumps(run, indent=2, default=str).encode()


def to_csv(run: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run_id", "pipeline", "step", "validator", "table", "status", "severity", "message",
                     "duration_seconds", "match_percentage"])
    for s in run["steps"]:
        result = s.get("result") or {}
        writer.writerow([run["run_id"], run["pipeline_name"], s["step"], s["validator"], s.get("table_name") or "",
                         s.get("status") or "", s.get("severity") or "", s.get("message") or "",
                         s.get("duration_seconds") or "", result.get("match_percentage") or ""])
    return out.getvalue().encode()


def to_junit(run: dict[str, Any]) -> bytes:
    steps = run["steps"]
    suite = ET.Element("testsuite", {
        "name": run["pipeline_name"] or run["run_id"], "tests": str(len(steps)),
        "failures": str(sum(1 for s in steps if s.get("status") == "failed")),
        "errors": str(sum(1 for s in steps if s.get("status") == "error")),
        "skipped": str(sum(1 for s in steps if s.get("status") == "skipped")),
        "time": str(run.get("duration_seconds") or 0),
    })
    for s in steps:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"{run['pipeline_name']}.{s.get('table_name') or 'pipeline'}", "name": s["step"],
            "time": str(s.get("duration_seconds") or 0),
        })
        status, message = s.get("status"), s.get("message") or ""
        if status == "failed":
            ET.SubElement(case, "failure", {"message": message[:500], "type": s["validator"]}).text = message
        elif status == "error":
            ET.SubElement(case, "error", {"message": message[:500], "type": s["validator"]}).text = message
        elif status == "skipped":
            ET.SubElement(case, "skipped", {"message": message[:500]})
        elif status == "warning":
            ET.SubElement(case, "system-out").text = f"warning: {message}"
    suites = ET.Element("testsuites")
    suites.append(suite)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)

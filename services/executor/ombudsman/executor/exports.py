"""Exports of a run: JSON, CSV, Excel (a sheet per step with its sample rows), PDF (summary, steps,
failures first), JUnit XML (for CI systems), HTML. Input: the run detail of the `run` query."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from typing import Any
from xml.etree import ElementTree as ET

FAILING = ("failed", "error")
CONTENT_TYPES = {
    "json": ("application/json", "json"),
    "csv": ("text/csv", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "pdf": ("application/pdf", "pdf"),
    "junit": ("application/xml", "xml"),
    "html": ("text/html", "html"),
}


def render(run: dict[str, Any], fmt: str) -> tuple[bytes, str, str]:
    """The export's bytes, content type and file extension."""
    renderers = {"json": to_json, "csv": to_csv, "xlsx": to_xlsx, "pdf": to_pdf, "junit": to_junit, "html": to_html}
    content_type, extension = CONTENT_TYPES[fmt]
    return renderers[fmt](run), content_type, extension


def _failures_first(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = {"error": 0, "failed": 1, "warning": 2, "skipped": 3, "passed": 4}
    return sorted(steps, key=lambda s: (order.get(s.get("status") or "", 5), s.get("position", 0)))


def _sample(step: dict[str, Any]) -> list[dict[str, Any]]:
    return list((step.get("result") or {}).get("sample") or [])


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


def _sheet_title(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", name)[:28] or "step"
    title, n = base, 1
    while title.lower() in used:
        n += 1
        title = f"{base[:25]}_{n}"
    used.add(title.lower())
    return title


def to_xlsx(run: dict[str, Any]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    summary = book.active
    summary.title = "Summary"
    for key in ("run_id", "pipeline_name", "status", "total_steps", "successful_steps", "failed_steps", "warnings",
                "score", "duration_seconds", "queued_at", "finished_at"):
        summary.append([key, _cell(run.get(key))])
    summary.append([])
    summary.append(["step", "validator", "table", "status", "message"])
    for s in run["steps"]:
        summary.append([s["step"], s["validator"], s.get("table_name"), s.get("status"), s.get("message")])
    used = {"summary"}
    for s in run["steps"]:
        sheet = book.create_sheet(_sheet_title(s["step"], used))
        sheet.append(["status", s.get("status")])
        sheet.append(["message", s.get("message")])
        rows = _sample(s)
        sheet.append([])
        if rows:
            columns = list(dict.fromkeys(k for r in rows for k in r))
            sheet.append(columns)
            for r in rows:
                sheet.append([_cell(r.get(c)) for c in columns])
        else:
            sheet.append(["(no sample rows)"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str | bool):
        return value
    return json.dumps(value, default=str)


def to_pdf(run: dict[str, Any]) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), title=f"Ombudsman run {run['run_id']}")
    story: list[Any] = [
        Paragraph(html.escape(f"Validation run: {run['pipeline_name']}"), styles["Title"]),
        Paragraph(html.escape(
            f"Run {run['run_id']} — status {run['status']}; {run['successful_steps']} of {run['total_steps']} steps "
            f"passed, {run['failed_steps']} failed, {run['warnings']} warnings; quality score {run.get('score')}"),
            styles["Normal"]),
        Spacer(1, 12),
    ]
    data = [["Step", "Validator", "Table", "Status", "Message"]]
    for s in _failures_first(run["steps"]):
        data.append([Paragraph(html.escape(str(v or "")), styles["BodyText"]) for v in
                     (s["step"], s["validator"], s.get("table_name"), s.get("status"), (s.get("message") or "")[:300])])
    table = Table(data, repeatRows=1, colWidths=[110, 90, 120, 55, 400])
    style = [("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
             ("VALIGN", (0, 0), (-1, -1), "TOP")]
    for i, s in enumerate(_failures_first(run["steps"]), start=1):
        if s.get("status") in FAILING:
            style.append(("BACKGROUND", (3, i), (3, i), colors.mistyrose))
    table.setStyle(TableStyle(style))
    story.append(table)
    doc.build(story)
    return out.getvalue()


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


def to_html(run: dict[str, Any]) -> bytes:
    e = html.escape
    rows = "".join(
        f"<tr class='{e(s.get('status') or '')}'><td>{e(s['step'])}</td><td>{e(s['validator'])}</td>"
        f"<td>{e(s.get('table_name') or '')}</td><td>{e(s.get('status') or '')}</td><td>{e(s.get('message') or '')}</td></tr>"
        for s in _failures_first(run["steps"])
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Run {e(run['run_id'])}</title>
<style>body{{font-family:sans-serif}}td,th{{border:1px solid #ccc;padding:4px}}.failed,.error{{background:#fdd}}
.warning{{background:#ffd}}</style></head><body><h1>{e(run['pipeline_name'])}</h1>
<p>Run {e(run['run_id'])}: <b>{e(run['status'])}</b> — {run['successful_steps']}/{run['total_steps']} passed,
{run['failed_steps']} failed, {run['warnings']} warnings, score {run.get('score')}</p>
<table><tr><th>Step</th><th>Validator</th><th>Table</th><th>Status</th><th>Message</th></tr>{rows}</table></body></html>"""
    return page.encode()

"""Reports a lead can hand to an auditor: PDF, Excel and self-contained HTML of one run.

Each has the same content:
- a cover: project, pipeline, source and target (connection names, URLs redacted), run, status,
  when it was queued and finished, who queued it;
- a summary: steps passed, failed, with warnings, errors, skipped, and the quality score; the
  trend of the pipeline's scores over its recent runs (a chart in the PDF and HTML);
- one section per failing step: its validator, table, message, the SQL it ran on each side, its
  figures (source against target) and its sample rows — the differences it found, up to
  `sample_rows`, from the full list the worker sent (else the step's own sample).

Input: the run detail (`run` query, full results) and a `ReportContext` the executor gathers.
Pure: no I/O.
"""

from __future__ import annotations

import html
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

FAILING = ("failed", "error")
STATUSES = ("passed", "failed", "warning", "error", "skipped")
PDF_SAMPLE_ROWS = 25  # a page's worth per step in the PDF; Excel and HTML take `sample_rows`
MAX_COLUMNS = 8  # sample columns shown in the PDF (Excel and HTML show all)
# a difference line's columns in reading order (the store's jsonb keeps its own key order)
DIFFERENCE_COLUMNS = ("kind", "key", "column", "source_value", "target_value", "source_count", "target_count")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # shown as \xNN (separators in the row-hash SQL)
_BREAK_AFTER = re.compile(r"(?<=[\s_./\-,:;=()])")


@dataclass
class ReportContext:
    """What a report says beyond the run detail."""

    project: str | None = None
    source: str = ""
    target: str = ""
    requested_by: str = ""
    trend: list[dict[str, Any]] = field(default_factory=list)  # {run_id, queued_at, score, status}, oldest first
    differences: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # step -> full list (capped)
    differences_total: dict[str, int] = field(default_factory=dict)
    sample_rows: int = 1000


# --- content shared by the three formats ------------------------------------------------------


def cover(run: dict[str, Any], ctx: ReportContext) -> list[tuple[str, str]]:
    """The cover's (label, value) lines."""
    return [
        ("Project", ctx.project or "(inline pipeline)"), ("Pipeline", run.get("pipeline_name") or ""),
        ("Source", ctx.source or "—"), ("Target", ctx.target or "—"), ("Run", run["run_id"]),
        ("Status", run.get("status") or ""), ("Queued", _time(run.get("queued_at"))),
        ("Finished", _time(run.get("finished_at"))), ("Duration", _seconds(run.get("duration_seconds"))),
        ("Requested by", ctx.requested_by or "—"),
    ]


def counts(run: dict[str, Any]) -> dict[str, int]:
    """Steps by status."""
    found = {s: 0 for s in STATUSES}
    for step in run["steps"]:
        status = step.get("status") or "skipped"
        found[status] = found.get(status, 0) + 1
    return found


def failing_steps(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in run["steps"] if s.get("status") in FAILING]


def figures(step: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(figure, source, target) of a step's result, the figures of both sides side by side."""
    result = step.get("result") or {}
    source, target = _flat(result.get("source") or {}), _flat(result.get("target") or {})  # nulls.amount
    return [(name, source.get(name), target.get(name)) for name in dict.fromkeys([*source, *target])]


def sample_rows(step: dict[str, Any], ctx: ReportContext, cap: int | None = None) -> tuple[list[str], list[list[Any]], int]:
    """A step's rows to show: its full difference list when the worker sent one, else its sample;
    flattened to (columns, rows) of plain values; and how many there are in all."""
    limit = ctx.sample_rows if cap is None else min(cap, ctx.sample_rows)
    full = ctx.differences.get(step["step"])
    if full:
        rows = [dict(line) for line in full[:limit]]
        total = ctx.differences_total.get(step["step"], len(full))
    else:
        sample = list((step.get("result") or {}).get("sample") or [])
        rows, total = [_flat(r) for r in sample[:limit]], len(sample)
    found = dict.fromkeys(k for r in rows for k in r)
    columns = [c for c in DIFFERENCE_COLUMNS if c in found] + [c for c in found if c not in DIFFERENCE_COLUMNS]
    return columns, [[_plain(r.get(c)) for c in columns] for r in rows], total


def sql_of(step: dict[str, Any]) -> list[tuple[str, str]]:
    """(side, statement) the step ran."""
    sql = (step.get("result") or {}).get("sql") or {}
    return [(side, _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", statement))
            for side in ("source", "target") for statement in sql.get(side) or []]


def _flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested sample row as `a.b` columns of plain values."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and len(value) <= 12:
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def _time(value: Any) -> str:
    return str(value or "—").replace("T", " ")[:19] + (" UTC" if value else "")


def _seconds(value: Any) -> str:
    return f"{float(value):.1f} s" if isinstance(value, int | float) else "—"


def _score(value: Any) -> str:
    return "—" if value is None else f"{float(value):g}"


# --- PDF -----------------------------------------------------------------------------------


def wrap_words(text: str, width: float, font: str = "Helvetica", size: float = 9) -> str:
    """`text` escaped for a Paragraph, with line breaks only between words (after a space, `_`,
    `.`, `/`, `-`...), so a long step or table name is never cut inside a word; a single word
    wider than the line is the only thing cut."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines: list[str] = []
    line = ""
    for token in _BREAK_AFTER.split(str(text)):
        if not token:
            continue
        if stringWidth(line + token, font, size) <= width or not line:
            line += token
        else:
            lines.append(line)
            line = token
        while stringWidth(line, font, size) > width and len(line) > 1:  # one word longer than the line
            cut = len(line)
            while cut > 1 and stringWidth(line[:cut], font, size) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    return "<br/>".join(html.escape(x.rstrip()) for x in lines)


def trend_drawing(trend: list[dict[str, Any]], width: float = 680, height: float = 170) -> Any:
    """A line chart of the pipeline's scores over its recent runs (reportlab graphics)."""
    from reportlab.graphics.charts.lineplots import LinePlot
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.graphics.widgets.markers import makeMarker
    from reportlab.lib import colors

    drawing = Drawing(width, height)
    points = [(i + 1, float(t["score"])) for i, t in enumerate(trend) if t.get("score") is not None]
    drawing.add(String(0, height - 12, "Quality score of the pipeline's recent runs", fontSize=10))
    if not points:
        drawing.add(String(0, height / 2, "no scored runs yet", fontSize=9))
        return drawing
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 40, 25, width - 60, height - 50
    plot.data = [points]
    plot.lines[0].strokeColor = colors.HexColor("#1f5fa8")
    plot.lines[0].symbol = makeMarker("FilledCircle")
    plot.yValueAxis.valueMin, plot.yValueAxis.valueMax, plot.yValueAxis.valueStep = 0, 100, 25
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = 0.5, max(len(trend), 1) + 0.5
    plot.xValueAxis.valueSteps = [p[0] for p in points]
    plot.xValueAxis.labelTextFormat = lambda v: f"#{int(v)}"
    drawing.add(plot)
    return drawing


def to_pdf(run: dict[str, Any], ctx: ReportContext) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        KeepTogether,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
        XPreformatted,
    )

    styles = getSampleStyleSheet()
    cell = ParagraphStyle("cell", parent=styles["BodyText"], fontName="Helvetica", fontSize=8, leading=10)
    code = ParagraphStyle("code", parent=styles["Code"], fontSize=7.5, leading=9.5, backColor=colors.whitesmoke,
                          borderPadding=4)
    out = io.BytesIO()
    page_width = landscape(A4)[0] - 30 * mm
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=15 * mm, bottomMargin=15 * mm,
                            title=f"Validation report: {run.get('pipeline_name')} ({run['run_id']})",
                            author=ctx.requested_by or "Ombudsman")
    grid = [("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0"))]

    def p(text: Any, width: float, style: Any = cell) -> Any:
        return Paragraph(wrap_words("" if text is None else str(text), width - 8, style.fontName, style.fontSize), style)

    def table(rows: list[list[Any]], widths: list[float], header: bool = True) -> Any:
        t = Table([[p(v, w) for v, w in zip(r, widths, strict=False)] for r in rows], colWidths=widths,
                  repeatRows=1 if header else 0)
        t.setStyle(TableStyle(grid if header else grid[:2]))
        return t

    story: list[Any] = [Spacer(1, 30 * mm), Paragraph("Validation report", styles["Title"]),
                        Paragraph(html.escape(run.get("pipeline_name") or run["run_id"]), styles["Heading2"]),
                        Spacer(1, 10 * mm)]
    story.append(table([[k, v] for k, v in cover(run, ctx)], [45 * mm, page_width - 45 * mm], header=False))
    story += [PageBreak(), Paragraph("Summary", styles["Heading1"])]
    found = counts(run)
    story.append(table([["Steps", *[s.capitalize() for s in STATUSES], "Quality score"],
                        [len(run["steps"]), *[found[s] for s in STATUSES], _score(run.get("score"))]],
                       [page_width / 7] * 7))
    story += [Spacer(1, 6 * mm), trend_drawing(ctx.trend, width=page_width), Spacer(1, 4 * mm),
              Paragraph("Steps", styles["Heading2"])]
    widths = [60 * mm, 35 * mm, 50 * mm, 20 * mm, page_width - 165 * mm]
    order = {"error": 0, "failed": 1, "warning": 2, "skipped": 3, "passed": 4}
    steps = sorted(run["steps"], key=lambda s: (order.get(s.get("status") or "", 5), s.get("position", 0)))
    story.append(table([["Step", "Validator", "Table", "Status", "Message"]] + [
        [s["step"], s.get("validator"), s.get("table_name"), s.get("status"), (s.get("message") or "")[:400]]
        for s in steps], widths))
    for step in failing_steps(run):
        story += [PageBreak(), Paragraph(wrap_words(f"Failing step: {step['step']}", page_width, "Helvetica-Bold", 14),
                                         styles["Heading1"])]
        story.append(table([["Validator", step.get("validator")], ["Table", step.get("table_name") or "—"],
                            ["Status", f"{step.get('status')} ({step.get('severity') or 'critical'})"],
                            ["Message", step.get("message") or ""]], [35 * mm, page_width - 35 * mm], header=False))
        statements = sql_of(step)
        if statements:
            story.append(Paragraph("SQL", styles["Heading3"]))
            for side, statement in statements:
                story.append(KeepTogether([Paragraph(f"{side}:", cell),
                                           XPreformatted(html.escape(_wrap_sql(statement)), code), Spacer(1, 2 * mm)]))
        numbers = figures(step)
        if numbers:
            story.append(Paragraph("Figures", styles["Heading3"]))
            story.append(table([["Figure", "Source", "Target"]] + [[n, _plain(s), _plain(t)] for n, s, t in numbers],
                               [70 * mm, (page_width - 70 * mm) / 2, (page_width - 70 * mm) / 2]))
        columns, rows, total = sample_rows(step, ctx, cap=PDF_SAMPLE_ROWS)
        if rows:
            shown = columns[:MAX_COLUMNS]
            story.append(Paragraph(f"Sample rows ({len(rows)} of {total}; every row in the Excel report)",
                                   styles["Heading3"]))
            story.append(table([shown] + [r[:MAX_COLUMNS] for r in rows], [page_width / len(shown)] * len(shown)))
    doc.build(story)
    return out.getvalue()


def _wrap_sql(statement: str, width: int = 150) -> str:
    """Long SQL lines broken at spaces for the page."""
    out = []
    for line in statement.splitlines() or [""]:
        while len(line) > width:
            cut = line.rfind(" ", 0, width)
            cut = cut if cut > 20 else width
            out.append(line[:cut])
            line = "    " + line[cut:].lstrip()
        out.append(line)
    return "\n".join(out)


# --- Excel ---------------------------------------------------------------------------------


def _xl(value: Any) -> Any:
    """A cell value Excel accepts: control characters (SQL separators, binary data) shown as `\\xNN`."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str) and ILLEGAL_CHARACTERS_RE.search(value):
        return ILLEGAL_CHARACTERS_RE.sub(lambda m: f"\\x{ord(m.group(0)):02x}", value)
    return value


def to_xlsx(run: dict[str, Any], ctx: ReportContext) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    bold, head_fill = Font(bold=True), PatternFill("solid", fgColor="DDE6F0")
    status_fill = {"failed": PatternFill("solid", fgColor="F8D7DA"), "error": PatternFill("solid", fgColor="F8D7DA"),
                   "warning": PatternFill("solid", fgColor="FFF3CD"), "passed": PatternFill("solid", fgColor="D4EDDA")}

    def header(sheet: Any, row: int) -> None:
        for c in sheet[row]:
            c.font, c.fill = bold, head_fill

    def widths(sheet: Any, cap: int = 60) -> None:
        size: dict[int, int] = {}
        for r in sheet.iter_rows():
            for c in r:
                if c.value is not None:
                    size[c.column] = max(size.get(c.column, 0), min(cap, len(str(c.value))))
        for column, n in size.items():
            sheet.column_dimensions[get_column_letter(column)].width = max(10, n + 2)

    def add(sheet: Any, row: list[Any]) -> None:
        sheet.append([_xl(v) for v in row])

    book = Workbook()
    summary = book.active
    summary.title = "Summary"
    add(summary, ["Validation report", run.get("pipeline_name") or ""])
    summary["A1"].font = Font(bold=True, size=14)
    for label, value in cover(run, ctx):
        add(summary, [label, value])
        summary.cell(summary.max_row, 1).font = bold
    found = counts(run)
    add(summary, [])
    add(summary, ["Quality score", run.get("score")])
    summary.cell(summary.max_row, 1).font = bold
    for status in STATUSES:
        add(summary, [f"Steps {status}", found[status]])
        summary.cell(summary.max_row, 1).font = bold
    add(summary, [])
    add(summary, ["Step", "Validator", "Table", "Status", "Severity", "Message", "Match %", "Duration (s)", "Sheet"])
    first = summary.max_row
    header(summary, first)
    used = {"summary"}
    titles = {s["step"]: _sheet_title(s["step"], used) for s in run["steps"]}
    for s in run["steps"]:
        result = s.get("result") or {}
        add(summary, [s["step"], s.get("validator"), s.get("table_name"), s.get("status"), s.get("severity"),
                        s.get("message"), result.get("match_percentage"), s.get("duration_seconds"), titles[s["step"]]])
        status_cell = summary.cell(summary.max_row, 4)
        if s.get("status") in status_fill:
            status_cell.fill = status_fill[s["status"]]
        link = summary.cell(summary.max_row, 9)
        link.hyperlink, link.style = f"#'{titles[s['step']]}'!A1", "Hyperlink"
    summary.freeze_panes = summary.cell(first + 1, 1)
    widths(summary)
    for s in run["steps"]:
        sheet = book.create_sheet(titles[s["step"]])
        for label, value in (("Step", s["step"]), ("Validator", s.get("validator")), ("Table", s.get("table_name")),
                             ("Status", s.get("status")), ("Message", s.get("message"))):
            add(sheet, [label, value])
            sheet.cell(sheet.max_row, 1).font = bold
        sheet.cell(4, 2).fill = status_fill.get(s.get("status") or "", PatternFill())
        for side, statement in sql_of(s):
            add(sheet, [f"SQL ({side})", statement])
            sheet.cell(sheet.max_row, 1).font = bold
            sheet.cell(sheet.max_row, 2).alignment = Alignment(wrap_text=True, vertical="top")
        numbers = figures(s)
        if numbers:
            add(sheet, [])
            add(sheet, ["Figure", "Source", "Target"])
            header(sheet, sheet.max_row)
            for name, source, target in numbers:
                add(sheet, [name, _plain(source), _plain(target)])
        columns, rows, total = sample_rows(s, ctx)
        add(sheet, [])
        if rows:
            add(sheet, [f"{len(rows)} of {total} rows" + (" (the full list)" if len(rows) == total else
                                                             f" (capped at {ctx.sample_rows})")])
            add(sheet, columns)
            top = sheet.max_row
            header(sheet, top)
            for r in rows:
                add(sheet, r)
            sheet.freeze_panes = sheet.cell(top + 1, 1)
        else:
            add(sheet, ["(no sample rows)"])
        widths(sheet)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_title(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\']", "_", name)[:28] or "step"
    title, n = base, 1
    while title.lower() in used:
        n += 1
        title = f"{base[:25]}_{n}"
    used.add(title.lower())
    return title


# --- HTML ----------------------------------------------------------------------------------


def trend_svg(trend: list[dict[str, Any]], width: int = 720, height: int = 180) -> str:
    """The trend chart as inline SVG (the page stays one self-contained file)."""
    points = [(i, float(t["score"])) for i, t in enumerate(trend) if t.get("score") is not None]
    if not points:
        return "<p>No scored runs yet.</p>"
    n = max(len(trend) - 1, 1)
    xy = [(40 + i * (width - 60) / n, 15 + (100 - s) * (height - 40) / 100) for i, s in points]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3'><title>{s:g}</title></circle>"
                   for (x, y), (_, s) in zip(xy, points, strict=True))
    axis = "".join(f"<text x='5' y='{15 + (100 - v) * (height - 40) / 100 + 4:.0f}'>{v}</text>" for v in (0, 50, 100))
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
            f"aria-label='quality score trend'><g font-size='10'>{axis}</g>"
            f"<polyline fill='none' stroke='#1f5fa8' stroke-width='2' points='{path}'/>"
            f"<g fill='#1f5fa8'>{dots}</g></svg>")


def to_html(run: dict[str, Any], ctx: ReportContext) -> bytes:
    e = html.escape

    def rows_html(rows: list[list[Any]], head: list[str] | None = None) -> str:
        top = "<tr>" + "".join(f"<th>{e(str(h))}</th>" for h in head) + "</tr>" if head else ""
        body = "".join("<tr>" + "".join(f"<td>{e('' if v is None else str(v))}</td>" for v in r) + "</tr>"
                       for r in rows)
        return f"<table>{top}{body}</table>"

    found = counts(run)
    parts = [f"<h1>Validation report: {e(run.get('pipeline_name') or '')}</h1>",
             rows_html([[k, v] for k, v in cover(run, ctx)]), "<h2>Summary</h2>",
             rows_html([[len(run["steps"]), *[found[s] for s in STATUSES], _score(run.get("score"))]],
                       ["Steps", *[s.capitalize() for s in STATUSES], "Quality score"]),
             "<h3>Quality score of the pipeline's recent runs</h3>", trend_svg(ctx.trend), "<h2>Steps</h2>",
             "<table><tr><th>Step</th><th>Validator</th><th>Table</th><th>Status</th><th>Message</th></tr>" + "".join(
                 f"<tr class='{e(s.get('status') or '')}'><td>{e(s['step'])}</td><td>{e(s.get('validator') or '')}</td>"
                 f"<td>{e(s.get('table_name') or '')}</td><td>{e(s.get('status') or '')}</td>"
                 f"<td>{e(s.get('message') or '')}</td></tr>" for s in run["steps"]) + "</table>"]
    for step in failing_steps(run):
        parts.append(f"<section><h2>Failing step: {e(step['step'])}</h2>")
        parts.append(rows_html([["Validator", step.get("validator")], ["Table", step.get("table_name") or "—"],
                                ["Status", step.get("status")], ["Message", step.get("message") or ""]]))
        for side, statement in sql_of(step):
            parts.append(f"<h4>SQL ({e(side)})</h4><pre>{e(statement)}</pre>")
        numbers = figures(step)
        if numbers:
            parts.append("<h3>Figures</h3>" + rows_html([[n, _plain(s), _plain(t)] for n, s, t in numbers],
                                                        ["Figure", "Source", "Target"]))
        columns, rows, total = sample_rows(step, ctx)
        if rows:
            parts.append(f"<h3>Sample rows ({len(rows)} of {total})</h3>" + rows_html(rows, columns))
        parts.append("</section>")
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Validation report {e(run['run_id'])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;margin:.5em 0}}
td,th{{border:1px solid #ccc;padding:3px 6px;vertical-align:top;overflow-wrap:break-word}}th{{background:#dde6f0}}
.failed,.error{{background:#f8d7da}}.warning{{background:#fff3cd}}pre{{background:#f5f5f5;padding:.5em;white-space:pre-wrap}}
section{{border-top:2px solid #1f5fa8;margin-top:2em}}</style></head><body>{''.join(parts)}</body></html>"""
    return page.encode()

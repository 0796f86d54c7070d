"""Reports a lead can hand to an auditor, rendered from real runs (real NATS, PostgreSQL, workers,
DuckDB): the PDF is turned into PNG pages kept as test artefacts (`OMB_TEST_ARTIFACTS`, default
`.artifacts/` in the repository) and its text checked; the workbook's cells are read back."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pypdf
import yaml

from tests.executor.conftest import Bus, Warehouse, Workers

LONG = "validate_dbo_orders_line_items_against_the_warehouse_copy"
ARTIFACTS = Path(os.environ.get("OMB_TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / ".artifacts")


def report_pipeline(wh: Warehouse) -> str:
    """t0 passes; t7 loses 3 rows; `lines` has 351 changed rows and 2 lost ones (row diff)."""
    for path, changed in ((wh.source, 0), (wh.target, 351)):
        with duckdb.connect(str(path)) as db:
            db.execute("CREATE OR REPLACE TABLE lines AS SELECT i AS id, i * 2 AS amount, 'note ' || i AS note "
                       "FROM range(1000) t(i)")
            if changed:
                db.execute(f"UPDATE lines SET amount = amount + 1 WHERE id < {changed}")
                db.execute("DELETE FROM lines WHERE id >= 998")
    return yaml.safe_dump({"name": "auditor report", "connections": {"source": wh.source_url, "target": wh.target_url},
                           "steps": [{"id": "counts_t0", "validator": "record_counts", "table": "main.t0"},
                                     {"id": "counts_t7", "validator": "record_counts", "table": "main.t7"},
                                     {"id": LONG, "validator": "row_hash", "table": "main.lines",
                                      "parameters": {"key": ["id"]}}]})


def pdf_pages_to_png(pdf: bytes, folder: Path) -> list[Path]:
    """Each page as a PNG: with pdftoppm when the machine has it (poppler-utils), else pypdfium2."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("page-*.png"):
        old.unlink()
    source = folder / "report.pdf"
    source.write_bytes(pdf)
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "60", str(source), str(folder / "page")], check=True, timeout=120)
    else:
        import pypdfium2

        document = pypdfium2.PdfDocument(pdf)
        for i in range(len(document)):
            document[i].render(scale=60 / 72).to_pil().save(folder / f"page-{i + 1}.png")
    return sorted(folder.glob("page-*.png"))


def name_fragments_are_whole_words(text: str, name: str) -> list[str]:
    """Pieces of `name` in the text's lines that start or end inside one of its words."""
    words = name.split("_")
    starts = {len("_".join(words[:i])) + (1 if i else 0) for i in range(len(words))}
    ends = {len("_".join(words[:i + 1])) for i in range(len(words))} | {len("_".join(words[:i + 1])) + 1
                                                                       for i in range(len(words) - 1)}
    bad = []
    for line in text.splitlines():
        for piece in re.findall(r"[a-z_]{12,}", line):
            at = name.find(piece)
            if at >= 0 and (at not in starts or at + len(piece) not in ends):
                bad.append(piece)
    return bad


def difference_rows(sheet: Any) -> tuple[int, list[list[Any]]]:
    """The (1-based) header row of a step sheet's differences and the rows under it."""
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    top = next(i for i, r in enumerate(cells) if list(r[:5]) == ["kind", "key", "column", "source_value", "target_value"])
    return top + 1, [r for r in cells[top + 1:] if r[0]]


async def test_reports_for_an_auditor(bus: Bus, workers: Workers, warehouse: Warehouse) -> None:
    workers.start("w1", concurrency=2)
    yaml_text = report_pipeline(warehouse)
    await bus.wait_run(  # an earlier run: the trend has two points
        (await bus.command("queue_run", {"pipeline_yaml": yaml_text}))["run_id"])
    run = await bus.wait_run((await bus.command("queue_run", {"pipeline_yaml": yaml_text}))["run_id"])
    assert {s["step"]: s["status"] for s in run["steps"]} == {"counts_t0": "passed", "counts_t7": "failed",
                                                             LONG: "failed"}

    async def export(fmt: str, **extra: int) -> bytes:
        reply = await bus.query("export", {"run_id": run["run_id"], "format": fmt, **extra})
        return base64.b64decode(reply["content_b64"]) if "content_b64" in reply else b""

    # PDF: cover, summary with counts and score, trend, one section per failing step
    pdf = await export("pdf")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    pages = [page.extract_text() for page in reader.pages]
    cover = pages[0]
    for expected in ("Validation report", "auditor report", run["run_id"], "Requested by", "alice",
                     "Source", "source (duckdb:///", "Target", "target (duckdb:///", "Queued", "Finished"):
        assert expected in cover, (expected, cover)
    summary = pages[1]
    assert "Summary" in summary and "Quality score" in summary and "33.33" in summary
    assert "Quality score of the pipeline's recent runs" in summary
    sections = "\n".join(pages).split("Failing step:")[1:]  # a section may run over several pages
    assert len(sections) == 2
    row_diff = next(p for p in sections if "row_hash" in p)
    assert "SELECT" in row_diff and "Figures" in row_diff
    assert "Sample rows (25 of 353" in row_diff and "changed" in row_diff and "only_in_source" in "".join(pages)
    assert name_fragments_are_whole_words("\n".join(pages), LONG) == []
    pngs = pdf_pages_to_png(pdf, ARTIFACTS / "reports")
    assert len(pngs) == len(reader.pages) >= 4
    from PIL import Image

    for png in pngs:
        with Image.open(png) as image:
            low, high = image.convert("L").getextrema()
            assert low < 100 and high > 200, png  # ink on paper, not a blank page

    # Excel: formatted summary, one sheet per step, the differences as real rows up to the cap
    book = openpyxl.load_workbook(io.BytesIO(await export("xlsx", sample_rows=400)))
    summary_sheet = book["Summary"]
    assert book.sheetnames[0] == "Summary" and len(book.sheetnames) == 4
    header = next(r for r in range(1, summary_sheet.max_row + 1) if summary_sheet.cell(r, 1).value == "Step")
    assert summary_sheet.freeze_panes == f"A{header + 1}" and summary_sheet.cell(header, 1).font.bold
    assert summary_sheet.column_dimensions["A"].width >= 12
    labels = {summary_sheet.cell(r, 1).value: summary_sheet.cell(r, 2).value for r in range(1, header)}
    assert labels["Run"] == run["run_id"] and labels["Requested by"] == "alice" and labels["Quality score"] == 33.33
    assert labels["Steps failed"] == 2 and labels["Steps passed"] == 1
    assert LONG[:28] in book.sheetnames, book.sheetnames
    diff_sheet = book[LONG[:28]]
    top, rows = difference_rows(diff_sheet)
    assert len(rows) == 353 and {r[0] for r in rows} == {"changed", "only_in_source"}
    assert all(r[3] is not None and not str(r[3]).startswith("{") for r in rows if r[0] == "changed")  # values
    assert diff_sheet.freeze_panes == f"A{top + 1}"
    capped = openpyxl.load_workbook(io.BytesIO(await export("xlsx", sample_rows=100)))
    _, capped_rows = difference_rows(capped[diff_sheet.title])
    assert len(capped_rows) == 100
    assert any("capped at 100" in str(r[0]) for r in capped[diff_sheet.title].iter_rows(values_only=True))
    counts_sheet = [[c.value for c in r] for r in book["counts_t7"].iter_rows()]
    assert ["row_count", 100, 97] in [r[:3] for r in counts_sheet]

    # HTML: the same content, in one self-contained file
    page = (await export("html", sample_rows=400)).decode()
    assert page.startswith("<!doctype html>") and "<svg" in page and "Requested by" in page
    assert page.count("<section>") == 2 and "Sample rows (353 of 353)" in page and "SELECT" in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    (ARTIFACTS / "reports" / "report.html").write_text(page)
    assert page.count("<circle") == 2  # the trend: the earlier run and this one

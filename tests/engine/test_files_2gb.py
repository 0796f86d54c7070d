"""Issue 21's size test in the suite itself: a generated 2 GB TSV (36,000,000 lines, made here, never
shipped) is validated in a process of its own with DuckDB capped at 512 MB; its peak RSS stays under 1 GB
and the bad line, the missing day and the duplicated row are each found exactly, with their lines.
`make bench` (tests/perf/bench_files.py) times the same workload against its floors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.perf.bench_files import CONFIG, VALIDATE, generate

ROWS = 36_000_000


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_2gb_tsv_is_validated_under_1gb_with_every_finding_exact(tmp_path: Path) -> None:
    path = generate(tmp_path, ROWS)
    assert path.stat().st_size >= 2_000_000_000
    (tmp_path / "files.yaml").write_text(CONFIG)
    try:
        done = subprocess.run([sys.executable, "-c", VALIDATE, str(tmp_path / "files.yaml")], capture_output=True,
                              text=True, env=os.environ, timeout=1500)
    finally:
        path.unlink()  # 2 GB of the disk back as soon as the run ends
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    checks = {r["check"]: r for r in report["results"]}

    assert checks["row_counts"]["details"]["rows"] == ROWS + 1  # every good line, the duplicate's copy too
    [bad] = checks["conformance"]["details"]["lines"]
    assert (bad["line"], bad["columns"]) == (ROWS + 3, ["sale_id"])
    assert checks["date_completeness"]["details"]["missing"] == ["2026-01-15"]
    [copy] = checks["duplicates"]["details"]["keys"]
    assert [n for _, n in copy["lines"]] == [12347, ROWS + 2]
    print(f"peak RSS {report['rss_kb'] / 1024:.0f} MB")
    assert report["rss_kb"] / 1024 <= 1024, f"peak RSS {report['rss_kb'] / 1024:.0f} MB"

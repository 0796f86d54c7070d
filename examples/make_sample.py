"""Build the sample warehouse: examples/data/source.duckdb and examples/data/target.duckdb.

The target is a "migrated" copy with known defects (listed when this runs), which
examples/sample_pipeline.yaml finds. From the repository root:

    .venv/bin/python examples/make_sample.py
    .venv/bin/ombudsman run examples/sample_pipeline.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

from ombudsman.engine.pipeline.sample import DEFECTS, source_data, target_data, write_duckdb


def main(folder: Path) -> None:
    source = source_data()
    write_duckdb(folder / "source.duckdb", source)
    write_duckdb(folder / "target.duckdb", target_data(source))
    print(f"wrote {folder / 'source.duckdb'} and {folder / 'target.duckdb'}; defects in the target:")
    for defect in DEFECTS:
        print(f"  - {defect}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "data")

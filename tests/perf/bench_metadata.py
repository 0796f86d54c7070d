"""Benchmark: mapping suggestions for 500 source × 500 target tables of 20 columns each (issue 6).

Two synthetic catalogs (libs/contracts catalog models) of the same 500 tables: the source as SQL
Server names them (`DimCustomerHistory`, `tblVendorContract`, `FactOrderLine`, PascalCase columns
such as `CustomerKey`, `OrderQty`, `nvarchar` / `datetime2` / `money` types), the target as a
Snowflake migration renamed them (`DIM_CUSTOMER_HISTORY`, `VENDOR_CONTRACTS`, `FCT_ORDER_LINE`,
some words abbreviated (`CUST_ORDER`), upper-case snake columns such as `CUSTOMER_SK`, `ORDER_QUANTITY`, `NUMBER` / `VARCHAR` /
`TIMESTAMP_NTZ` types), in shuffled order. The measured part runs in a child process (its peak RSS
is its own): the metadata service's pure `mapping.suggest` over both catalogs. It prints the time,
the peak RSS, the fraction of source tables mapped to their true counterpart (and how many went
to a wrong one or to none), and the fraction of columns of the right pairs mapped correctly.

    .venv/bin/python tests/perf/bench_metadata.py [--tables 500] [--columns 20]
    .venv/bin/python -m pytest -q -s tests/perf/bench_metadata.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ombudsman.contracts.catalog import Catalog, ColumnInfo, TableInfo

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ["dbo", "sales", "finance", "hr", "ops"]
ENTITIES = [
    "customer", "product", "store", "employee", "vendor", "invoice", "order", "shipment", "payment", "account",
    "contract", "campaign", "warehouse", "region", "supplier", "claim", "policy", "ticket", "asset", "project",
    "budget", "ledger", "currency", "promotion", "channel",
]
QUALIFIERS = [
    "", "line", "history", "detail", "summary", "status", "type", "group", "event", "snapshot", "balance",
    "target", "plan", "category", "segment", "note", "log", "rate", "address", "contact",
]
TARGET_ABBREVIATIONS = {
    "customer": "cust", "product": "prod", "employee": "emp", "invoice": "inv", "order": "ord", "account": "acct",
    "currency": "curr", "description": "desc", "category": "cat", "address": "addr", "location": "loc",
}
# (source name words, target name words, SQL Server type, Snowflake type): the target spells some
# words out (qty → quantity) and renames a few outright, as migrations do
ATTRIBUTES = [
    (["name"], ["name"], "nvarchar", "varchar"),
    (["description"], ["desc"], "nvarchar", "varchar"),
    (["created", "date"], ["created", "dt"], "datetime2", "timestamp_ntz"),
    (["modified", "date"], ["updated", "at"], "datetime2", "timestamp_ntz"),
    (["order", "qty"], ["order", "quantity"], "int", "number"),
    (["unit", "price"], ["unit", "price"], "money", "number"),
    (["total", "amt"], ["total", "amount"], "decimal", "number"),
    (["discount", "pct"], ["discount", "percent"], "decimal", "number"),
    (["is", "active"], ["active", "flag"], "bit", "boolean"),
    (["status", "code"], ["status", "cd"], "char", "varchar"),
    (["region", "name"], ["region", "nm"], "nvarchar", "varchar"),
    (["city"], ["city"], "nvarchar", "varchar"),
    (["postal", "code"], ["postal", "code"], "varchar", "varchar"),
    (["phone", "number"], ["phone", "no"], "varchar", "varchar"),
    (["email", "address"], ["email", "addr"], "nvarchar", "varchar"),
    (["start", "date"], ["start", "date"], "date", "date"),
    (["end", "date"], ["end", "date"], "date", "date"),
    (["weight", "kg"], ["weight", "kg"], "float", "float"),
    (["row", "version"], ["row", "version"], "bigint", "number"),
    (["notes"], ["comments"], "nvarchar", "varchar"),
    (["category", "id"], ["category", "id"], "int", "number"),
    (["currency", "code"], ["currency", "cd"], "char", "varchar"),
    (["tax", "amt"], ["tax", "amount"], "decimal", "number"),
    (["source", "system"], ["source", "system"], "varchar", "varchar"),
]


def pascal(words: list[str]) -> str:
    return "".join(w.capitalize() for w in words)


def snake_upper(words: list[str]) -> str:
    return "_".join(w.upper() for w in words)


def _column(name: str, ordinal: int, data_type: str, kind: str) -> ColumnInfo:
    precision, scale, length = None, None, None
    if data_type in ("decimal", "number"):
        precision, scale = (38, 0) if kind == "snowflake" and data_type == "number" else (18, 2)
    if data_type in ("nvarchar", "varchar", "char"):
        length = 100
    return ColumnInfo(name=name, data_type=data_type, ordinal=ordinal, length=length, precision=precision, scale=scale)


def build_catalogs(tables: int = 500, columns: int = 20, seed: int = 7) -> tuple[Catalog, Catalog, dict[str, str]]:
    """The source and target catalogs and the truth (source table → its target counterpart)."""
    r = random.Random(seed)
    entities = [[e] + ([q] if q else []) for q in QUALIFIERS for e in ENTITIES]
    # past 500 tables, archive copies of the same entities (`DimCustomerLineArchive`), as warehouses keep
    entities = (entities + [[*words, "archive"] for words in entities])[:tables]
    if len(entities) < tables:
        raise ValueError(f"at most {2 * len(ENTITIES) * len(QUALIFIERS)} distinct tables")
    source_tables: list[TableInfo] = []
    target_tables: list[TableInfo] = []
    truth: dict[str, str] = {}
    for index, words in enumerate(entities):
        schema = SCHEMAS[index % len(SCHEMAS)]
        role = r.choice(["dim", "fact", "tbl", "stg", ""])
        source_name = {"dim": "Dim", "fact": "Fact", "tbl": "tbl", "stg": "stg_"}.get(role, "") + (
            "_".join(words) if role == "stg" else pascal(words))
        target_words = [{"dim": "DIM", "fact": "FCT", "stg": "STG"}[role]] if role in ("dim", "fact", "stg") else []
        # a fifth of the target names abbreviate a word (CUST_ORDER_LINE), as many warehouses do
        abbreviate = r.random() < 0.2
        target_words += [(TARGET_ABBREVIATIONS.get(w, w) if abbreviate else w).upper() for w in words]
        if role in ("tbl", "") and r.random() < 0.5:
            target_words[-1] += "S"  # plural table names on the target
        target_name = "_".join(target_words)
        entity = words[0]
        attributes = r.sample(ATTRIBUTES, columns - 2)
        src_cols = [_column(f"{pascal(words)}Key", 1, "int", "sqlserver"),
                    _column(f"{pascal([entity])}ID", 2, "nvarchar", "sqlserver")]
        tgt_cols = [_column(f"{snake_upper(words)}_SK", 1, "number", "snowflake"),
                    _column(f"{entity.upper()}_ID", 2, "varchar", "snowflake")]
        for ordinal, (src_words, tgt_words, src_type, tgt_type) in enumerate(attributes, start=3):
            src_cols.append(_column(pascal(src_words), ordinal, src_type, "sqlserver"))
            tgt_cols.append(_column(snake_upper(tgt_words), ordinal, tgt_type, "snowflake"))
        source_tables.append(TableInfo(schema_name=schema, name=source_name, columns=src_cols,
                                       primary_key=[src_cols[0].name]))
        target_tables.append(TableInfo(schema_name=schema.upper(), name=target_name, columns=tgt_cols,
                                       primary_key=[tgt_cols[0].name]))
        truth[f"{schema}.{source_name}"] = f"{schema.upper()}.{target_name}"
    r.shuffle(target_tables)  # no help from the order
    source = Catalog(kind="sqlserver", database="SalesDW", schemas=SCHEMAS, tables=source_tables)
    target = Catalog(kind="snowflake", database="SALES_DW", schemas=[s.upper() for s in SCHEMAS], tables=target_tables)
    return source, target, truth


def expected_columns(source: Catalog, target: Catalog, truth: dict[str, str]) -> dict[str, dict[str, str]]:
    """The true column map of every table pair (columns were generated in the same order on both sides)."""
    targets = {t.qualified_name: t for t in target.tables}
    return {
        s.qualified_name: {a.name: b.name for a, b in zip(s.columns, targets[truth[s.qualified_name]].columns, strict=True)}
        for s in source.tables
    }


def measure(tables: int, columns: int) -> dict[str, Any]:
    """The measured part (child process): build the catalogs, then time `suggest` alone."""
    from ombudsman.metadata.mapping import suggest

    source, target, truth = build_catalogs(tables, columns)
    true_columns = expected_columns(source, target, truth)
    start = time.perf_counter()
    found = suggest(source, target)
    seconds = time.perf_counter() - start
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec
    peak_kb = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                   if line.startswith("VmHWM:"))
    right = [t for t in found.tables if truth[t.source_table] == t.target_table]
    columns_right = sum(
        1 for t in right for c in t.columns if true_columns[t.source_table].get(c.source) == c.target
    )
    return {
        "source_tables": len(source.tables), "target_tables": len(target.tables), "columns": columns,
        "seconds": seconds, "peak_rss_mb": peak_kb / 1024,
        "right": len(right), "wrong": len(found.tables) - len(right), "unmapped": len(found.unmapped_source_tables),
        "right_fraction": len(right) / len(source.tables),
        "column_right_fraction": columns_right / max(1, sum(len(true_columns[t.source_table]) for t in right)),
        "schemas_right": sum(1 for s in found.schemas if s.target == s.source.upper()),
        "wrong_examples": [f"{t.source_table} -> {t.target_table}" for t in found.tables if t not in right][:5],
    }


def run(tables: int = 500, columns: int = 20) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, __file__, "--child", "--tables", str(tables), "--columns", str(columns)],
                         check=True, capture_output=True, text=True, env=env)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"\nmapping suggestions: {result['source_tables']:.0f} source × {result['target_tables']:.0f} target tables "
        f"of {result['columns']:.0f} columns\n"
        f"  suggest {result['seconds']:.1f} s; peak RSS {result['peak_rss_mb']:.0f} MB (child process, incl. catalogs)\n"
        f"  tables mapped to the right counterpart: {result['right_fraction']:.1%} ({result['right']:.0f}; "
        f"wrong {result['wrong']:.0f}, unmapped {result['unmapped']:.0f}); schemas right {result['schemas_right']:.0f}"
        f"/{len(SCHEMAS)}\n"
        f"  columns of the right table pairs mapped correctly: {result['column_right_fraction']:.1%}"
    )
    for example in result["wrong_examples"]:
        print(f"  wrong: {example}")
    return result


def test_mapping_suggestions_500_by_500() -> None:
    result = run()
    assert result["source_tables"] == result["target_tables"] == 500
    assert result["right"] + result["wrong"] + result["unmapped"] == 500
    assert result["right_fraction"] > 0  # the figure itself is the benchmark's output, printed above


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--columns", type=int, default=20)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.tables, args.columns)))
    else:
        run(args.tables, args.columns)

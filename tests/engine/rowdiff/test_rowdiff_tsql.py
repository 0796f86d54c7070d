"""The row diff's queries rendered for SQL Server (which cannot run here) parse back as T-SQL."""

from __future__ import annotations

from typing import Any

import sqlglot

from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.normalize import LogicalType, NormalizeOptions
from ombudsman.engine.rowdiff.engine import (
    RowDiffOptions,
    RowDiffResult,
    _Bucket,
    _buckets_condition,
    _checksum_query,
    _Leaf,
    _range_bucket,
    _residue,
    _residue_in,
)
from ombudsman.engine.rowdiff.plan import ColumnPair, DiffSide, Plan
from ombudsman.engine.validators import sql as q


class _TsqlSide:
    """Only what rendering reads: the dialect (no query is run)."""

    dialect = "tsql"


def _plan(key: list[str]) -> Plan:
    types = {"id": LogicalType("integer"), "name": LogicalType("string"), "amount": LogicalType("decimal", scale=2),
             "at": LogicalType("timestamp_tz"), "ratio": LogicalType("float")}
    pairs = [ColumnPair(n, n, n, t, t) for n, t in types.items()]
    side: Any = DiffSide(_TsqlSide(), TableRef(name="orders", schema_name="dbo"))  # type: ignore[arg-type]
    return Plan(sides={"source": side, "target": side}, key=[p for p in pairs if p.name in key], columns=pairs,
                options=NormalizeOptions())


def _parses(query: Any) -> str:
    sql, _ = q.render(query, "tsql")
    back = sqlglot.parse_one(sql, read="tsql", error_level=sqlglot.ErrorLevel.RAISE).sql(dialect="tsql")
    assert sqlglot.parse_one(back, read="tsql").sql(dialect="tsql") == back
    return sql


def test_range_and_hash_queries_render_as_tsql() -> None:
    plan = _plan(["id"])
    level0 = _parses(_checksum_query(plan, "source", _range_bucket(plan, "source", 1, 512), None))
    assert "GROUP BY (CAST([id] AS BIGINT) - 1) / 512" in level0 and "SUM(CAST(CONVERT(BIGINT" in level0
    refine = _parses(_checksum_query(plan, "source", _range_bucket(plan, "source", 1, 32),
                                     _buckets_condition(plan, "source", [_Bucket(3, 1537, 2048, 1, 1, 512)], 1)))
    assert "[id] BETWEEN 1537 AND 2048" in refine
    leaf = _Leaf(plan, RowDiffResult("key_range", ["id"], []), RowDiffOptions(), None)
    _parses(leaf._query("source", _buckets_condition(plan, "source", [_Bucket(-1, 0, 0, 1, 0, 0)], 1)))

    hashed = _plan(["name"])
    _parses(_checksum_query(hashed, "target", _residue(hashed, "target", 65536), _residue_in(hashed, "target", 4096, [1, 7])))
    keyless = _plan([])
    leaf = _Leaf(keyless, RowDiffResult("row_hash", [], []), RowDiffOptions(), None)
    assert "GROUP BY CONVERT(BIGINT" in _parses(leaf._query("source", _residue_in(keyless, "source", 4096, [5])))

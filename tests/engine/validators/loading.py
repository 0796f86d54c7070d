"""Loading the sample warehouse into a real database through the engine's own connectors."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

from sqlglot import exp

from ombudsman.engine.connectors import connect
from ombudsman.engine.pipeline.sample import TABLE_ORDER, SampleTable

CHUNK = 500


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, datetime.datetime):
        return exp.Cast(this=exp.Literal.string(value.isoformat(sep=" ")), to=exp.DataType.build("timestamp"))
    if isinstance(value, datetime.date):
        return exp.Cast(this=exp.Literal.string(value.isoformat()), to=exp.DataType.build("date"))
    if isinstance(value, int | float | decimal.Decimal):
        return exp.Literal.number(str(value))
    return exp.Literal.string(str(value))


async def load_warehouse(url: str, data: dict[str, SampleTable], schema: str, *, constraints: bool = True) -> None:
    """CREATE each table and insert its rows as multi-row INSERTs of literals (test data we made ourselves:
    one statement per 500 rows keeps loading into fakesnow fast)."""
    async with connect(url) as db:
        for name in TABLE_ORDER:
            table = data[name]
            await db.execute(table.ddl(f"{schema}.{name}", constraints=constraints))
            target = exp.to_table(f"{schema}.{name}")
            for start in range(0, len(table.rows), CHUNK):
                rows = [exp.Tuple(expressions=[_literal(v) for v in row]) for row in table.rows[start : start + CHUNK]]
                insert = exp.Insert(this=target, expression=exp.Values(expressions=rows))
                await db.execute(insert.sql(dialect=db.dialect))

"""Each side of a diff read at one instant, and what pinned it, for the step's result.

PostgreSQL: the read session's REPEATABLE READ transaction (its snapshot exported, its start time
recorded). Snowflake: time travel, every table reference read `AT (TIMESTAMP => t)` with t the
server's CURRENT_TIMESTAMP when the diff starts, after a probe that the table keeps time travel
(a transient table with no retention, fakesnow: not pinned, and said so). DuckDB: the read
session's transaction. Elsewhere (SQL Server) the reads are not pinned, and the result says so.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from ombudsman.engine.connectors.base import ReadSession
from ombudsman.engine.rowdiff.plan import Plan, Side
from ombudsman.engine.validators import sql as q

_INSTANT = "SELECT TO_VARCHAR(CURRENT_TIMESTAMP(), 'YYYY-MM-DD HH24:MI:SS.FF9 TZHTZM')"


async def pin_side(plan: Plan, side: Side, session: ReadSession, *, consistent: bool) -> dict[str, Any]:
    """Pin `side`'s reads where its database allows it; what pins them (or why nothing does)."""
    dialect = plan.dialect(side)
    if session.snapshot:
        return dict(session.snapshot)
    if not consistent:
        return {"isolation": "none", "reason": "consistent reads not asked for"}
    if dialect != "snowflake":
        return {"isolation": "none", "reason": f"{dialect} reads are not pinned to one snapshot"}
    if plan.fakesnow.get(side, False):
        return {"isolation": "none", "reason": "fakesnow has no time travel"}
    try:
        at = str((await session.fetch_rows(_INSTANT))[0][0])
        plan.read_at[side] = at
        probe = exp.select(exp.Literal.number(1)).from_(plan.table(side)).where(exp.false())
        await session.fetch_rows(q.render(probe, dialect)[0])
    except Exception as exc:  # no time travel on this table (transient, retention 0 ...): read it live
        plan.read_at.pop(side, None)
        return {"isolation": "none", "reason": f"time travel unavailable: {str(exc).splitlines()[0][:200]}"}
    return {"isolation": "time travel", "at": at}

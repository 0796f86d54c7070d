"""The heaviest queries a workload replays, as the metadata service receives them. Pure: no I/O.

Automate (metadata) turns them into `custom_query` steps of the pipeline of the table they read,
transpiled to each side's dialect and with the target's names. They ride in the `model` details of
an analysis (`WorkloadDetailsRecorded`, items of type `replay`): {fingerprint, sql, dialect,
executions, total_duration, tables}.

Events are kept for ever, and literals in a query are data: a query is published only when every
literal in it is a number, a boolean, NULL or a date/time (`2024-01-31`, `2024-01-31 10:00`), and no
column it compares with a literal is named like a personal one (`privacy.is_personal_column`).
Anything else (`WHERE Surname = 'Smith'`, `WHERE Region = 'EU'`) is not replayed: its text never
leaves the workload service's own stream.
"""

from __future__ import annotations

import re

from sqlglot import exp

from ombudsman.contracts.privacy import is_personal_column
from ombudsman.workload.analysis import UnparsableQuery, parse_statements
from ombudsman.workload.model import WorkloadModel

SOURCE_DIALECT = "tsql"  # Query Store exports: every text is analysed as T-SQL
MIN_EXECUTIONS = 10  # a query run fewer times is no evidence of what matters
MAX_REPLAYS = 10  # per analysis, heaviest (total duration) first
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?)?$")


def publishable(statement: exp.Expr) -> bool:
    """Whether a parsed query holds no value that could be personal (see the module docstring)."""
    for literal in statement.find_all(exp.Literal):
        if literal.is_string and not _DATE_TEXT.match(literal.this.strip()):
            return False
        compared = literal.parent
        while compared is not None and not isinstance(compared, exp.Predicate):
            compared = compared.parent
        if compared is not None and any(is_personal_column(c.name) for c in compared.find_all(exp.Column)):
            return False
    return True


def deterministic(statement: exp.Expr) -> bool:
    """False for TOP/LIMIT without ORDER BY (its rows differ from run to run)."""
    return not (statement.args.get("limit") is not None and statement.args.get("order") is None)


def replay_items(model: WorkloadModel, min_executions: int = MIN_EXECUTIONS,
                 limit: int = MAX_REPLAYS) -> list[dict[str, object]]:
    """The model's heaviest replayable SELECTs as `replay` detail items (strongest evidence first)."""
    items: list[dict[str, object]] = []
    for query in model.queries:  # heaviest (total duration) first
        if len(items) >= limit:
            break
        if query.status != "parsed" or query.kind != "select" or not query.replayable or not query.text:
            continue
        if query.executions < min_executions:
            continue
        try:
            statements = parse_statements(query.text)
        except UnparsableQuery:
            continue
        if len(statements) != 1 or not deterministic(statements[0]) or not publishable(statements[0]):
            continue
        items.append({"type": "replay", "fingerprint": query.fingerprint, "sql": query.text,
                      "dialect": SOURCE_DIALECT, "executions": query.executions,
                      "total_duration": query.total_duration, "tables": list(query.tables)})
    return items

"""What the language model is asked for besides mapping pairs (model_mapping.py), and how its answers
are checked: column descriptions, a failed step explained in plain words, a custom_query check
drafted from a sentence.

Every question is JSON with a `task`, built from names, types and counts only: never a row's
value, never a sample, never SQL of a run. Every answer is checked before it is used: descriptions
only of columns the table has, an explanation as bounded text, a check whose SQL is one read-only
SELECT in each side's dialect (engine/sqlguard.py) over tables of that side's catalog.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlglot import exp

from ombudsman.contracts.catalog import Catalog, TableInfo
from ombudsman.contracts.commands.metadata import StepFacts
from ombudsman.contracts.pipeline import Step
from ombudsman.contracts.replies import Invalid

DESCRIBE_SYSTEM = ("You document database tables for a data migration team. For each column you are given (name, "
                   "type, key), write one short sentence saying what it most likely holds. Answer with JSON only: "
                   "{\"descriptions\": {\"<column>\": \"<description>\"}}. Leave out a column you cannot guess.")
EXPLAIN_SYSTEM = ("You explain to a data migration team, in plain words and at most five sentences, why a validation "
                  "step comparing a source table with its migrated target failed, and what to look at first. You "
                  "are given the step's validator, status, counts and column names; values were left out.")
DRAFT_SYSTEM = ("You write validation checks for a data migration. Given a request in plain words and the mapped "
                "tables (source and target names, column pairs, types), answer with JSON only: {\"description\": "
                "\"<one sentence>\", \"source_sql\": \"<one SELECT in the source dialect>\", \"target_sql\": \"<the "
                "same SELECT in the target dialect, over target names>\", \"key_columns\": [\"<result columns that "
                "identify a row, if any>\"]}. Both queries must return the same columns in the same order. Only "
                "SELECT; read only the tables given.")
DESCRIPTION_CHARS = 500
EXPLANATION_CHARS = 4000
COLUMNS_PER_QUESTION = 100
TABLES_PER_DRAFT = 30


def _json_object(answer: str) -> dict[str, Any]:
    """The JSON object in a model's answer (it may wrap it in prose or a code fence); {} when none."""
    found = re.search(r"\{.*\}", answer, re.S)
    if not found:
        return {}
    try:
        data = json.loads(found.group(0))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# --- column descriptions -------------------------------------------------------------------------


def describe_questions(table: TableInfo, kind: str, columns: list[str] | None) -> list[str]:
    """The questions about a table's columns (names, types, nullability, keys; the approximate row
    count), at most COLUMNS_PER_QUESTION columns each."""
    wanted = {c.lower() for c in columns} if columns else None
    keyed = {c.lower() for c in table.primary_key}
    referencing = {c.lower(): f"{fk.ref_schema}.{fk.ref_table}" for fk in table.foreign_keys for c in fk.columns}
    listed = [{"name": c.name, "type": c.data_type, "nullable": c.nullable,
               **({"primary_key": True} if c.name.lower() in keyed else {}),
               **({"references": referencing[c.name.lower()]} if c.name.lower() in referencing else {})}
              for c in table.columns if wanted is None or c.name.lower() in wanted]
    return [json.dumps({"task": "describe_columns", "database": kind, "table": table.qualified_name,
                        "row_count": table.row_count, "columns": listed[i:i + COLUMNS_PER_QUESTION]})
            for i in range(0, len(listed), COLUMNS_PER_QUESTION)]


def parse_descriptions(answer: str, table: TableInfo, asked: list[str] | None = None) -> dict[str, str]:
    """{column as the catalog spells it: description} from the answer; columns the table does not
    have (or that were not `asked` about) and empty or non-text descriptions dropped, each cut to
    DESCRIPTION_CHARS."""
    found = _json_object(answer).get("descriptions")
    wanted = {c.lower() for c in asked} if asked else None
    drafts: dict[str, str] = {}
    for name, text in found.items() if isinstance(found, dict) else ():
        column = table.column(str(name))
        if column is None or (wanted is not None and column.name.lower() not in wanted):
            continue
        if isinstance(text, str) and " ".join(text.split()):
            drafts[column.name] = " ".join(text.split())[:DESCRIPTION_CHARS]
    return drafts


# --- a failed step explained -----------------------------------------------------------------------


def explain_question(facts: StepFacts) -> str:
    """The question about a failed step: its facts (names and counts; the message without values)."""
    return json.dumps({"task": "explain_step", **facts.model_dump(mode="json", exclude_none=True)})


def parse_explanation(answer: str) -> str:
    """The explanation as bounded plain text; `Invalid` when the model said nothing."""
    text = answer.strip()
    if not text:
        raise Invalid("the language model gave no explanation", {"field": "step"})
    return text[:EXPLANATION_CHARS]


# --- a custom_query check drafted from a sentence ----------------------------------------------------


def draft_question(sentence: str, dialects: dict[str, str], pairs: list[tuple[TableInfo, TableInfo, dict[str, str]]]
                   ) -> str:
    """The question: the request, each side's dialect and the mapped tables (names, column pairs, types)."""
    tables = []
    for source, target, columns in pairs[:TABLES_PER_DRAFT]:
        listed = []
        for s_name, t_name in columns.items():
            column = source.column(s_name)
            listed.append({"source": s_name, "target": t_name, "type": column.data_type if column else ""})
        tables.append({"source_table": source.qualified_name, "target_table": target.qualified_name,
                       "columns": listed})
    return json.dumps({"task": "draft_check", "request": sentence, "source_dialect": dialects["source"],
                       "target_dialect": dialects["target"], "tables": tables})


def _refused(reason: str) -> Invalid:
    return Invalid(f"the language model's draft was refused: {reason}; say it another way, or write the check",
                   {"field": "sentence", "reason": reason})


def _tables_read(query: exp.Query) -> list[exp.Table]:
    """The tables a query reads (names a WITH clause defines are not tables)."""
    defined = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    return [t for t in query.find_all(exp.Table) if not (not t.db and t.name.lower() in defined)]


def checked_sql(sql: Any, dialect: str, catalog: Catalog, side: str) -> str:
    """The model's SQL for one side once checked: one read-only SELECT in `dialect` (sqlguard), over
    tables that side's catalog has; `Invalid` saying what was refused otherwise."""
    from ombudsman.engine.sqlguard import UnsafeSql, check_user_query

    if not isinstance(sql, str) or not sql.strip():
        raise _refused(f"no {side}_sql")
    try:
        query = check_user_query(sql, dialect, f"{side}_sql")
    except UnsafeSql as exc:
        raise _refused(exc.message) from None
    for table in _tables_read(query):
        known = (catalog.table(table.db, table.name) if table.db else
                 next((t for t in catalog.tables if t.name.lower() == table.name.lower()), None))
        if known is None:
            raise _refused(f"{side}_sql reads {table.sql(dialect=dialect)}, which the {side} catalog does not have")
    return sql.strip().rstrip(";").strip()


def step_id(sentence: str) -> str:
    """A step id from the sentence's first words (`model-check-…`)."""
    words = re.findall(r"[A-Za-z0-9]+", sentence.lower())[:6]
    return ("model-check-" + "-".join(words))[:128] if words else "model-check"


def parse_draft(answer: str, sentence: str, model: str, dialects: dict[str, str], source: Catalog, target: Catalog
                ) -> dict[str, Any]:
    """A custom_query step from the model's answer, every SQL checked for its side (`Invalid` when
    refused). Its description says it is the model's draft; nothing is saved."""
    data = _json_object(answer)
    if not data:
        raise _refused("the answer holds no JSON object")
    source_sql = checked_sql(data.get("source_sql"), dialects["source"], source, "source")
    target_sql = checked_sql(data.get("target_sql") or data.get("source_sql"), dialects["target"], target, "target")
    keys = [str(k) for k in data.get("key_columns") or [] if isinstance(k, str) and k.strip()][:16]
    what = " ".join(str(data.get("description") or sentence).split())[:300]
    step = Step(id=step_id(sentence), validator="custom_query",
                description=f"{what} (drafted by model {model}; check it before saving)",
                parameters={"source_sql": source_sql, "target_sql": target_sql, **({"key_columns": keys} if keys else {})})
    return step.model_dump(mode="json", exclude_none=True, exclude_defaults=True)

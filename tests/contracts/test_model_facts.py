"""What may be told to a language model about a step: names and counts, a message without values
(contracts.privacy.strip_values, contracts.commands.metadata.StepFacts)."""

from __future__ import annotations

import pytest

from ombudsman.contracts.commands.metadata import StepFacts
from ombudsman.contracts.privacy import strip_values


@pytest.mark.parametrize(("text", "keep", "expected"), [
    ('duplicate key value violates unique constraint "pk_customer" DETAIL: Key (id)=(42) already exists', ["id"],
     "duplicate key value violates unique constraint '?' DETAIL: Key (id)=(?) already exists"),
    ("invalid input syntax for type integer: 'Ana Pereira' in column \"FULL_NAME\"", ["full_name"],
     "invalid input syntax for type integer: '?' in column \"FULL_NAME\""),
    ("3 of 100 rows differ (by id; values differ in amount, col1)", [],
     "? of ? rows differ (by id; values differ in amount, col1)"),
    ("born 1990-04-01, mail ana.pereira@example.com, [ssn] 123-45-6789", [], "born ?, mail ?, '?' ?"),
    ("every difference in /tmp/omb-worker-x/3-f7.csv; see https://u:pw@host/x?token=t", [],
     "every difference in <file>; see <url>"),
    ("the target's value 'Ana Per", [], "the target\u2019s value '?'"),
    ("name 'Ana' differs, then \"Bo", [], "name '?' differs, then '?'"),
])
def test_values_are_stripped_and_names_kept(text: str, keep: list[str], expected: str) -> None:
    assert strip_values(text, keep=keep) == expected


def test_step_facts_keep_counts_and_names_only() -> None:
    facts = StepFacts.of_step({
        "step": "orders_sum", "validator": "aggregates", "table_name": "sales.orders", "status": "failed",
        "severity": "critical", "message": "sum(amount) differs: 1234.50 vs 1200.00 for 'Ana Pereira'",
        "result": {"affected_columns": ["amount"], "match_percentage": 50.0,
                   "source": {"row_count": 10, "sum": 1234, "max": "Zoe", "nulls": {"amount": 2, "x": "y"},
                              "checked": True},
                   "target": {"row_count": 10, "min": 3},
                   "details": {"mismatches": 1, "columns": ["amount"], "distinct_values": {"Ana Pereira": 3}},
                   "sample": [{"amount": 1234.5, "customer": "Ana Pereira"}],
                   "sql": {"source": ["SELECT sum(amount) FROM sales.orders WHERE customer = 'Ana Pereira'"]}}})
    assert facts.source == {"row_count": 10, "nulls": {"amount": 2}}  # not the sum, max or a flag
    assert facts.target == {"row_count": 10} and facts.details == {"mismatches": 1}  # no count per value
    assert facts.message == "sum(amount) differs: ? vs ? for '?'"
    dumped = str(facts.model_dump())
    assert "Ana" not in dumped and "1234" not in dumped and "Zoe" not in dumped and "SELECT" not in dumped
    # a step that errored before any result still has facts; a message sent with values is stripped
    errored = StepFacts.of_step({"step": "s", "status": "error", "message": "connection to 10.0.0.5 failed"})
    assert errored.message == "connection to ? failed" and errored.source == {}
    assert StepFacts(step="s", message="id 42 'x'").message == "id ? '?'"
    # a long message is stripped whole before it is cut: a literal cut short leaks nothing
    long = StepFacts.of_step({"step": "s", "status": "failed", "message": "x" * 990 + " 'Ana Pereira'"})
    assert "Ana" not in long.message and len(long.message) <= 1000

"""The hash chain and alert rules, without I/O."""

from ombudsman.audit.domain import GENESIS, AlertRule, ChainRow, chain_hash, rule_matches, verify_chain


def chain(n: int) -> list[ChainRow]:
    rows, prev = [], GENESIS
    for i in range(1, n + 1):
        envelope = {"event_id": f"e{i}", "event_type": "X", "data": {"i": i}}
        digest = chain_hash(prev, envelope)
        rows.append(ChainRow(position=i, prev_hash=prev, hash=digest, envelope=envelope))
        prev = digest
    return rows


def test_an_intact_chain_verifies() -> None:
    report = verify_chain(chain(50), expected_prev=GENESIS)
    assert report.ok and report.checked == 50 and report.last_position == 50


def test_an_altered_row_is_found_at_its_position() -> None:
    rows = chain(20)
    bad = rows[11]
    rows[11] = ChainRow(bad.position, bad.prev_hash, bad.hash, {**bad.envelope, "data": {"i": 999}})
    report = verify_chain(rows, expected_prev=GENESIS)
    assert not report.ok and report.broken_at == 12 and "altered" in (report.reason or "")


def test_a_missing_row_is_found() -> None:
    rows = chain(20)
    del rows[6]
    report = verify_chain(rows, expected_prev=GENESIS)
    assert not report.ok and report.broken_at == 7 and "missing" in (report.reason or "")


def test_rules_match_type_project_and_condition() -> None:
    rule = AlertRule(id="r1", event_types=["RunCompleted"], condition={"failed_steps": {"gt": 0}})
    failed = {"event_type": "RunCompleted", "stream_type": "run", "data": {"failed_steps": 2}}
    passed = {"event_type": "RunCompleted", "stream_type": "run", "data": {"failed_steps": 0}}
    other = {"event_type": "RunStarted", "stream_type": "run", "data": {"failed_steps": 5}}
    assert rule_matches(rule, failed) and not rule_matches(rule, passed) and not rule_matches(rule, other)
    scoped = AlertRule(id="r2", project_id="sales")
    assert rule_matches(scoped, {"event_type": "X", "stream_type": "project", "stream_id": "sales", "data": {}})
    assert not rule_matches(scoped, {"event_type": "X", "stream_type": "run", "data": {"project_id": "hr"}})
    # a run's end names no project: the project its stream belongs to (known to the log) decides
    run_end = {"event_type": "RunCompleted", "stream_type": "run", "stream_id": "r1", "data": {"failed_steps": 1}}
    assert not rule_matches(scoped, run_end)
    assert rule_matches(scoped, run_end, "sales") and not rule_matches(scoped, run_end, "hr")

"""Bad pipelines are refused with an error naming the step and the field; good ones load."""

from __future__ import annotations

import pytest

from ombudsman.contracts.pipeline import (
    MAX_PIPELINE_BYTES,
    PipelineError,
    TableRef,
    Tolerance,
    expand_env,
    load_pipeline,
)
from ombudsman.engine.pipeline import validate_pipeline

HEAD = """
name: t
connections: {source: "duckdb:///a.duckdb", target: "duckdb:///b.duckdb"}
steps:
"""


def errors_of(text: str, *, engine: bool = True) -> list[str]:
    with pytest.raises(PipelineError) as caught:
        spec = load_pipeline(text)
        if engine:
            validate_pipeline(spec)
    return caught.value.errors


def test_a_good_pipeline_loads_with_defaults_and_table_pairs() -> None:
    spec = validate_pipeline(load_pipeline(HEAD + """
  - {id: counts, validator: record_counts, table: main.orders}
  - id: sums
    validator: metric_sums
    tables: {source: dbo.Orders, target: '"PUBLIC"."ORDERS"'}
    columns: {Amount: AMOUNT}
    parameters: {measures: [Amount], group_by: [Region]}
    tolerance: {percentage: 0.5}
    severity: warning
    depends_on: counts
    skip_on_failure: true
"""))
    counts, sums = spec.steps
    assert spec.tolerance(counts) == Tolerance() and spec.severity(counts) == "critical"
    assert sums.source_table == TableRef(schema_name="dbo", name="Orders")
    assert sums.target_table == TableRef(schema_name="PUBLIC", name="ORDERS")
    assert sums.depends_on == ["counts"] and spec.skip_on_failure(sums)
    assert spec.topological_order() == ["counts", "sums"]


def test_missing_parameter_names_step_and_field() -> None:
    errors = errors_of(HEAD + """
  - {id: counts, validator: record_counts, table: main.orders}
  - {id: a, validator: nulls, table: main.orders}
  - {id: b, validator: nulls, table: main.orders}
  - {id: orders_sums, validator: metric_sums, table: main.orders, parameters: {group_by: [x]}}
""")
    assert errors == ["steps[3] 'orders_sums': parameters.measures: field required"]


def test_unknown_validator_is_named() -> None:
    assert errors_of(HEAD + "  - {id: x, validator: row_count, table: t}\n") == [
        "steps[0] 'x': validator: unknown validator 'row_count'"
    ]


def test_unknown_dependency_and_cycle_are_named() -> None:
    assert errors_of(HEAD + "  - {id: a, validator: record_counts, table: t, depends_on: [nope]}\n", engine=False) == [
        "steps[0] 'a': depends_on: unknown step 'nope'"
    ]
    errors = errors_of(HEAD + """
  - {id: a, validator: record_counts, table: t, depends_on: [c]}
  - {id: b, validator: record_counts, table: t, depends_on: [a]}
  - {id: c, validator: record_counts, table: t, depends_on: [b]}
""", engine=False)
    assert len(errors) == 1 and errors[0].startswith("steps[0] 'a': depends_on: dependency cycle a -> c -> b -> a")


def test_field_errors_name_the_step() -> None:
    errors = errors_of(HEAD + """
  - {id: a, validator: record_counts, table: t, severity: fatal}
  - {id: b, validator: record_counts, table: t, tolerance: {percent: 1}}
  - {id: c, validator: record_counts}
  - {id: a, validator: record_counts, table: t, target_connection: elsewhere}
""", engine=False)
    assert "steps[0] 'a': severity: Input should be 'critical', 'warning' or 'info'" in errors
    assert "steps[1] 'b': tolerance.percent: unknown field" in errors
    errors = errors_of(HEAD + """
  - {id: a, validator: record_counts, table: t}
  - {id: a, validator: record_counts, table: t, target_connection: elsewhere}
""", engine=False)
    assert "steps[1] 'a': id: duplicate step id" in errors
    assert "steps[1] 'a': target_connection: unknown connection 'elsewhere'" in errors
    assert errors_of(HEAD + "  - {id: c, validator: record_counts}\n") == [
        "steps[0] 'c': table: field required (validator 'record_counts' compares a table pair)"
    ]


def test_bad_yaml_oversize_and_non_mapping_are_refused() -> None:
    assert errors_of("name: [unclosed\n", engine=False)[0].startswith("not valid YAML at line")
    assert errors_of("- just\n- a list\n", engine=False) == ["a pipeline must be a mapping with 'name' and 'steps'"]
    assert "limit" in errors_of("x" * (MAX_PIPELINE_BYTES + 1), engine=False)[0]
    # safe_load only: a Python object tag is an error, never an object
    assert errors_of("name: !!python/object/apply:os.system ['true']\nsteps: []\n", engine=False)[0].startswith("not valid YAML")


def test_env_references_are_resolved_and_missing_ones_named_without_values() -> None:
    assert expand_env("postgresql://u:${PW}@h/db", {"PW": "s3cret"}) == "postgresql://u:s3cret@h/db"
    with pytest.raises(PipelineError) as caught:
        expand_env("postgresql://u:${OMB_NOT_SET_PW}@h/db", {})
    assert caught.value.errors == ["environment variable OMB_NOT_SET_PW is not set"]


def test_table_names_parse_with_quotes() -> None:
    assert TableRef.parse('db."my.schema".t') == TableRef(database="db", schema_name="my.schema", name="t")
    with pytest.raises(ValueError):
        TableRef.parse("a..b")

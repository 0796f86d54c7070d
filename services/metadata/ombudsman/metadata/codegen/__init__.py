"""Migration code generation from the approved mappings and the source catalog (issue 22). Pure.

`generate_code(platform, plan)` renders one platform's artefacts (plan.py builds the plan; each
platform is its own module with Jinja templates in templates/, identifiers quoted by sqlglot):

- snowflake: target DDL + staging tables, COPY + MERGE by key, stream + task for incremental loads;
- bigquery: target DDL + staging tables, MERGE by key;
- databricks: Delta target DDL + staging tables, MERGE by key, SCD2 MERGE with end-dating;
- beam: a Python pipeline reading the source by JDBC and writing the target by JDBC;
- dbt: a project with sources, one model per mapped table, schema tests and snapshots for SCD2 tables.

Every SQL artefact is parsed by sqlglot for its dialect and the Beam pipeline is compiled before
the bundle is returned (`check`), so a template that renders invalid code fails loudly here. No
artefact holds a connection URL or a secret: connections are the runner's options.
"""

from __future__ import annotations

from collections.abc import Callable

from ombudsman.contracts.replies import Invalid
from ombudsman.metadata.codegen import beam, bigquery, databricks, dbt, snowflake
from ombudsman.metadata.codegen.plan import CodegenPlan, build_plan
from ombudsman.metadata.codegen.render import Artefact, check_sql

__all__ = ["GENERATOR_VERSION", "PLATFORMS", "Artefact", "CodegenPlan", "build_plan", "check", "generate_code"]

GENERATOR_VERSION = "1"  # bump when a template's output changes
PLATFORMS: dict[str, Callable[[CodegenPlan, str], list[Artefact]]] = {
    "snowflake": snowflake.generate,
    "bigquery": bigquery.generate,
    "databricks": databricks.generate,
    "beam": beam.generate,
    "dbt": dbt.generate,
}
SQL_DIALECT = {"snowflake": "snowflake", "bigquery": "bigquery", "databricks": "databricks"}


def require_platform(platform: str) -> None:
    """Invalid naming the supported platforms when `platform` is not one."""
    if platform not in PLATFORMS:
        raise Invalid(f"platform: unknown platform {platform!r} (supported: {', '.join(PLATFORMS)})",
                      {"field": "platform", "supported": list(PLATFORMS)})


def check(platform: str, artefacts: list[Artefact]) -> None:
    """Every SQL file parses for the platform's dialect (sqlglot, error_level=raise) and every Python
    file compiles; a ParseError / SyntaxError otherwise. dbt files are Jinja-templated SQL and YAML:
    their checks are in the tests (and `dbt parse` in the bench)."""
    for artefact in artefacts:
        if artefact.path.endswith(".sql") and platform in SQL_DIALECT:
            check_sql(artefact.content, SQL_DIALECT[platform])
        elif artefact.path.endswith(".py"):
            compile(artefact.content, artefact.path, "exec")


def generate_code(platform: str, plan: CodegenPlan, *, checked: bool = True) -> list[Artefact]:
    """The artefacts of `platform` for `plan`, checked unless `checked` is false (the same plan was
    checked before: checking is two thirds of the time); Invalid for an unknown platform or an empty plan."""
    require_platform(platform)
    if not plan.tables:
        raise Invalid("no approved mapping to generate code from: approve table mappings first",
                      {"field": "mappings"})
    artefacts = PLATFORMS[platform](plan, GENERATOR_VERSION)
    if checked:
        check(platform, artefacts)
    return artefacts

"""What the platform generators share: the Jinja environment (templates/ is package data), identifier
and literal quoting per dialect by sqlglot, and the check every SQL artefact passes before it is
handed out: sqlglot parses each statement for its dialect with `error_level=raise`. Pure."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import re
from collections.abc import Callable, Iterator

import jinja2
import sqlglot
from pydantic import BaseModel
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from ombudsman.metadata.codegen.plan import CodegenPlan, TablePlan

# statements sqlglot keeps as an opaque Command; the body of a task (after its `AS` line) is parsed on its own
OPAQUE_STATEMENTS = re.compile(r"^\s*(CREATE\s+(OR\s+REPLACE\s+)?(STREAM|TASK)|ALTER\s+TASK)\b", re.IGNORECASE)
TASK_BODY = re.compile(r"\n\s*AS\s*\n(.*)\Z", re.DOTALL)


class Artefact(BaseModel):
    """One generated file: its path inside the bundle (safe: [a-z0-9_./-] only) and its text."""

    path: str
    content: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


@functools.cache
def environment() -> jinja2.Environment:
    """Templates of templates/: no HTML escaping (SQL, Python, YAML), undefined names are errors."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("ombudsman.metadata.codegen", "templates"),
                             autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["pyrepr"] = repr
    return env


def render(template: str, **values: object) -> str:
    return environment().get_template(template).render(**values)


class Quoter:
    """Identifiers and string literals of one sqlglot dialect, quoted by sqlglot (a quote inside a name
    is doubled or escaped as the dialect wants, so no name breaks out of its quotes)."""

    def __init__(self, dialect: str):
        self.dialect = dialect

    def ident(self, name: str) -> str:
        return exp.to_identifier(name, quoted=True).sql(dialect=self.dialect)

    def table(self, schema: str, name: str) -> str:
        return f"{self.ident(schema)}.{self.ident(name)}"

    def string(self, text: str) -> str:
        return exp.Literal.string(text).sql(dialect=self.dialect)

    def columns(self, names: list[str], alias: str | None = None) -> list[str]:
        prefix = f"{alias}." if alias else ""
        return [prefix + self.ident(n) for n in names]


def staging_name(table: TablePlan) -> str:
    """The staging table a load lands in before it is merged (same schema as the target)."""
    return f"{table.target_table}__staging"


@contextlib.contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_sql(text: str, dialect: str) -> list[exp.Expression]:
    """Every statement of `text` parsed by sqlglot for `dialect` (ParseError when one does not parse).
    Streams and tasks, which sqlglot keeps as opaque commands, are allowed; a task's body is parsed."""
    with _quiet_sqlglot():  # its warning for each stream and task
        parsed = [e for e in sqlglot.parse(text, read=dialect, error_level=ErrorLevel.RAISE) if e is not None]
    for statement in parsed:
        if isinstance(statement, exp.Command):
            sql = statement.sql(dialect=dialect, comments=False)
            if not OPAQUE_STATEMENTS.match(sql):
                raise sqlglot.errors.ParseError(f"unsupported statement for {dialect}: {sql[:80]}")
            body = TASK_BODY.search(sql)
            if body:
                check_sql(body.group(1), dialect)
    return parsed


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def comment_text(text: str) -> str:
    """`text` made safe inside a one-line `--` or `#` comment (no line break can end the comment)."""
    return _CONTROL.sub(" ", text)


def merge_sql(q: Quoter, table: TablePlan, source: str) -> str:
    """MERGE by the table's key from `source` (a relation, already quoted) into the target; an INSERT of
    every row when the table has no key. No trailing semicolon."""
    columns = [c.target for c in table.columns]
    keys = {k.lower() for k in table.key}
    return render("merge.sql.j2", target=q.table(table.target_schema, table.target_table), source=source,
                  t=q.ident("t"), s=q.ident("s"), key=q.columns(table.key),
                  update=q.columns([c for c in columns if c.lower() not in keys]),
                  columns=q.columns(columns)).strip()


def header(table: TablePlan) -> dict[str, str]:
    """Template values naming the table in comments."""
    return {"title": comment_text(f"{table.source_name} -> {table.target_name}"),
            "source_name": comment_text(table.source_name)}


def ddl_artefact(q: Quoter, plan: CodegenPlan, platform: str,
                 adapt: Callable[[str], str] = lambda statement: statement) -> Artefact:
    """`<platform>/ddl.sql`: CREATE SCHEMA / CREATE TABLE of the mapped tables under their target names
    (target_ddl.py chooses the types; names kept as the approved mappings spell them), each statement
    passed through `adapt`, then a staging table LIKE each target."""
    from ombudsman.metadata.target_ddl import generate_target_ddl

    statements = [adapt(s) for s in generate_target_ddl(plan.target_catalog(), platform,  # type: ignore[arg-type]
                                                        case="preserve").statements]
    for table in plan.tables:
        staging = q.table(table.target_schema, staging_name(table))
        statements.append(f"CREATE TABLE IF NOT EXISTS {staging} LIKE {q.table(table.target_schema, table.target_table)}")
    return Artefact(path=f"{platform}/ddl.sql", content="".join(f"{s};\n\n" for s in statements))


def staged_merge_artefact(q: Quoter, table: TablePlan, platform: str, version: str) -> Artefact:
    """`<platform>/load/<table>.sql`: MERGE by key from the staging table, then empty it."""
    staging = q.table(table.target_schema, staging_name(table))
    load = render("staged_merge.sql.j2", **header(table), version=version, staging=staging,
                  staging_plain=comment_text(f"{table.target_schema}.{staging_name(table)}"),
                  merge=merge_sql(q, table, staging), clear="TRUNCATE TABLE")
    return Artefact(path=f"{platform}/load/{table.slug}.sql", content=load)

"""The validator API: what a validator is, what it gets (ValidationContext), what it returns (StepResult).

A validator is a class with a name, a category, a description and a pydantic `Params` model; its
`run(ctx, params)` builds queries per side as sqlglot expressions, lets the databases aggregate
(`ctx.query_both`), compares the small results in Python and returns a StepResult. `run_validator`
wraps a run: timing, parameter validation, and turning any database error into an `error` result.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlglot import exp

from ombudsman.contracts.pipeline import IdentifierCase, TableRef, Tolerance
from ombudsman.contracts.results import StepResult, StepStatus
from ombudsman.engine.connectors.base import Connector
from ombudsman.engine.normalize import LogicalType, NormalizeOptions
from ombudsman.engine.validators import sql as q

if TYPE_CHECKING:
    from ombudsman.engine.rowdiff.plan import ColumnPair

Side = Literal["source", "target"]
SIDES: tuple[Side, Side] = ("source", "target")
T = TypeVar("T")


class ValidatorParams(BaseModel):
    """Base of every validator's parameter model: unknown parameters are refused."""

    model_config = ConfigDict(extra="forbid")


class NoParams(ValidatorParams):
    """For validators without parameters."""


@dataclass
class Sides(Generic[T]):
    """A pair of values, one per side."""

    source: T
    target: T

    def __getitem__(self, side: Side) -> T:
        return self.source if side == "source" else self.target


U = TypeVar("U")


async def all_settled(*aws: Awaitable[Any]) -> list[Any]:
    """asyncio.gather that waits for every awaitable even when one fails (a query still running must
    not outlive its step, nor its connection be closed or reused under it: DuckDB refuses a second
    call on a busy connection), then raises the first failure."""
    outcomes = await asyncio.gather(*aws, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes


async def both(first: Awaitable[T], second: Awaitable[U]) -> tuple[T, U]:
    """Await two things concurrently as `all_settled` does."""
    outcomes = await all_settled(first, second)
    return outcomes[0], outcomes[1]


class QueryError(Exception):
    """A query failed on one side; the message says which side and what the database said."""

    def __init__(self, side: Side, sql: str, cause: BaseException):
        self.side = side
        self.sql = sql
        self.cause = cause
        detail = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        super().__init__(f"{side} database error: {detail}")


class ValidationInputError(Exception):
    """The step cannot run as configured (missing table, wrong column type ...): an `error` result."""


@dataclass
class ValidationContext:
    """Everything a validator needs about one step: both connections, the table pair, the mapping."""

    source: Connector
    target: Connector
    source_table: TableRef | None = None
    target_table: TableRef | None = None
    column_map: dict[str, str] = field(default_factory=dict)  # source column -> target column
    tolerance: Tolerance = field(default_factory=Tolerance)
    sample_limit: int = 20
    source_filter: str | None = None  # SQL condition in the source's dialect
    target_filter: str | None = None
    step_id: str = ""
    source_case: IdentifierCase = "preserve"  # fold names not given explicitly (see contracts.pipeline)
    target_case: IdentifierCase = "preserve"
    render_also: tuple[str, ...] = ()  # also render every query for these dialects (tests: T-SQL)
    renderings: dict[str, list[str]] = field(default_factory=dict)
    sql: dict[str, list[str]] = field(default_factory=lambda: {"source": [], "target": []})
    normalize: NormalizeOptions | None = None  # canonical rules; default: see `normalize_options`
    _schemas: dict[Side, pa.Schema] = field(default_factory=dict, repr=False)
    _column_types: dict[tuple[Side, str], dict[str, LogicalType]] = field(default_factory=dict, repr=False)

    # --- naming --------------------------------------------------------------------------------
    def connector(self, side: Side) -> Connector:
        return self.source if side == "source" else self.target

    def dialect(self, side: Side) -> str:
        return self.connector(side).dialect

    def fold(self, side: Side, name: str) -> str:
        """A name as the side's identifier case asks (upper / lower / unchanged)."""
        case = self.source_case if side == "source" else self.target_case
        return name.upper() if case == "upper" else name.lower() if case == "lower" else name

    def fold_ref(self, side: Side, ref: TableRef) -> TableRef:
        return TableRef(
            name=self.fold(side, ref.name),
            schema_name=self.fold(side, ref.schema_name) if ref.schema_name else None,
            database=self.fold(side, ref.database) if ref.database else None,
        )

    def table_ref(self, side: Side) -> TableRef:
        ref = self.source_table if side == "source" else (self.target_table or self.source_table)
        if ref is None:
            raise ValidationInputError("this validator needs a table ('table' or 'tables' in the step)")
        return self.fold_ref(side, ref)

    def table(self, side: Side, alias: str | None = None) -> exp.Table:
        """The quoted table expression of one side."""
        return q.table(self.table_ref(side), alias)

    def column_name(self, side: Side, source_name: str) -> str:
        """A column's name on `side` (columns are named by their source name in parameters). Once the
        side's columns are known (`column_types`), a name is found there case-insensitively, as
        row_hash finds it (`status` is Snowflake's `STATUS`)."""
        if side == "target" and source_name in self.column_map:
            return self.column_map[source_name]  # explicitly mapped: exactly as written
        name = self.fold(side, source_name)
        ref = self.source_table if side == "source" else (self.target_table or self.source_table)
        known = self._column_types.get((side, str(self.fold_ref(side, ref)))) if ref is not None else None
        if known:
            from ombudsman.engine.rowdiff.plan import find_column

            return find_column(name, list(known)) or name
        return name

    def col(self, side: Side, source_name: str, table_alias: str | None = None) -> exp.Column:
        return q.col(self.column_name(side, source_name), table_alias)

    def filter(self, side: Side) -> exp.Expr | None:
        """The step's row filter for `side`, parsed in that side's dialect (None when absent)."""
        text = self.source_filter if side == "source" else self.target_filter
        if not text:
            return None
        from ombudsman.engine.sqlguard import UnsafeSql, check_user_condition

        try:  # checked when the pipeline was validated, and again here against the open connection
            return check_user_condition(text, self.dialect(side), f"filters.{side}")
        except UnsafeSql as exc:
            raise ValidationInputError(exc.message) from None

    def where(self, side: Side, *conditions: exp.Expr | None) -> exp.Expr | None:
        """The side's filter AND the given conditions (None when there are none)."""
        return q.and_all([self.filter(side), *conditions])

    def select_from(self, side: Side, *projections: exp.Expr, alias: str | None = None) -> exp.Select:
        """SELECT projections FROM the side's table WHERE the side's filter."""
        select = exp.select(*projections).from_(self.table(side, alias))
        condition = self.where(side)
        return select.where(condition) if condition is not None else select

    # --- running queries ------------------------------------------------------------------------
    def render(self, side: Side, query: exp.Expr) -> tuple[str, list[Any]]:
        """Render for the side's dialect and record the SQL (and the extra renderings asked for)."""
        for dialect in self.render_also:
            self.renderings.setdefault(dialect, []).append(q.render(query, dialect)[0])
        sql, params = q.render(query, self.dialect(side))
        self.sql[side].append(sql)
        return sql, params

    async def query(self, side: Side, query: exp.Expr, *, limit: int | None = None) -> pa.Table:
        """Render `query` for the side's dialect, record the SQL, run it; QueryError on failure."""
        sql, params = self.render(side, query)
        try:
            if limit is None:
                return await self.connector(side).fetch(sql, params)
            return await self.connector(side).fetch(sql, params, limit=limit)
        except QueryError:
            raise
        except Exception as exc:  # any driver error becomes a per-side error
            raise QueryError(side, sql, exc) from exc

    async def query_both(
        self, build: Callable[[Side], exp.Expr], *, limit: int | None = None
    ) -> Sides[pa.Table]:
        """Build the query per side, run both concurrently, return both results."""
        source_query, target_query = build("source"), build("target")
        source, target = await both(
            self.query("source", source_query, limit=limit), self.query("target", target_query, limit=limit)
        )
        return Sides(source, target)

    async def rows_both(
        self, build: Callable[[Side], exp.Expr], *, limit: int | None = None
    ) -> Sides[list[dict[str, Any]]]:
        """Like query_both, the results as lists of dicts with lower-case keys."""
        tables = await self.query_both(build, limit=limit)
        return Sides(to_rows(tables.source), to_rows(tables.target))

    async def schema(self, side: Side) -> pa.Schema:
        """The Arrow schema of the side's table (from a query that returns no rows)."""
        if side not in self._schemas:
            query = exp.select(exp.Star()).from_(self.table(side)).where(exp.false())
            self._schemas[side] = (await self.query(side, query)).schema
        return self._schemas[side]

    async def numeric_columns(self) -> list[str]:
        """Source-side names of the columns that are numeric on the source."""
        schema = await self.schema("source")
        return [f.name for f in schema if is_numeric(f.type)]

    async def all_columns(self) -> list[str]:
        return [f.name for f in await self.schema("source")]

    # --- canonical values: the normalisation row_hash uses, for every cross-side comparison -----
    @property
    def normalize_options(self) -> NormalizeOptions:
        """The canonical rules of this step: `normalize` when set, else the defaults with the step's
        absolute tolerance as the float zero (floats closer than it are equal)."""
        if self.normalize is not None:
            return self.normalize
        return NormalizeOptions(float_absolute=float_absolute(None, self.tolerance.absolute))

    async def column_types(self, side: Side, table: TableRef | None = None) -> dict[str, LogicalType]:
        """Logical type of each column of `table` (default: the step's table) on `side`, by actual
        name: declared types from the catalog, else the Arrow types (as row_hash reads them)."""
        from ombudsman.engine.rowdiff.plan import RowDiffInputError
        from ombudsman.engine.rowdiff.plan import column_types as read_types

        ref = table if table is not None else self.table_ref(side)
        cache_key = (side, str(ref))
        if cache_key not in self._column_types:
            try:
                self._column_types[cache_key] = await read_types(self.connector(side), ref)
            except RowDiffInputError as exc:
                raise ValidationInputError(f"{side}: {exc}") from None
        return self._column_types[cache_key]

    async def compared_columns(
        self, names: Sequence[str], *, tables: Sides[TableRef] | None = None,
        target_names: Sequence[str | None] | None = None,
    ) -> list[ColumnPair]:
        """Columns compared across the sides, resolved as row_hash resolves them: the target's name
        from the step's `columns` mapping (or `target_names`, for another table such as a dimension),
        found case-insensitively on each side, and the logical types the pair is rendered at (a
        CHAR on either side makes both trimmed, a number against a float compares as floats ...).
        `names` are source names; `tables` default to the step's table pair."""
        from ombudsman.engine.rowdiff.plan import pair_column

        refs = tables or Sides(self.table_ref("source"), self.table_ref("target"))
        source_types = await self.column_types("source", refs.source)
        target_types = await self.column_types("target", refs.target)
        pairs = []
        for i, name in enumerate(names):
            given = target_names[i] if target_names is not None and i < len(target_names) else None
            target_name = given or (self.column_name("target", name) if tables is None else name)
            pair = pair_column(name, source_types, target_types, target_name)
            if pair is None:
                side, ref, missing = (
                    ("source", refs.source, name) if pair_column(name, source_types, source_types) is None
                    else ("target", refs.target, target_name)
                )
                raise ValidationInputError(f"{side} table {ref} has no column {missing!r}")
            pairs.append(pair)
        return pairs

    def canonical(self, side: Side, pair: ColumnPair, table_alias: str | None = None) -> exp.Expr:
        """The canonical text of a compared column on `side` (normalize.canonical_expr: CHAR padding
        trimmed, floats at `float_digits`, timestamps in microseconds, ...), computed by the database."""
        return pair.canonical(side, self.dialect(side), self.normalize_options, table_alias)

    def group_key(self, side: Side, pair: ColumnPair, table_alias: str | None = None) -> tuple[exp.Expr, exp.Expr]:
        """(what to SELECT, what to GROUP BY) for grouping by a compared column's canonical text. Where
        the canonical text is one-to-one with the values (integers, booleans, dates, strings kept as
        they are) the database groups by the column itself, which is cheaper, and renders the text
        of each group; otherwise (floats, CHAR, timestamps, folded strings) it groups by the text."""
        text = self.canonical(side, pair, table_alias)
        logical, options = pair.type(side), self.normalize_options
        plain_string = (
            logical.kind == "string" and not logical.fixed_length and not options.trim_strings
            and not options.casefold_strings
        )
        if logical.kind in ("integer", "boolean", "date") or plain_string:
            return text, q.col(pair.column(side), table_alias)
        return text, text.copy()

    # --- results --------------------------------------------------------------------------------
    def location(self) -> dict[str, Any]:
        """Where a finding is: `table` (the source table) and `tables` (both sides), when the step has one."""
        if self.source_table is None:
            return {}
        source = self.fold_ref("source", self.source_table)
        target = self.fold_ref("target", self.target_table or self.source_table)
        return {"table": str(source), "tables": {"source": str(source), "target": str(target)}}

    def result(self, status: StepStatus, message: str, **fields: Any) -> StepResult:
        """A StepResult carrying the SQL run so far; `sample` is cut to the step's sample limit.

        Every result's `details` says where: `table`, `tables` ({source, target}) and `columns` (the
        columns involved: by default `affected_columns`); a failure's or warning's message names the
        table and those columns when it does not already."""
        sample = fields.pop("sample", [])[: self.sample_limit]
        details = dict(fields.pop("details", None) or {})
        for name, value in self.location().items():
            details.setdefault(name, value)
        details.setdefault("columns", list(fields.get("affected_columns") or []))
        if status in ("failed", "warning"):
            message = name_location(message, details.get("table"), details["columns"])
        return StepResult(
            step=self.step_id, validator="", status=status, message=message, sql=self.sql,
            sample=[jsonable(r) for r in sample], details=details, **fields,
        )


def name_location(message: str, table: str | None, columns: Sequence[str]) -> str:
    """`message` with the table and the columns it does not mention yet: `... (table s.t; columns a, b)`."""
    lowered = message.lower()
    parts = []
    if table and table.lower() not in lowered and table.rsplit(".", 1)[-1].lower() not in lowered:
        parts.append(f"table {table}")
    unnamed = [c for c in columns if c.lower() not in lowered]
    if unnamed:
        parts.append(f"column{'s' if len(unnamed) > 1 else ''} {', '.join(unnamed)}")
    return f"{message} ({'; '.join(parts)})" if parts else message


def float_absolute(explicit: float | None, step_absolute: float) -> float:
    """The absolute float tolerance: the parameter, else the step's tolerance, else the default."""
    if explicit is not None:
        return explicit
    return min(step_absolute, 1e6) if step_absolute > 0 else NormalizeOptions().float_absolute


def to_rows(table: pa.Table) -> list[dict[str, Any]]:
    """An Arrow result as dicts keyed by lower-case column name. Nanosecond timestamps (DuckDB's
    TIMESTAMP_NS) arrive truncated to microseconds, as the canonical text truncates them."""
    names = [n.lower() for n in table.column_names]
    if any(pa.types.is_timestamp(f.type) and f.type.unit == "ns" for f in table.schema):
        table = table.cast(pa.schema([
            pa.field(f.name, pa.timestamp("us", f.type.tz), metadata=f.metadata)
            if pa.types.is_timestamp(f.type) and f.type.unit == "ns" else f
            for f in table.schema
        ]), safe=False)
    return [dict(zip(names, row.values(), strict=True)) for row in table.to_pylist()]


def is_numeric(arrow_type: pa.DataType) -> bool:
    return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type)


def jsonable(value: Any) -> Any:
    """Values for StepResult figures and samples: JSON-friendly (decimals as float, dates as ISO)."""
    import datetime
    import decimal

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**63 else float(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


class Validator(ABC):
    """One kind of check. Subclasses set the class attributes and implement `run`."""

    name: ClassVar[str]
    category: ClassVar[str]  # schema | quality | comparison | referential | dimension | fact | metric | timeseries | files
    description: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    needs_table: ClassVar[bool] = True

    @abstractmethod
    async def run(self, ctx: ValidationContext, params: Any) -> StepResult:
        """Run the check on both sides and return its result (use `ctx.result`)."""

    @classmethod
    def user_sql(cls, params: BaseModel) -> list[tuple[str, Side, str]]:
        """The SQL a person wrote in these parameters, as (parameter name, side it runs on, text):
        `validate_pipeline` checks each with `ombudsman.engine.sqlguard` in that side's dialect.
        A validator taking SQL in its parameters must list it here (default: none)."""
        return []

    @classmethod
    def connection_errors(cls, params: BaseModel, kinds: Mapping[Side, str | None]) -> list[str]:
        """What this step cannot do with connections of these kinds (`postgres`, `duckdb`, …; None when a
        connection is known only by name), as `field: message` lines: `validate_pipeline` refuses them
        before any run. Default: nothing."""
        return []

    @classmethod
    def parse_params(cls, raw: Mapping[str, Any] | BaseModel | None) -> BaseModel:
        """The validated parameter model (pydantic ValidationError when wrong)."""
        if isinstance(raw, cls.Params):
            return raw
        return cls.Params.model_validate(dict(raw or {}))

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The catalogue entry: name, category, description and the parameters' JSON schema."""
        return {
            "name": cls.name,
            "category": cls.category,
            "description": cls.description,
            "parameters": cls.Params.model_json_schema(),
        }


def format_params_error(exc: ValidationError) -> list[str]:
    """Pydantic errors as `parameters.<field>: <message>` lines."""
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"])
        message = "field required" if err["type"] == "missing" else err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown parameter"
        lines.append(f"parameters.{path}: {message}" if path else f"parameters: {message}")
    return lines


async def run_validator(
    validator: type[Validator] | Validator,
    ctx: ValidationContext,
    params: Mapping[str, Any] | BaseModel | None = None,
    *,
    timeout_seconds: float | None = None,
) -> StepResult:
    """Run one validator: never raises for bad parameters or database errors (status `error`)."""
    instance = validator() if isinstance(validator, type) else validator
    started = time.perf_counter()
    try:
        model = instance.parse_params(params)
        if timeout_seconds:
            result = await asyncio.wait_for(instance.run(ctx, model), timeout_seconds)
        else:
            result = await instance.run(ctx, model)
    except ValidationError as exc:
        result = ctx.result("error", "invalid parameters: " + "; ".join(format_params_error(exc)))
    except (QueryError, ValidationInputError) as exc:
        result = ctx.result("error", str(exc))
    except TimeoutError:
        result = ctx.result("error", f"timed out after {timeout_seconds:g} s")
    except Exception as exc:  # a validator bug must not take the pipeline down
        result = ctx.result("error", f"{type(exc).__name__}: {exc}")
    result.validator = instance.name
    result.step = ctx.step_id
    result.duration_seconds = round(time.perf_counter() - started, 6)
    return result


# --- registry -------------------------------------------------------------------------------------
ENTRY_POINT_GROUP = "ombudsman.validators"
_REGISTRY: dict[str, type[Validator]] = {}
_LOAD_ERRORS: dict[str, str] = {}
_loaded = False


def register(cls: type[Validator]) -> type[Validator]:
    """Class decorator: make a validator known under its `name` (the last registration wins)."""
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__name__} has no 'name'")
    _REGISTRY[cls.name] = cls
    return cls


def _load_entry_points() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plug-in must not hide the others
            _LOAD_ERRORS[ep.name] = f"{type(exc).__name__}: {exc}"
            continue
        if isinstance(obj, type) and issubclass(obj, Validator):
            _REGISTRY.setdefault(obj.name, obj)
            if obj.name != ep.name:
                _REGISTRY.setdefault(ep.name, obj)


def validators() -> dict[str, type[Validator]]:
    """Every known validator by name: built-ins and plug-ins of the `ombudsman.validators` group."""
    _load_entry_points()
    return dict(sorted(_REGISTRY.items()))


def get_validator(name: str) -> type[Validator]:
    """The validator called `name`; KeyError naming the known ones when there is none."""
    known = validators()
    if name not in known:
        hint = f" (it failed to load: {_LOAD_ERRORS[name]})" if name in _LOAD_ERRORS else ""
        raise KeyError(f"unknown validator {name!r}{hint}")
    return known[name]


def load_errors() -> dict[str, str]:
    """Entry points that failed to load, with the reason."""
    _load_entry_points()
    return dict(_LOAD_ERRORS)


def sample_rows(rows: Sequence[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    return [jsonable(r) for r in rows[:limit]]

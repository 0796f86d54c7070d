"""The pipeline spec: a YAML file naming connections and validation steps run as a DAG.

Pure data: importable without the engine. Checks here are structural (fields, unique step ids,
known connections, known dependencies, no cycles); each step's `parameters` are validated against
its validator's parameter model by the engine (`ombudsman.engine.pipeline.validate_pipeline`).

```yaml
name: orders migration
connections:
  source: duckdb:///source.duckdb
  target: ${TARGET_URL}            # resolved from the environment when the pipeline runs
defaults: {tolerance: {percentage: 0.1}}
steps:
  - id: counts
    validator: record_counts
    table: main.orders             # or tables: {source: main.orders, target: PUBLIC.ORDERS}
  - id: sums
    validator: metric_sums
    table: main.orders
    parameters: {measures: [amount], group_by: [region]}
    depends_on: [counts]
    skip_on_failure: true
```
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ombudsman.contracts.replies import Invalid

MAX_PIPELINE_BYTES = 1024 * 1024
# libyaml's safe loader when PyYAML was built with it (same documents, ~10x faster than the pure
# Python one: saving 900 generated pipelines parsed each twice in pure Python took minutes)
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load_yaml(text: str | bytes) -> Any:
    """`yaml.safe_load`, with libyaml when available."""
    return yaml.load(text, Loader=SAFE_LOADER)


SAFE_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def safe_dump_yaml(data: Any) -> str:
    """`yaml.safe_dump` as pipelines are written (keys in order, Unicode, width 120), with libyaml
    when available (the pure Python emitter was most of generating 900 pipelines)."""
    return yaml.dump(data, Dumper=SAFE_DUMPER, sort_keys=False, allow_unicode=True, width=120)
Severity = Literal["critical", "warning", "info"]
# How names in a step are written on a side: as given, or folded (Snowflake stores unquoted names in
# upper case: `upper` lets a step name `orders.amount` reach ORDERS.AMOUNT; mapped names are kept).
IdentifierCase = Literal["preserve", "upper", "lower"]
_STEP_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


_STEP_ERROR = re.compile(r"^(steps\[\d+\])(?: '[^']*')?: ([A-Za-z0-9_.\[\]-]+): (.*)$", re.S)
_FIELD_ERROR = re.compile(r"^([A-Za-z0-9_.\[\]-]+): (.*)$", re.S)


def error_field(error: str) -> dict[str, str]:
    """A pipeline error line as a `{field, message}` item: `steps[2] 'c': parameters.key: field required`
    -> `{field: steps[2].parameters.key, message: "step 'c': field required"}`."""
    step = _STEP_ERROR.match(error)
    if step:
        named = error[len(step.group(1)):].split(":", 1)[0].strip()
        return {"field": f"{step.group(1)}.{step.group(2)}",
                "message": f"step {named}: {step.group(3)}" if named else step.group(3)}
    plain = _FIELD_ERROR.match(error)
    if plain:
        return {"field": plain.group(1), "message": plain.group(2)}
    return {"field": "yaml", "message": error}


class PipelineError(Invalid):
    """A pipeline that cannot be loaded or run; `errors` lists every problem, each naming its place
    (also as `fields`: `{field, message}` items, the error shape of every 422)."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("invalid pipeline: " + "; ".join(errors),
                         {"errors": errors, "fields": [error_field(e) for e in errors]})


class TableRef(BaseModel):
    """A table, optionally qualified by schema and database: `db.schema.table`, `schema.table`, `table`."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    schema_name: str | None = None
    database: str | None = None

    @classmethod
    def parse(cls, text: str) -> TableRef:
        """Split a dotted name (double-quoted parts may contain dots: `"my.schema".orders`)."""
        parts = [p.strip() for p in _split_dotted(text.strip())]
        if not parts or any(not p for p in parts) or len(parts) > 3:
            raise ValueError(f"not a table name: {text!r} (expected schema.table)")
        name = parts[-1]
        schema = parts[-2] if len(parts) >= 2 else None
        database = parts[-3] if len(parts) == 3 else None
        return cls(name=name, schema_name=schema, database=database)

    def __str__(self) -> str:
        return ".".join(p for p in (self.database, self.schema_name, self.name) if p)


def _split_dotted(text: str) -> list[str]:
    parts: list[str] = []
    current = ""
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _table(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return TableRef.parse(value)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
    return value


TableName = Annotated[TableRef, BeforeValidator(_table)]


class Tolerance(BaseModel):
    """How far apart two figures may be and still match: within `absolute` OR within `percentage` %."""

    model_config = ConfigDict(extra="forbid")

    absolute: float = Field(default=0.0, ge=0)
    percentage: float = Field(default=0.0, ge=0, le=100)

    def within(self, source: float | None, target: float | None) -> bool:
        """True when the two values match under this tolerance (None only matches None)."""
        if source is None or target is None:
            return source is None and target is None
        diff = abs(float(source) - float(target))
        if diff <= self.absolute:
            return True
        base = max(abs(float(source)), abs(float(target)))
        return base > 0 and diff / base * 100.0 <= self.percentage


class TablePair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: TableName
    target: TableName | None = None  # the source's name when omitted


class Filters(BaseModel):
    """Row filters (SQL conditions in each side's dialect), applied to every query of the step."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = None
    target: str | None = None


class Connection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1)  # a URL or ${ENV_VAR} references; never echoed back in errors

    def resolve(self, env: Mapping[str, str] | None = None) -> str:
        """The URL with every `${VAR}` replaced from `env` (default: os.environ)."""
        return expand_env(self.url, env)


def expand_env(text: str, env: Mapping[str, str] | None = None) -> str:
    """Replace `${VAR}` references; a missing variable is an error naming it (not its value)."""
    env = os.environ if env is None else env
    missing = [m.group(1) for m in _ENV_REF.finditer(text) if m.group(1) not in env]
    if missing:
        raise PipelineError([f"environment variable {name} is not set" for name in missing])
    return _ENV_REF.sub(lambda m: env[m.group(1)], text)


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_connection: str = "source"
    target_connection: str = "target"
    severity: Severity = "critical"
    tolerance: Tolerance = Field(default_factory=Tolerance)
    sample_limit: int = Field(default=20, ge=0, le=100)
    # columns whose values are shown in events although their names look personal (explicit opt-out
    # of masking, see contracts.privacy); the full values are in the executor's private store anyway
    unmasked_columns: list[str] = Field(default_factory=list)
    skip_on_failure: bool = False
    timeout_seconds: float = Field(default=600.0, gt=0)
    source_identifier_case: IdentifierCase = "preserve"
    target_identifier_case: IdentifierCase = "preserve"
    # `run`: each connection pinned once at run start and read there by every step (engine.snapshots);
    # `step`: each row_hash step pins its own reads, other steps read the latest committed state
    snapshot: Literal["run", "step"] = "run"


class Step(BaseModel):
    """One validation: a validator applied to a table pair with its parameters."""

    model_config = ConfigDict(extra="forbid")

    id: str
    validator: str = Field(min_length=1)
    description: str | None = None
    table: TableName | None = None  # shorthand: the same name on both sides
    tables: TablePair | None = None
    source_connection: str | None = None
    target_connection: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)  # source column -> target column
    filters: Filters | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    tolerance: Tolerance | None = None
    severity: Severity | None = None
    sample_limit: int | None = Field(default=None, ge=0, le=100)
    unmasked_columns: list[str] = Field(default_factory=list)  # added to the defaults' list
    depends_on: list[str] = Field(default_factory=list)
    skip_on_failure: bool | None = None
    timeout_seconds: float | None = Field(default=None, gt=0)
    source_identifier_case: IdentifierCase | None = None
    target_identifier_case: IdentifierCase | None = None

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not _STEP_ID.match(value):
            raise ValueError("must be 1-128 letters, digits, '_', '-' or '.'")
        return value

    @field_validator("depends_on", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_table_form(self) -> Step:
        if self.table is not None and self.tables is not None:
            raise ValueError("give either 'table' or 'tables', not both")
        return self

    @property
    def source_table(self) -> TableRef | None:
        if self.tables is not None:
            return self.tables.source
        return self.table

    @property
    def target_table(self) -> TableRef | None:
        if self.tables is not None:
            return self.tables.target or self.tables.source
        return self.table


class PipelineSpec(BaseModel):
    """A named set of validation steps over named connections."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str | None = None
    connections: dict[str, Connection] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    steps: list[Step] = Field(min_length=1)

    @field_validator("connections", mode="before")
    @classmethod
    def _url_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"url": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    # Effective settings of a step (its own value, else the pipeline's default).
    def source_connection(self, step: Step) -> str:
        return step.source_connection or self.defaults.source_connection

    def target_connection(self, step: Step) -> str:
        return step.target_connection or self.defaults.target_connection

    def tolerance(self, step: Step) -> Tolerance:
        return step.tolerance or self.defaults.tolerance

    def severity(self, step: Step) -> Severity:
        return step.severity or self.defaults.severity

    def sample_limit(self, step: Step) -> int:
        return self.defaults.sample_limit if step.sample_limit is None else step.sample_limit

    def unmasked_columns(self, step: Step) -> list[str]:
        """Columns of the step whose sample values are not masked in events (pipeline and step lists)."""
        return sorted({*self.defaults.unmasked_columns, *step.unmasked_columns})

    def skip_on_failure(self, step: Step) -> bool:
        return self.defaults.skip_on_failure if step.skip_on_failure is None else step.skip_on_failure

    def timeout(self, step: Step) -> float:
        return step.timeout_seconds or self.defaults.timeout_seconds

    def identifier_case(self, step: Step, side: Literal["source", "target"]) -> IdentifierCase:
        if side == "source":
            return step.source_identifier_case or self.defaults.source_identifier_case
        return step.target_identifier_case or self.defaults.target_identifier_case

    def topological_order(self) -> list[str]:
        """Step ids, each after its dependencies (spec order among equals)."""
        done: list[str] = []
        remaining = list(self.steps)
        while remaining:
            ready = [s for s in remaining if all(d in done for d in s.depends_on)]
            if not ready:
                raise PipelineError(_cycle_errors(self))
            done.extend(s.id for s in ready)
            remaining = [s for s in remaining if s.id not in done]
        return done


def step_label(index: int, step_id: str | None) -> str:
    """How errors name a step: `steps[3] 'orders_sums'`."""
    return f"steps[{index}] {step_id!r}" if step_id else f"steps[{index}]"


def _structural_errors(spec: PipelineSpec) -> list[str]:
    errors: list[str] = []
    seen: set[str] = set()
    ids = {s.id for s in spec.steps}
    for index, step in enumerate(spec.steps):
        label = step_label(index, step.id)
        if step.id in seen:
            errors.append(f"{label}: id: duplicate step id")
        seen.add(step.id)
        for dep in step.depends_on:
            if dep not in ids:
                errors.append(f"{label}: depends_on: unknown step {dep!r}")
            elif dep == step.id:
                errors.append(f"{label}: depends_on: a step cannot depend on itself")
        for field, name in (
            ("source_connection", spec.source_connection(step)),
            ("target_connection", spec.target_connection(step)),
        ):
            if name not in spec.connections:
                where = field if getattr(step, field) else f"{field} (default)"
                errors.append(f"{label}: {where}: unknown connection {name!r}")
    if not errors:
        errors.extend(_cycle_errors(spec))
    return errors


def _cycle_errors(spec: PipelineSpec) -> list[str]:
    """Name every step that sits on a dependency cycle."""
    graph = {s.id: list(s.depends_on) for s in spec.steps}
    state: dict[str, int] = {}  # 1 visiting, 2 done
    on_cycle: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep] if dep in path else [node, dep]
                on_cycle.append(" -> ".join(cycle))
            elif state.get(dep) is None and dep in graph:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
    index = {s.id: i for i, s in enumerate(spec.steps)}
    errors = []
    for cycle in on_cycle:
        first = cycle.split(" -> ")[0]
        errors.append(f"{step_label(index[first], first)}: depends_on: dependency cycle {cycle}")
    return errors


def _format_validation_error(exc: ValidationError, raw: Any) -> list[str]:
    errors = []
    steps = raw.get("steps") if isinstance(raw, dict) else None
    for err in exc.errors():
        loc = list(err["loc"])
        prefix = ""
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            index = loc[1]
            step_id = None
            if isinstance(steps, list) and index < len(steps) and isinstance(steps[index], dict):
                raw_id = steps[index].get("id")
                step_id = str(raw_id) if raw_id is not None else None
            prefix = step_label(index, step_id)
            loc = loc[2:]
        path = ".".join(str(p) for p in loc if not str(p).startswith("function-"))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "field required"
        elif err["type"] == "extra_forbidden":
            message = "unknown field"
        head = ": ".join(p for p in (prefix, path) if p)
        errors.append(f"{head}: {message}" if head else message)
    return errors


def parse_pipeline(data: Any) -> PipelineSpec:
    """Validate already-parsed pipeline data; PipelineError names every problem and its place."""
    if not isinstance(data, dict):
        raise PipelineError(["a pipeline must be a mapping with 'name' and 'steps'"])
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as exc:
        raise PipelineError(_format_validation_error(exc, data)) from None
    errors = _structural_errors(spec)
    if errors:
        raise PipelineError(errors)
    return spec


def load_pipeline(text: str | bytes) -> PipelineSpec:
    """Parse pipeline YAML (safe loader only, at most 1 MiB) into a checked PipelineSpec."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_PIPELINE_BYTES:
        raise PipelineError([f"pipeline is {size} bytes; the limit is {MAX_PIPELINE_BYTES}"])
    try:
        data = safe_load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PipelineError([f"not valid YAML{where}: {problem}"]) from None
    return parse_pipeline(data)


def load_pipeline_file(path: str | os.PathLike[str]) -> PipelineSpec:
    """Read and load a pipeline file; a missing or oversized file is a PipelineError."""
    try:
        size = os.path.getsize(path)
        if size > MAX_PIPELINE_BYTES:
            raise PipelineError([f"{os.fspath(path)} is {size} bytes; the limit is {MAX_PIPELINE_BYTES}"])
        with open(path, "rb") as handle:
            return load_pipeline(handle.read())
    except OSError as exc:
        raise PipelineError([f"cannot read {os.fspath(path)}: {exc.strerror}"]) from None

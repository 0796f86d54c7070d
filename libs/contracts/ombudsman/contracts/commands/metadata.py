"""Commands and queries of the metadata service: mappings (suggest, approve, reject, exclude),
keys (discover, confirm, override) and the language model's drafts (column descriptions, a failed
step explained, a custom_query check). The gateway's bodies derive from the `*Base` models; the
commands add the project."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from ombudsman.contracts.privacy import strip_values

Side = Literal["source", "target"]

PROJECT_ID = r"^[A-Za-z0-9_-]+$"


class MetadataProjectRef(BaseModel):
    """Commands and queries naming one project's metadata."""

    project_id: str = Field(min_length=1, max_length=100, pattern=PROJECT_ID)


class SideRef(MetadataProjectRef):
    """Commands and queries naming one side of a project's metadata."""

    side: Side = "source"


DEFAULT_TABLE_THRESHOLD, DEFAULT_COLUMN_THRESHOLD, DEFAULT_SUGGESTIONS = 0.5, 0.55, 100


class SuggestBase(BaseModel):
    """How mappings are suggested: schema pairs given by hand, and the similarity thresholds (what is
    not given, or null, is the service's default)."""

    schema_map: dict[str, str] | None = None
    table_threshold: float | None = Field(default=None, ge=0, le=1)
    column_threshold: float | None = Field(default=None, ge=0, le=1)
    limit: int | None = Field(default=None, ge=0, le=1000,
                              description="table suggestions in the reply (default 100; the rest: GET …/suggestions)")


class Suggest(MetadataProjectRef, SuggestBase):
    """Command `metadata.suggest`."""

    def thresholds(self) -> tuple[float, float]:
        """(table, column) similarity thresholds, the defaults for what was not given."""
        table = DEFAULT_TABLE_THRESHOLD if self.table_threshold is None else self.table_threshold
        column = DEFAULT_COLUMN_THRESHOLD if self.column_threshold is None else self.column_threshold
        return table, column

    def suggestions_in_reply(self) -> int:
        """How many table suggestions the reply carries."""
        return DEFAULT_SUGGESTIONS if self.limit is None else self.limit


class MappingPair(BaseModel):
    """A source table and the target table it maps to."""

    source_table: str = Field(min_length=1, max_length=400)
    target_table: str = Field(min_length=1, max_length=400)


class MappingDecisionBase(MappingPair):
    """A person's decision on a pair: the column map and confidence (approval only)."""

    columns: dict[str, str] | None = Field(default=None,
                                           description="source column -> target column; default: the suggestion's")
    confidence: float | None = Field(default=None, ge=0, le=1)


class ApproveMapping(MetadataProjectRef, MappingDecisionBase):
    """Command `metadata.approve` (`automatic`: approved by automate above its threshold)."""

    automatic: bool = False


class RejectMapping(MetadataProjectRef, MappingPair):
    """Command `metadata.reject`."""


class ExclusionBase(BaseModel):
    """Exclude a source table (no `columns`) or some of its columns from coverage, with a note saying
    why; `withdraw` takes an exclusion back."""

    source_table: str = Field(min_length=1, max_length=400, description="schema.table of the source")
    columns: list[str] = Field(default_factory=list, max_length=2000,
                               description="columns to exclude; none: the whole table")
    note: str = Field(default="", max_length=2000, description="why (required unless withdraw)")
    withdraw: bool = Field(default=False, description="take the exclusion back")


class ExcludeMapping(MetadataProjectRef, ExclusionBase):
    """Command `metadata.exclude`."""


class AutomateBase(BaseModel):
    """What an automate job runs with: the sides' connections and schemas, whether to extract them,
    the confidence above which suggested mappings are approved, and schema pairs given by hand."""

    source_connection: str = Field(default="source", min_length=1, max_length=63)
    target_connection: str = Field(default="target", min_length=1, max_length=63)
    source_schemas: list[str] | None = Field(default=None, max_length=200)
    target_schemas: list[str] | None = Field(default=None, max_length=200)
    extract: bool = Field(default=True, description="False: use catalogs already extracted or uploaded")
    auto_approve_threshold: float = Field(default=0.8, ge=0, le=1)
    schema_map: dict[str, str] | None = None


# --- keys ---------------------------------------------------------------------------------------


class KeyTable(BaseModel):
    """A table of one side."""

    table: str = Field(min_length=3, max_length=400, description="schema.table as the side's catalog names it")
    side: Side = "source"


class KeyRef(MetadataProjectRef, KeyTable):
    """A table of one side of a project."""


class ConfirmKeyBase(KeyTable):
    """A person confirms the discovered key of a table."""

    columns: list[str] | None = Field(default=None, max_length=64, description="the discovered key, as a check")


class ConfirmKey(MetadataProjectRef, ConfirmKeyBase):
    """Command `metadata.confirm_key`."""


class OverrideKeyBase(KeyTable):
    """A person sets a table's key by hand."""

    columns: list[str] = Field(min_length=1, max_length=64, description="the key's columns, in that side's names")
    note: str = Field(default="", max_length=2000, description="why")


class OverrideKey(MetadataProjectRef, OverrideKeyBase):
    """Command `metadata.override_key`."""


class DiscoverKeysBase(BaseModel):
    """Which tables' keys to discover, and how many rows to sample."""

    table: str | None = Field(default=None, max_length=400, description="one source table (default: every one)")
    sides: list[Side] = Field(default_factory=lambda: list[Side](["source", "target"]), min_length=1, max_length=2)
    sample_rows: int = Field(default=100_000, ge=1, le=100_000_000)


class DiscoverKeys(MetadataProjectRef, DiscoverKeysBase):
    """Command `metadata.discover_keys`."""

    timeout_seconds: float = Field(default=300.0, gt=0, le=3600)


# --- catalogs -----------------------------------------------------------------------------------

# The spellings of the dialects DDL is parsed in (metadata.ddl.DIALECT_ALIASES maps each onto sqlglot's).
DdlDialect = Literal["tsql", "sqlserver", "mssql", "snowflake", "postgres", "postgresql"]
# The platforms target DDL is generated for (metadata.target_ddl, types by the engine's type map).
TargetDdlKind = Literal["snowflake", "postgres", "bigquery", "databricks"]
# DDL in a JSON body travels inline in one NATS message (1 MiB by default): larger catalogs go as a
# file (POST /projects/{id}/ddl/file) through the shared upload folder.
MAX_DDL_CHARS = 900 * 1024


class ExtractOptions(BaseModel):
    """Which connection a side is extracted over, and which of its schemas."""

    connection: str | None = Field(default=None, max_length=63, description="default: the connection named like the side")
    schemas: list[str] | None = Field(default=None, max_length=200)


class ExtractCreate(ExtractOptions):
    """The body extracting one side's catalog, or both sides'."""

    side: Side | None = Field(default=None, description="source, target, or both when left out")


class Extract(SideRef, ExtractOptions):
    """Command `metadata.extract` (one side)."""

    timeout_seconds: float = Field(default=120.0, gt=0, le=3600)


class DdlOptions(BaseModel):
    """How uploaded DDL is read: its side, dialect, and the names unqualified tables take."""

    side: Side
    dialect: DdlDialect
    database: str | None = Field(default=None, max_length=200)
    default_schema: str | None = Field(default=None, max_length=200)


class DdlCreate(DdlOptions):
    """The body uploading DDL inline."""

    ddl: str = Field(min_length=1, max_length=MAX_DDL_CHARS,
                     description="CREATE TABLE statements (at most 900 KiB here: upload larger DDL as a file, /ddl/file)")


class UploadDdl(MetadataProjectRef, DdlOptions):
    """Command `metadata.upload_ddl`: the statements inline (`ddl`) or a file the gateway left in the
    shared upload folder (`path`), exactly one of them."""

    ddl: str | None = Field(default=None, min_length=1, max_length=MAX_DDL_CHARS)
    path: str | None = Field(default=None, min_length=1, max_length=4096,
                             description="a DDL file in the upload folder shared with the gateway")


# --- the language model's drafts (issue 22) -------------------------------------------------------
# What goes to the model is names, types and counts: never a row's value (contracts.privacy).


class DescribeColumnsBase(KeyTable):
    """Ask the language model to draft a description of each column of a table (or of `columns`)."""

    columns: list[str] | None = Field(default=None, max_length=2000, description="only these columns")


class DescribeColumns(MetadataProjectRef, DescribeColumnsBase):
    """Command `metadata.describe_columns`."""


class DescriptionRef(KeyTable):
    """One column of a table of one side."""

    column: str = Field(min_length=1, max_length=400)


class ApproveDescriptionBase(DescriptionRef):
    """A person approves the model's draft description of a column, or writes their own."""

    description: str | None = Field(default=None, min_length=1, max_length=2000,
                                    description="the description to keep (default: the model's draft)")


class ApproveDescription(MetadataProjectRef, ApproveDescriptionBase):
    """Command `metadata.approve_description`."""


class RejectDescription(MetadataProjectRef, DescriptionRef):
    """Command `metadata.reject_description`."""


class DescriptionsQuery(MetadataProjectRef):
    """Query `metadata.descriptions`: the approved and suggested column descriptions of one side
    (or of one table)."""

    side: Side = "source"
    table: str | None = Field(default=None, min_length=3, max_length=400)


# A figure of a step that is a count (rows, nulls, duplicates …) by its name: only these go to the model.
_COUNT_NAME = re.compile(r"(rows|count|nulls|duplicate|orphan|missing|only_in|outside|violation|outlier|periods|"
                         r"groups|distinct|buckets|tables|changed|differ|mismatch|extra|errors|checks)", re.I)
Figures = dict[str, int | dict[str, int]]


def _counts(figures: Any, names: set[str]) -> Figures:
    """The counts among a step's figures: integers under a count's name, or {name: integer} under
    one where each name is one of `names` (the step's columns, `source`, `target`): a count per
    value (a domain check's) is keyed by values, so it is left out."""
    found: Figures = {}
    for name, value in (figures or {}).items() if isinstance(figures, dict) else ():
        if not _COUNT_NAME.search(str(name)) or isinstance(value, bool):
            continue
        if isinstance(value, int):
            found[str(name)[:200]] = value
        elif isinstance(value, dict):
            inner = {str(k)[:200]: v for k, v in value.items()
                     if str(k).lower() in names and isinstance(v, int) and not isinstance(v, bool)}
            if inner:
                found[str(name)[:200]] = dict(list(inner.items())[:200])
    return found


class StepFacts(BaseModel):
    """What the language model is told about a failed step: its validator, status and severity,
    table and column names, counts, and its message with every value stripped. Never a sample row,
    never SQL (it may carry literals), never a figure that is not a count."""

    step: str = Field(min_length=1, max_length=128)
    validator: str = Field(default="", max_length=100)
    status: str = Field(default="", max_length=20)
    severity: str | None = Field(default=None, max_length=20)
    table: str | None = Field(default=None, max_length=400)
    message: str = Field(default="", max_length=1000)
    match_percentage: float | None = None
    affected_columns: list[str] = Field(default_factory=list, max_length=200)
    source: Figures = Field(default_factory=dict)
    target: Figures = Field(default_factory=dict)
    details: Figures = Field(default_factory=dict)

    @model_validator(mode="after")
    def _no_values(self) -> StepFacts:
        keep = [*self.affected_columns, *(self.table or "").split(".")]
        self.message = strip_values(self.message, keep=keep)
        self.affected_columns = [c[:200] for c in self.affected_columns]
        return self

    @classmethod
    def of_step(cls, step: dict[str, Any]) -> StepFacts:
        """The facts of one step as the executor's `step` query gives it ({step, validator,
        table_name, status, message, severity, result: StepResult})."""
        result: dict[str, Any] = step["result"] if isinstance(step.get("result"), dict) else {}
        columns = [str(c) for c in result.get("affected_columns") or [] if isinstance(c, str)]
        names = {c.lower() for c in columns} | {"source", "target"}
        percentage = result.get("match_percentage")
        return cls(step=str(step.get("step") or result.get("step") or "?")[:128],
                   validator=str(step.get("validator") or result.get("validator") or "")[:100],
                   status=str(step.get("status") or result.get("status") or "")[:20],
                   severity=str(step.get("severity") or result.get("severity") or "")[:20] or None,
                   table=(str(step["table_name"])[:400] if step.get("table_name") else None),
                   message=strip_values(str(step.get("message") or result.get("message") or ""),
                                        keep=[*columns, *str(step.get("table_name") or "").split(".")]),
                   match_percentage=percentage if isinstance(percentage, int | float) else None,
                   affected_columns=columns[:200], source=_counts(result.get("source"), names),
                   target=_counts(result.get("target"), names), details=_counts(result.get("details"), names))


class ExplainStep(MetadataProjectRef):
    """Command `metadata.explain_step`: explain a failed step of a run of the project in plain words."""

    run_id: str = Field(min_length=1, max_length=100)
    facts: StepFacts


class DraftCheckBase(BaseModel):
    """A sentence saying what to check; the model drafts a custom_query step comparing both sides."""

    sentence: str = Field(min_length=3, max_length=2000, description="what to check, in plain words")
    tables: list[str] | None = Field(default=None, max_length=50,
                                     description="source tables (schema.table) the check is about; "
                                                 "default: the approved mappings")


class DraftCheck(MetadataProjectRef, DraftCheckBase):
    """Command `metadata.draft_check`."""

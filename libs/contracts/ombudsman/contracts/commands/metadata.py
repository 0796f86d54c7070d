"""Commands and queries of the metadata service: mappings (suggest, approve, reject, exclude) and
keys (discover, confirm, override). The gateway's bodies derive from the `*Base` models; the
commands add the project."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

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

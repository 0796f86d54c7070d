"""Every event type Ombudsman publishes, by owning service.

The stream `OMB_EVENTS` is a public interface: other teams subscribe to these. Change a type by
bumping its `schema_version` and registering an upcaster (see registry.py), never in place.

Stream types: project, connection, metadata, mapping, automate, pipeline, run, batch, schedule,
discrepancy, workload, user, alert, audit.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ombudsman.contracts.registry import Event, event, upcaster

# --- projects service -----------------------------------------------------------------------

DatabaseKind = Literal["sqlserver", "snowflake", "postgres", "duckdb"]


@event
class ProjectCreated(Event):
    stream_type = "project"
    project_id: str
    name: str
    description: str = ""
    source_database: str | None = None
    source_schemas: list[str] = Field(default_factory=list)
    target_database: str | None = None
    target_schemas: list[str] = Field(default_factory=list)
    members: list[str] = Field(default_factory=list)


@event
class ProjectUpdated(Event):
    stream_type = "project"
    project_id: str
    changes: dict[str, Any]


@event
class ProjectDeleted(Event):
    stream_type = "project"
    project_id: str


@event
class ProjectMemberAdded(Event):
    stream_type = "project"
    project_id: str
    user_id: str


@event
class ProjectMemberRemoved(Event):
    """A user no longer belongs to the project (their access to it ends with this event)."""

    stream_type = "project"
    project_id: str
    user_id: str


@event
class ConnectionAdded(Event):
    """A named connection of a project. The URL is stored with its secret masked; the secret itself
    lives encrypted in the projects service's own table, never in an event."""

    stream_type = "project"
    project_id: str
    name: str
    kind: DatabaseKind
    role: Literal["source", "target", "other"] = "other"
    url_masked: str


@event
class ConnectionRemoved(Event):
    stream_type = "project"
    project_id: str
    name: str


@event
class ConnectionTested(Event):
    stream_type = "project"
    project_id: str
    name: str
    ok: bool
    server_version: str | None = None
    latency_ms: float | None = None
    error: str | None = None


@event
class SchemaMappingSet(Event):
    stream_type = "project"
    project_id: str
    source_schema: str
    target_schema: str


@event
class PipelineSaved(Event):
    stream_type = "project"
    project_id: str
    pipeline_id: str
    name: str
    yaml: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)


@event
class PipelineDeleted(Event):
    stream_type = "project"
    project_id: str
    pipeline_id: str


# --- metadata service -----------------------------------------------------------------------


@event
class MetadataExtractionStarted(Event):
    stream_type = "metadata"
    project_id: str
    side: Literal["source", "target"]
    schemas: list[str] = Field(default_factory=list)


@event
class MetadataExtracted(Event):
    """A summary of an extracted catalog; the catalog itself is the metadata service's projection."""

    stream_type = "metadata"
    project_id: str
    side: Literal["source", "target"]
    schemas: int
    tables: int
    columns: int
    changes: dict[str, Any] = Field(default_factory=dict)


@event
class MetadataExtractionFailed(Event):
    stream_type = "metadata"
    project_id: str
    side: Literal["source", "target"]
    error: str


@event
class DdlUploaded(Event):
    stream_type = "metadata"
    project_id: str
    side: Literal["source", "target"]
    dialect: str
    tables: int


@event
class MappingSuggested(Event):
    stream_type = "mapping"
    project_id: str
    suggestions: int
    unmapped_source: int = 0
    unmapped_target: int = 0


@event
class MappingApproved(Event):
    stream_type = "mapping"
    project_id: str
    source_table: str
    target_table: str
    columns: dict[str, str] = Field(default_factory=dict)
    confidence: float | None = None
    automatic: bool = False


@event
class MappingRejected(Event):
    stream_type = "mapping"
    project_id: str
    source_table: str
    target_table: str


@event
class MappingExcluded(Event):
    """A person excluded a source table (no `columns`) or some of its columns from the migration's
    coverage, saying why; the coverage check no longer reports them. `withdrawn`: the exclusion of
    those columns (or of the table) is taken back."""

    stream_type = "mapping"
    project_id: str
    source_table: str
    columns: list[str] = Field(default_factory=list)
    note: str = ""
    withdrawn: bool = False


@event
class RelationshipsInferred(Event):
    stream_type = "metadata"
    project_id: str
    relationships: int


@event
class TablesClassified(Event):
    stream_type = "metadata"
    project_id: str
    classes: dict[str, int] = Field(default_factory=dict)


@event
class PipelinesGenerated(Event):
    stream_type = "metadata"
    project_id: str
    pipeline_ids: list[str]


@event
class CodeGenerated(Event):
    """Migration code was generated for a platform from the approved mappings (issue 22). It names what
    was handed out, each file by path and sha256, and the generator's version; the code itself is not
    kept (the same inputs and version give the same files), and no file holds a connection URL."""

    stream_type = "metadata"
    project_id: str
    platform: str
    generator_version: str
    tables: int
    artefacts: list[dict[str, str]] = Field(default_factory=list)  # {path, sha256}


# --- executor service -----------------------------------------------------------------------

StepStatus = Literal["passed", "failed", "warning", "error", "skipped"]


@event
class RunQueued(Event):
    stream_type = "run"
    run_id: str
    project_id: str | None = None
    pipeline_id: str | None = None
    pipeline_name: str = ""
    batch_id: str | None = None
    steps: list[str] = Field(default_factory=list)
    # executor additions: the pipeline as run (URLs may be ${VAR} or project connection names),
    # step parallelism of the run, and the run it retries (its passed steps are not redone)
    pipeline_yaml: str = ""
    max_parallel: int = 4
    retry_of: str | None = None
    # whether the run may use connection URLs written in the pipeline (not the project's saved
    # connections): decided at queue time from the actor's role and OMB_ALLOW_INLINE_CONNECTIONS
    inline_connections: bool = False


@event
class RunStarted(Event):
    stream_type = "run"
    run_id: str


@event
class StepStarted(Event):
    stream_type = "run"
    run_id: str
    step: str
    worker: str | None = None
    attempt: int = 1


@event
class RunSnapshotsPinned(Event):
    """Each connection of the run pinned at one instant, once, before its first step read anything
    (ombudsman.engine.snapshots): connection name -> `isolation` (`repeatable read`, `time travel`,
    or `none` with the `reason`), `at` (the instant), `snapshot_id` (PostgreSQL's exported snapshot).
    Every step of the run reads at these pins."""

    stream_type = "run"
    run_id: str
    snapshots: dict[str, dict[str, Any]] = Field(default_factory=dict)
    worker: str | None = None  # the worker whose connection holds the PostgreSQL snapshots open


@event
class StepCompleted(Event):
    """A step's result (the engine's StepResult as JSON, bounded in size)."""

    stream_type = "run"
    run_id: str
    step: str
    status: StepStatus
    result: dict[str, Any] = Field(default_factory=dict)


@event
class StepSkipped(Event):
    stream_type = "run"
    run_id: str
    step: str
    reason: str


@event
class RunCompleted(Event):
    stream_type = "run"
    run_id: str
    status: Literal["completed", "failed"]
    total_steps: int
    successful_steps: int
    failed_steps: int
    warnings: int = 0
    duration_seconds: float = 0.0


@event
class RunCancelled(Event):
    stream_type = "run"
    run_id: str
    reason: str = ""


@event
class BatchCreated(Event):
    stream_type = "batch"
    batch_id: str
    name: str
    pipelines: list[dict[str, Any]]
    max_parallel: int = 4
    continue_on_error: bool = True


# --- workload service -----------------------------------------------------------------------


@event
class WorkloadUploaded(Event):
    stream_type = "workload"
    workload_id: str
    project_id: str
    filename: str
    queries: int


@event
class WorkloadAnalyzed(Event):
    stream_type = "workload"
    workload_id: str
    project_id: str
    queries: int
    unparsed: int
    tables: int


@event
class ValidationsSuggested(Event):
    stream_type = "workload"
    workload_id: str
    project_id: str
    suggestions: int


# --- gateway (users and auth) ---------------------------------------------------------------


@event
class UserRegistered(Event):
    """A new account: a local one (`password`) or one made at its first single sign-on (`sso`)."""

    stream_type = "user"
    user_id: str
    username: str
    role: Literal["admin", "user", "viewer"]
    method: Literal["password", "sso"] = "password"


@event
class UserLoggedIn(Event):
    """A login: with a password, or through the OpenID Connect provider (`sso`)."""

    stream_type = "user"
    user_id: str
    username: str
    method: Literal["password", "sso"] = "password"


@event
class LoginFailed(Event):
    stream_type = "user"
    user_id: str
    username: str
    failed_attempts: int


@event
class UserLockedOut(Event):
    stream_type = "user"
    user_id: str
    username: str
    until: str


@event
class UserUnlocked(Event):
    """An admin cleared a user's lockout flag and login throttles (who: the envelope's actor)."""

    stream_type = "user"
    user_id: str
    username: str


@event
class UserRoleChanged(Event):
    stream_type = "user"
    user_id: str
    role: Literal["admin", "user", "viewer"]


@event
class UserLoggedOut(Event):
    stream_type = "user"
    user_id: str


@event
class UserPasswordChanged(Event):
    """A user changed their own password (the hash never leaves the gateway's credentials table);
    every refresh token of the user was revoked with it."""

    stream_type = "user"
    user_id: str


# --- audit service --------------------------------------------------------------------------


@event
class AlertFired(Event):
    stream_type = "alert"
    rule_id: str
    source_event_id: str
    source_event_type: str
    channel: str
    summary: str


@event
class AuditGapDetected(Event):
    stream_type = "audit"
    expected_sequence: int
    received_sequence: int


@event
class EventRefused(Event):
    """The audit log writer refused a message on OMB_EVENTS: its envelope claims a stream, stream type
    or event type other than the subject it was published on (which only that stream type's owning
    service may publish), so it is not chained. An alert for admins and for subscribers."""

    stream_type = "audit"
    stream_sequence: int
    subject: str
    reason: str


@event
class AuditArchived(Event):
    """Log rows older than `before` moved to a signed archive segment (chain head kept), then removed."""

    stream_type = "audit"
    segment: int
    file: str
    first_position: int
    last_position: int
    row_count: int
    head_hash: str
    sha256: str
    before: str


# --- metadata service (details) -------------------------------------------------------------


@event
class MetadataDetailsRecorded(Event):
    """The detail behind a metadata summary event: catalog tables, catalog changes, mapping
    suggestions, relationships or table classes, in chunks (`chunk` of `chunks`) so one message
    stays small. The metadata service's read models are rebuilt from these on replay; the first
    chunk of a `batch_id` replaces what was recorded before for the same kind and side."""

    stream_type = "metadata"
    project_id: str
    kind: Literal["catalog", "changes", "suggestions", "relationships", "classification"]
    side: Literal["source", "target"] | None = None
    batch_id: str
    chunk: int = 1
    chunks: int = 1
    header: dict[str, Any] = Field(default_factory=dict)
    items: list[dict[str, Any]] = Field(default_factory=list)


@event
class MetadataExtractionProgressed(Event):
    """One schema of an extraction is done (`done` of `total` schemas)."""

    stream_type = "metadata"
    project_id: str
    side: Literal["source", "target"]
    schema_name: str
    tables: int
    done: int
    total: int


# --- metadata service (keys of tables without a declared key) -------------------------------

KeySide = Literal["source", "target"]


@event
class KeyDiscovered(Event):
    """A key found for a table without a declared key (`table` as `schema.name` on `side`): columns
    that identify every row there, checked in the database (pushed-down uniqueness, sampled then
    full). `evidence`: why the columns were proposed (`reason`), each side's check (`rows`,
    `duplicates`, `nulls`, `sampled`) and the candidates rejected before them. A person's
    `KeyConfirmed` / `KeyOverridden` of the same table and side is never replaced by a discovery."""

    stream_type = "metadata"
    project_id: str
    table: str
    side: KeySide
    columns: list[str]
    evidence: dict[str, Any] = Field(default_factory=dict)


@event
class KeyConfirmed(Event):
    """A person confirmed the discovered key of a table (who: the envelope's actor)."""

    stream_type = "metadata"
    project_id: str
    table: str
    side: KeySide
    columns: list[str]


@event
class KeyOverridden(Event):
    """A person set the key of a table to other columns (who: the envelope's actor); `previous` is
    the key in force before (discovered, confirmed, overridden or declared), `note` says why."""

    stream_type = "metadata"
    project_id: str
    table: str
    side: KeySide
    columns: list[str]
    previous: list[str] = Field(default_factory=list)
    note: str = ""


# --- metadata service (the language model's drafts, issue 22) ---------------------------------
# The model is asked with names, types and counts only (never a row's value); what it says is a
# suggestion a person approves. `model` names the model that said it.


@event
class ColumnDescriptionsSuggested(Event):
    """The language model drafted descriptions of columns of one table (`table` as `schema.name` on
    `side`), `{column: description}`; each stays a suggestion until a person approves it."""

    stream_type = "metadata"
    project_id: str
    table: str
    side: KeySide
    model: str
    descriptions: dict[str, str] = Field(default_factory=dict)
    suggested_by: Literal["model"] = "model"


@event
class ColumnDescriptionApproved(Event):
    """A person approved a column's description (who: the envelope's actor): from now on it is the
    column's description in the catalog. `suggested_by: model` when the text is the model's draft as
    it was suggested, `person` when the person wrote or changed it."""

    stream_type = "metadata"
    project_id: str
    table: str
    side: KeySide
    column: str
    description: str
    suggested_by: Literal["model", "person"] = "model"
    model: str | None = None


@event
class ColumnDescriptionRejected(Event):
    """A person rejected the model's draft description of a column; an approved description stays."""

    stream_type = "metadata"
    project_id: str
    table: str
    side: KeySide
    column: str


@event
class StepExplained(Event):
    """The language model explained a failed step of a run in plain words, asked with the step's
    validator, status, counts, column names and its message with values stripped (never a sample
    row). The explanation is advice, changes nothing, and is marked as the model's."""

    stream_type = "metadata"
    project_id: str
    run_id: str
    step: str
    model: str
    explanation: str
    suggested_by: Literal["model"] = "model"


# --- metadata service (automate jobs) -------------------------------------------------------
# One stream per job (`omb.evt.automate.<job_id>.…`); every event names its project, so
# `/ws/events?project=…` finds them.

AUTOMATE_PHASES = ("extract", "suggest", "relationships", "classify", "generate", "save")


@event
class AutomateStarted(Event):
    """An automate job was accepted and runs in the background (one at a time per project)."""

    stream_type = "automate"
    project_id: str
    job_id: str
    phases: list[str] = Field(default_factory=lambda: list(AUTOMATE_PHASES))
    options: dict[str, Any] = Field(default_factory=dict)  # the request, without connection URLs


@event
class AutomatePhaseCompleted(Event):
    """One phase of an automate job is done: what it counted and how long it took."""

    stream_type = "automate"
    project_id: str
    job_id: str
    phase: str
    counts: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0


@event
class AutomateCompleted(Event):
    """An automate job finished: its summary (what the synchronous `automate` used to answer)."""

    stream_type = "automate"
    project_id: str
    job_id: str
    summary: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0


@event
class AutomateFailed(Event):
    """An automate job failed in `phase` (None: before any phase, or its process died)."""

    stream_type = "automate"
    project_id: str
    job_id: str
    error: str
    phase: str | None = None


# --- executor service (work queue, batches, schedules, discrepancies, retention) ------------


@event
class StepDispatched(Event):
    """The coordinator released a step to the work queue `OMB_WORK` (its dependencies are done)."""

    stream_type = "run"
    run_id: str
    step: str
    dispatch: int = 1


@event
class FileLoadStarted(Event):
    """A `file_load` step began loading one file (the load's current file): `spec` is the file family,
    `file` its path on the worker, `bytes` its size. Checkpoint events are keyed, across runs, by the
    run's scope (its project) and the step's target connection, so a later run resumes from them."""

    stream_type = "run"
    run_id: str
    step: str
    scope: str = ""  # the run's project (or `pipeline:<name>` without one)
    target: str = ""  # the step's target connection (`<project>:<name>`)
    spec: str
    file: str
    bytes: int = 0


@event
class FileLoadProgressed(Event):
    """How far the current file is (`bytes_read` of `bytes`), sent at most every few seconds."""

    stream_type = "run"
    run_id: str
    step: str
    scope: str = ""  # the run's project (or `pipeline:<name>` without one)
    target: str = ""  # the step's target connection (`<project>:<name>`)
    spec: str
    file: str
    bytes: int = 0
    bytes_read: int = 0


@event
class FileLoadCompleted(Event):
    """One file is in its table (committed on the target with its checkpoint row there): `rows` loaded.
    `reconciled`: the target already held the file's checkpoint row (a worker died between the commit
    and this event), so nothing was loaded again."""

    stream_type = "run"
    run_id: str
    step: str
    scope: str = ""  # the run's project (or `pipeline:<name>` without one)
    target: str = ""  # the step's target connection (`<project>:<name>`)
    spec: str
    file: str
    bytes: int = 0
    rows: int = 0
    seconds: float = 0.0
    reconciled: bool = False


@event
class FileLoadFailed(Event):
    """One file was not loaded (its transaction rolled back: none of its rows are in the table); the
    `message` names the line, with the data's values left out."""

    stream_type = "run"
    run_id: str
    step: str
    scope: str = ""  # the run's project (or `pipeline:<name>` without one)
    target: str = ""  # the step's target connection (`<project>:<name>`)
    spec: str
    file: str
    bytes: int = 0
    message: str = ""


@event
class BatchStarted(Event):
    stream_type = "batch"
    batch_id: str
    total: int


@event
class BatchPipelineStarted(Event):
    """One pipeline of a batch got its run (`index` in the batch's pipeline list)."""

    stream_type = "batch"
    batch_id: str
    index: int
    run_id: str


@event
class BatchPipelineFinished(Event):
    stream_type = "batch"
    batch_id: str
    index: int
    run_id: str
    status: Literal["completed", "failed", "cancelled"]


@event
class BatchCompleted(Event):
    stream_type = "batch"
    batch_id: str
    status: Literal["completed", "failed"]
    total: int
    completed: int
    failed: int
    duration_seconds: float = 0.0


@event
class BatchCancelled(Event):
    stream_type = "batch"
    batch_id: str
    reason: str = ""


@event
class BatchRetried(Event):
    """Only the failed operations run again: `steps` maps a pipeline index to the step ids to redo."""

    stream_type = "batch"
    batch_id: str
    attempt: int
    steps: dict[str, list[str]] = Field(default_factory=dict)


@event
class BatchDeleted(Event):
    stream_type = "batch"
    batch_id: str


@event
class ScheduleCreated(Event):
    stream_type = "schedule"
    schedule_id: str
    cron: str
    project_id: str | None = None
    pipeline_id: str | None = None
    batch_id: str | None = None
    timezone: str = "UTC"


@event
class ScheduleFired(Event):
    """A schedule fired for `instant` (ISO, UTC): at most once per instant."""

    stream_type = "schedule"
    schedule_id: str
    instant: str
    run_id: str | None = None
    batch_id: str | None = None


@event
class ScheduleDeleted(Event):
    stream_type = "schedule"
    schedule_id: str


@event
class DiscrepancyRecorded(Event):
    """A finding seen for the first time. Its stream id comes from `finding` (one discrepancy per
    finding, whatever the number of runs that see it); `fingerprint` is the digest of its figures
    in this run (what an acceptance covers).

    Version 2 added `finding` and `scope`; version-1 records (one discrepancy per run and failed
    step) are upcast with a finding of their own (`legacy:<discrepancy_id>`)."""

    stream_type = "discrepancy"
    schema_version = 2
    discrepancy_id: str
    run_id: str
    step: str
    project_id: str | None = None
    pipeline: str = ""
    type: str
    severity: Literal["critical", "warning", "info"] = "critical"
    table: str | None = None
    columns: list[str] = Field(default_factory=list)
    message: str = ""
    sample: list[dict[str, Any]] = Field(default_factory=list)
    fingerprint: str = ""
    finding: str
    scope: str = ""


@upcaster("DiscrepancyRecorded", 1)
def _discrepancy_recorded_v1(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "finding": f"legacy:{data['discrepancy_id']}", "scope": data.get("project_id") or ""}


@event
class DiscrepancyOccurred(Event):
    """A known finding seen again by a later run (`fingerprint`: its figures in that run; when they
    differ from the accepted ones the discrepancy is also reopened)."""

    stream_type = "discrepancy"
    discrepancy_id: str
    run_id: str
    step: str
    message: str = ""
    sample: list[dict[str, Any]] = Field(default_factory=list)
    fingerprint: str = ""


@event
class DiscrepancyReopened(Event):
    """An accepted finding whose figures changed, or a resolved one found again, is open again."""

    stream_type = "discrepancy"
    discrepancy_id: str
    run_id: str
    reason: Literal["changed", "recurred"]


@event
class DiscrepancyResolved(Event):
    """Resolved by a person (`run_id` None), or by a run in which the step that found it no longer
    finds it (`run_id` that run)."""

    stream_type = "discrepancy"
    discrepancy_id: str
    note: str = ""
    run_id: str | None = None


@event
class DiscrepancyAccepted(Event):
    """Accepted as a known difference: later runs finding the same figures (`fingerprint`) do not
    fail on it; when the figures change it is reopened."""

    stream_type = "discrepancy"
    discrepancy_id: str
    fingerprint: str
    note: str = ""


@event
class ResultsArchived(Event):
    """Step results of finished runs moved to compressed archive rows (the event log keeps them)."""

    stream_type = "run"
    run_id: str
    archived_bytes: int = 0


@event
class AlertRuleAdded(Event):
    stream_type = "alert"
    rule_id: str
    rule: dict[str, Any]


@event
class AlertRuleRemoved(Event):
    stream_type = "alert"
    rule_id: str


@event
class NotificationDismissed(Event):
    stream_type = "alert"
    notification_id: int
    rule_id: str


# --- workload service (details) -------------------------------------------------------------


@event
class WorkloadDetailsRecorded(Event):
    """The detail behind a workload summary event, in chunks (`chunk` of `chunks`) so one message stays
    small: `queries` (queries grouped by fingerprint, at upload), `model` (table usage, joins and the
    analysis of each query, at analysis) or `suggestions`. The workload read models are rebuilt from
    these on replay; the first chunk of a `batch_id` replaces what was recorded before of its kind."""

    stream_type = "workload"
    workload_id: str
    project_id: str
    kind: Literal["queries", "model", "suggestions"]
    batch_id: str
    chunk: int = 1
    chunks: int = 1
    items: list[dict[str, Any]] = Field(default_factory=list)


@event
class WorkloadPipelineGenerated(Event):
    """A pipeline made from a workload's suggestions (saved in the projects service when `saved`)."""

    stream_type = "workload"
    workload_id: str
    project_id: str
    pipeline_id: str
    name: str
    yaml: str
    steps: int
    saved: bool = False

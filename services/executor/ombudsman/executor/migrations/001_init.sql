-- executor schema: event store (with outbox column), read models. Idempotent.
CREATE SCHEMA IF NOT EXISTS executor;

CREATE TABLE IF NOT EXISTS executor.events (
    global_position bigserial PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    stream_type text NOT NULL,
    stream_id text NOT NULL,
    version integer NOT NULL,
    event_type text NOT NULL,
    schema_version integer NOT NULL DEFAULT 1,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    UNIQUE (stream_id, version)
);
CREATE INDEX IF NOT EXISTS events_unpublished ON executor.events (global_position) WHERE published_at IS NULL;

CREATE TABLE IF NOT EXISTS executor.runs (
    run_id text PRIMARY KEY,
    project_id text,
    pipeline_id text,
    pipeline_name text NOT NULL DEFAULT '',
    batch_id text,
    retry_of text,
    status text NOT NULL,
    total_steps integer NOT NULL DEFAULT 0,
    successful_steps integer NOT NULL DEFAULT 0,
    failed_steps integer NOT NULL DEFAULT 0,
    warnings integer NOT NULL DEFAULT 0,
    skipped_steps integer NOT NULL DEFAULT 0,
    score double precision,
    duration_seconds double precision,
    queued_at timestamptz NOT NULL,
    started_at timestamptz,
    finished_at timestamptz,
    archived boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS runs_filter ON executor.runs (project_id, pipeline_id, status, queued_at DESC);

CREATE TABLE IF NOT EXISTS executor.steps (
    run_id text NOT NULL,
    step text NOT NULL,
    position integer NOT NULL,
    validator text NOT NULL DEFAULT '',
    table_name text,
    state text NOT NULL DEFAULT 'pending',
    status text,
    attempts integer NOT NULL DEFAULT 0,
    worker text,
    message text NOT NULL DEFAULT '',
    severity text,
    duration_seconds double precision,
    result jsonb,
    started_at timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (run_id, step)
);

CREATE TABLE IF NOT EXISTS executor.batches (
    batch_id text PRIMARY KEY,
    name text NOT NULL,
    status text NOT NULL,
    pipelines jsonb NOT NULL,
    max_parallel integer NOT NULL,
    continue_on_error boolean NOT NULL,
    total integer NOT NULL,
    completed integer NOT NULL DEFAULT 0,
    failed integer NOT NULL DEFAULT 0,
    running integer NOT NULL DEFAULT 0,
    runs jsonb NOT NULL DEFAULT '{}',
    attempt integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    started_at timestamptz,
    finished_at timestamptz,
    deleted boolean NOT NULL DEFAULT false
);

CREATE TABLE IF NOT EXISTS executor.discrepancies (
    discrepancy_id text PRIMARY KEY,
    run_id text NOT NULL,
    step text NOT NULL,
    project_id text,
    pipeline text NOT NULL DEFAULT '',
    type text NOT NULL,
    severity text NOT NULL,
    table_name text,
    columns jsonb NOT NULL DEFAULT '[]',
    message text NOT NULL DEFAULT '',
    sample jsonb NOT NULL DEFAULT '[]',
    fingerprint text NOT NULL,
    status text NOT NULL DEFAULT 'open',
    note text NOT NULL DEFAULT '',
    decided_by text,
    decided_at timestamptz,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS discrepancies_run ON executor.discrepancies (run_id);

CREATE TABLE IF NOT EXISTS executor.accepted_differences (
    fingerprint text PRIMARY KEY,
    discrepancy_id text NOT NULL,
    note text NOT NULL DEFAULT '',
    accepted_by text,
    accepted_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS executor.schedules (
    schedule_id text PRIMARY KEY,
    cron text NOT NULL,
    project_id text,
    pipeline_id text,
    batch_id text,
    last_instant timestamptz,
    fired integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    deleted boolean NOT NULL DEFAULT false
);

CREATE TABLE IF NOT EXISTS executor.archive (
    run_id text PRIMARY KEY,
    archived_at timestamptz NOT NULL,
    content bytea NOT NULL
);

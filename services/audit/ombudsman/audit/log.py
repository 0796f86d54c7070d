"""Writing and reading `audit.event_log`: the hash-chained, append-only record of every event.

Rows are appended strictly in JetStream order by one consumer; each carries its JetStream stream
sequence, so a redelivered message is recognised (its sequence is already logged) and a missing
sequence is recorded as a gap instead of being skipped silently.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.audit.domain import (
    GENESIS,
    AlertRule,
    ChainRow,
    canonical_json,
    chain_hash,
    project_of,
    rule_matches,
)

SCHEMA = "audit"


def ddl(schema: str = SCHEMA) -> list[str]:
    """The audit tables, the append-only trigger and the revoked grants."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {schema}.event_log (
            position bigint PRIMARY KEY,
            stream_seq bigint NOT NULL UNIQUE,
            event_id text NOT NULL UNIQUE,
            event_type text NOT NULL,
            stream_type text NOT NULL,
            stream_id text NOT NULL,
            project_id text,
            actor_id text,
            actor_name text,
            occurred_at timestamptz NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            body text NOT NULL,
            envelope jsonb NOT NULL,
            prev_hash text NOT NULL,
            hash text NOT NULL
        )""",
        f"CREATE INDEX IF NOT EXISTS event_log_occurred ON {schema}.event_log (occurred_at)",
        f"CREATE INDEX IF NOT EXISTS event_log_stream ON {schema}.event_log (stream_type, stream_id, position)",
        f"CREATE INDEX IF NOT EXISTS event_log_project ON {schema}.event_log (project_id, position)",
        f"CREATE INDEX IF NOT EXISTS event_log_type ON {schema}.event_log (event_type, position)",
        f"CREATE INDEX IF NOT EXISTS event_log_actor ON {schema}.event_log (actor_id, position)",
        f"""CREATE OR REPLACE FUNCTION {schema}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit.event_log is append-only: % refused', TG_OP; END $$""",
        f"DROP TRIGGER IF EXISTS event_log_append_only ON {schema}.event_log",
        f"""CREATE TRIGGER event_log_append_only BEFORE UPDATE OR DELETE ON {schema}.event_log
            FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_change()""",
        f"DROP TRIGGER IF EXISTS event_log_no_truncate ON {schema}.event_log",
        f"""CREATE TRIGGER event_log_no_truncate BEFORE TRUNCATE ON {schema}.event_log
            FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_change()""",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {schema}.event_log FROM PUBLIC",
        f"""CREATE TABLE IF NOT EXISTS {schema}.gaps (
            expected_seq bigint NOT NULL, received_seq bigint NOT NULL,
            detected_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (expected_seq, received_seq))""",
        f"""CREATE TABLE IF NOT EXISTS {schema}.alert_deliveries (
            rule_id text NOT NULL, event_id text NOT NULL, channel text NOT NULL, url text,
            payload text NOT NULL, status text NOT NULL DEFAULT 'pending', attempts int NOT NULL DEFAULT 0,
            last_error text, next_attempt_at timestamptz NOT NULL DEFAULT now(), delivered_at timestamptz,
            PRIMARY KEY (rule_id, event_id))""",
        f"""CREATE TABLE IF NOT EXISTS {schema}.notifications (
            id bigserial PRIMARY KEY, rule_id text NOT NULL, event_id text NOT NULL, project_id text,
            severity text NOT NULL, summary text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
            dismissed_at timestamptz, UNIQUE (rule_id, event_id))""",
    ]


def rejected_ddl(schema: str = SCHEMA) -> list[str]:
    """Messages on OMB_EVENTS the writer refused to log (their stream sequence accounts for the hole)."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {schema}.rejected_events (
            stream_seq bigint PRIMARY KEY, subject text NOT NULL, reason text NOT NULL,
            claimed_event_id text, claimed_event_type text, rejected_at timestamptz NOT NULL DEFAULT now())""",
    ]


REJECTED_RULE = "builtin:event-rejected"


async def record_rejected(conn: AsyncConnection, stream_seq: int, subject: str, envelope: dict[str, Any],
                          reason: str, schema: str = SCHEMA) -> bool:
    """Record a refused message and raise an in-app alert for admins (critical), in the caller's
    transaction; False when it was recorded already (a re-read), so it alerts once."""
    inserted = (await conn.execute(
        text(f"""INSERT INTO {schema}.rejected_events (stream_seq, subject, reason, claimed_event_id, claimed_event_type)
                 VALUES (:seq, :subject, :reason, :event_id, :event_type) ON CONFLICT DO NOTHING RETURNING stream_seq"""),
        {"seq": stream_seq, "subject": subject[:300], "reason": reason[:1000],
         "event_id": str(envelope.get("event_id") or "")[:100], "event_type": str(envelope.get("event_type") or "")[:100]},
    )).first() is not None
    if inserted:
        await conn.execute(
            text(f"""INSERT INTO {schema}.notifications (rule_id, event_id, project_id, severity, summary)
                     VALUES (:rule, :event, NULL, 'critical', :summary) ON CONFLICT DO NOTHING"""),
            {"rule": REJECTED_RULE, "event": f"stream-seq-{stream_seq}",
             "summary": f"event refused (not logged): {reason}"[:500]},
        )
    return inserted


def archive_ddl(schema: str = SCHEMA) -> list[str]:
    """Archive segments, and the one controlled way past the append-only trigger: archiving.

    DELETE on `event_log` is allowed only when the transaction set `omb.audit_archiving = on` AND
    the row lies inside a segment recorded in `archive_segments`; a segment row is accepted only
    if it continues the previous segment and its head hash is the hash of the log row it ends at.
    UPDATE and TRUNCATE stay refused; `archive_segments` itself is append-only.
    """
    return [
        f"""CREATE TABLE IF NOT EXISTS {schema}.archive_segments (
            segment int PRIMARY KEY,
            file text NOT NULL,
            first_position bigint NOT NULL,
            last_position bigint NOT NULL,
            first_stream_seq bigint NOT NULL,
            last_stream_seq bigint NOT NULL,
            row_count bigint NOT NULL,
            prev_hash text NOT NULL,
            head_hash text NOT NULL,
            archived_before timestamptz NOT NULL,
            sha256 text NOT NULL,
            public_key text NOT NULL,
            manifest text NOT NULL,
            archived_by text,
            created_at timestamptz NOT NULL DEFAULT now(),
            CHECK (last_position >= first_position))""",
        f"""CREATE OR REPLACE FUNCTION {schema}.check_segment() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE previous {schema}.archive_segments; logged_hash text;
            BEGIN
              SELECT * INTO previous FROM {schema}.archive_segments ORDER BY last_position DESC LIMIT 1;
              IF previous.segment IS NULL THEN
                IF NEW.first_position <> 1 OR NEW.prev_hash <> '{GENESIS}' THEN
                  RAISE EXCEPTION 'the first archive segment must start at position 1 from the genesis hash';
                END IF;
              ELSIF NEW.first_position <> previous.last_position + 1 OR NEW.prev_hash <> previous.head_hash THEN
                RAISE EXCEPTION 'archive segment % does not continue segment %', NEW.segment, previous.segment;
              END IF;
              SELECT hash INTO logged_hash FROM {schema}.event_log WHERE position = NEW.last_position;
              IF logged_hash IS DISTINCT FROM NEW.head_hash THEN
                RAISE EXCEPTION 'archive segment % head hash is not the log''s hash at position %',
                  NEW.segment, NEW.last_position;
              END IF;
              RETURN NEW;
            END $$""",
        f"DROP TRIGGER IF EXISTS archive_segments_continue ON {schema}.archive_segments",
        f"""CREATE TRIGGER archive_segments_continue BEFORE INSERT ON {schema}.archive_segments
            FOR EACH ROW EXECUTE FUNCTION {schema}.check_segment()""",
        f"DROP TRIGGER IF EXISTS archive_segments_append_only ON {schema}.archive_segments",
        f"""CREATE TRIGGER archive_segments_append_only BEFORE UPDATE OR DELETE ON {schema}.archive_segments
            FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_change()""",
        f"DROP TRIGGER IF EXISTS archive_segments_no_truncate ON {schema}.archive_segments",
        f"""CREATE TRIGGER archive_segments_no_truncate BEFORE TRUNCATE ON {schema}.archive_segments
            FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_change()""",
        f"""CREATE OR REPLACE FUNCTION {schema}.guard_event_log() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP = 'DELETE' AND current_setting('omb.audit_archiving', true) = 'on' AND EXISTS (
                   SELECT 1 FROM {schema}.archive_segments s
                   WHERE OLD.position BETWEEN s.first_position AND s.last_position) THEN
                RETURN OLD;
              END IF;
              RAISE EXCEPTION 'audit.event_log is append-only: % refused', TG_OP;
            END $$""",
        f"DROP TRIGGER IF EXISTS event_log_append_only ON {schema}.event_log",
        f"""CREATE TRIGGER event_log_append_only BEFORE UPDATE OR DELETE ON {schema}.event_log
            FOR EACH ROW EXECUTE FUNCTION {schema}.guard_event_log()""",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {schema}.archive_segments FROM PUBLIC",
    ]


@dataclass(frozen=True)
class Head:
    position: int
    stream_seq: int
    hash: str


async def head(conn: AsyncConnection, schema: str = SCHEMA) -> Head:
    row = (
        await conn.execute(
            text(f"SELECT position, stream_seq, hash FROM {schema}.event_log ORDER BY position DESC LIMIT 1")
        )
    ).first()
    if row is None:
        # everything was archived: the chain continues from the last segment's head
        row = (
            await conn.execute(
                text(f"""SELECT last_position, last_stream_seq, head_hash FROM {schema}.archive_segments
                         ORDER BY last_position DESC LIMIT 1""")
            )
        ).first()
    return Head(0, 0, GENESIS) if row is None else Head(int(row[0]), int(row[1]), str(row[2]))


async def archived_head(conn: AsyncConnection, schema: str = SCHEMA) -> tuple[int, str]:
    """(last archived position, chain hash there), or (0, GENESIS) when nothing was archived."""
    row = (
        await conn.execute(text(f"SELECT last_position, head_hash FROM {schema}.archive_segments "
                                "ORDER BY last_position DESC LIMIT 1"))
    ).first()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


def summary(envelope: dict[str, Any]) -> str:
    data = envelope.get("data") or {}
    bits = [f"{envelope.get('event_type')} on {envelope.get('stream_type')}/{envelope.get('stream_id')}"]
    for key in ("status", "failed_steps", "total_steps", "username"):
        if key in data:
            bits.append(f"{key}={data[key]}")
    return " ".join(bits)


async def append_logged(
    conn: AsyncConnection,
    envelope: dict[str, Any],
    stream_seq: int,
    rules: Sequence[AlertRule] = (),
    schema: str = SCHEMA,
) -> str:
    """Log one event received at `stream_seq`, in the caller's transaction.

    Returns "logged", "duplicate" (already logged: redelivery) or "gap" (logged, after recording
    that the sequences between the head and it never arrived). Alert deliveries for the rules this
    event matches are queued in the same transaction, so a rule fires once per event even across restarts.
    """
    current = await head(conn, schema)
    if stream_seq <= current.stream_seq:
        return "duplicate"
    outcome = "logged"
    if current.stream_seq and stream_seq != current.stream_seq + 1 and not await _refused_between(
            conn, current.stream_seq, stream_seq, schema):
        await conn.execute(
            text(f"INSERT INTO {schema}.gaps (expected_seq, received_seq) VALUES (:e, :r) ON CONFLICT DO NOTHING"),
            {"e": current.stream_seq + 1, "r": stream_seq},
        )
        outcome = "gap"
    body = canonical_json(envelope)
    digest = chain_hash(current.hash, envelope)
    actor = envelope.get("actor") or {}
    project = await stream_project(conn, envelope, schema)
    await conn.execute(
        text(
            f"""INSERT INTO {schema}.event_log (position, stream_seq, event_id, event_type, stream_type, stream_id,
                project_id, actor_id, actor_name, occurred_at, body, envelope, prev_hash, hash)
                VALUES (:position, :seq, :event_id, :event_type, :stream_type, :stream_id, :project_id, :actor_id,
                :actor_name, :occurred_at, :body, CAST(:envelope AS jsonb), :prev_hash, :hash)"""
        ),
        {
            "position": current.position + 1,
            "seq": stream_seq,
            "event_id": envelope["event_id"],
            "event_type": envelope["event_type"],
            "stream_type": envelope["stream_type"],
            "stream_id": envelope["stream_id"],
            "project_id": project,
            "actor_id": actor.get("id"),
            "actor_name": actor.get("name"),
            "occurred_at": datetime.fromisoformat(str(envelope["occurred_at"]).replace("Z", "+00:00")),
            "body": body,
            "envelope": body,
            "prev_hash": current.hash,
            "hash": digest,
        },
    )
    for rule in rules:
        if rule_matches(rule, envelope, project):
            await queue_alert(conn, rule, envelope, schema, project)
    return outcome


async def stream_project(conn: AsyncConnection, envelope: dict[str, Any], schema: str = SCHEMA) -> str | None:
    """The project an event belongs to: the one it names, else the one an earlier event of its stream
    named (a run's steps and its end carry no project id; its `RunQueued` does). Logged rows only, so a
    replay of the log attributes every event the same way."""
    named = project_of(envelope)
    if named is not None:
        return named
    row = (await conn.execute(
        text(f"""SELECT project_id FROM {schema}.event_log WHERE stream_type = :t AND stream_id = :s
                 AND project_id IS NOT NULL ORDER BY position LIMIT 1"""),
        {"t": envelope.get("stream_type"), "s": envelope.get("stream_id")})).first()
    return None if row is None else str(row[0])


async def _refused_between(conn: AsyncConnection, after: int, before: int, schema: str) -> bool:
    """Whether every sequence strictly between `after` and `before` is a message the writer refused."""
    refused = (await conn.execute(
        text(f"SELECT count(*) FROM {schema}.rejected_events WHERE stream_seq > :a AND stream_seq < :b"),
        {"a": after, "b": before})).scalar_one()
    return int(refused) == before - after - 1


async def queue_alert(conn: AsyncConnection, rule: AlertRule, envelope: dict[str, Any], schema: str = SCHEMA,
                      project: str | None = None) -> None:
    payload = canonical_json(
        {
            "rule_id": rule.id,
            "rule": rule.name,
            "severity": rule.severity,
            "summary": summary(envelope),
            "event": envelope,
        }
    )
    await conn.execute(
        text(
            f"""INSERT INTO {schema}.alert_deliveries (rule_id, event_id, channel, url, payload)
                VALUES (:rule, :event, :channel, :url, :payload) ON CONFLICT DO NOTHING"""
        ),
        {"rule": rule.id, "event": envelope["event_id"], "channel": rule.channel, "url": rule.url, "payload": payload},
    )
    if rule.channel == "inapp":
        await conn.execute(
            text(
                f"""INSERT INTO {schema}.notifications (rule_id, event_id, project_id, severity, summary)
                    VALUES (:rule, :event, :project, :severity, :summary) ON CONFLICT DO NOTHING"""
            ),
            {
                "rule": rule.id,
                "event": envelope["event_id"],
                "project": project or project_of(envelope),
                "severity": rule.severity,
                "summary": summary(envelope),
            },
        )


async def chain_rows(
    conn: AsyncConnection, *, from_position: int = 1, to_position: int | None = None, schema: str = SCHEMA,
    batch: int = 2000,
) -> AsyncIterator[ChainRow]:
    """The log's rows in position order, fetched in batches (bounded memory)."""
    position = from_position - 1
    while True:
        params: dict[str, Any] = {"after": position, "limit": batch}
        bound = ""
        if to_position is not None:
            bound = "AND position <= :to"
            params["to"] = to_position
        rows = (
            await conn.execute(
                text(
                    f"""SELECT position, prev_hash, hash, body, envelope::text FROM {schema}.event_log
                        WHERE position > :after {bound} ORDER BY position LIMIT :limit"""
                ),
                params,
            )
        ).all()
        if not rows:
            return
        for pos, prev_hash, digest, body, envelope_text in rows:
            envelope = json.loads(body)
            if canonical_json(json.loads(envelope_text)) != body:
                # the queryable copy was altered: verify must see a content change
                envelope = {"__altered_copy__": json.loads(envelope_text)}
            yield ChainRow(position=int(pos), prev_hash=str(prev_hash), hash=str(digest), envelope=envelope)
            position = int(pos)


def grants_ddl(schema: str = SCHEMA) -> list[str]:
    """Revoke changing privileges on the append-only tables from every role but their owner, and
    the owner's function that deletes archived rows (idempotent; see migration 0003)."""
    return [
        f"""DO $$ DECLARE g record; BEGIN
              FOR g IN SELECT DISTINCT grantee, table_name FROM information_schema.role_table_grants
                       WHERE table_schema = '{schema}' AND table_name IN ('event_log', 'archive_segments')
                         AND privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER')
                         AND grantee <> (SELECT tableowner FROM pg_tables
                                         WHERE schemaname = '{schema}' AND tablename = table_name)
              LOOP
                EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON %I.%I FROM %I',
                               '{schema}', g.table_name, g.grantee);
              END LOOP;
            END $$""",
        f"""CREATE OR REPLACE FUNCTION {schema}.delete_archived(first_position bigint, last_position bigint)
            RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
            DECLARE removed bigint;
            BEGIN
              PERFORM set_config('omb.audit_archiving', 'on', true);
              DELETE FROM {schema}.event_log WHERE position BETWEEN first_position AND last_position;
              GET DIAGNOSTICS removed = ROW_COUNT;
              PERFORM set_config('omb.audit_archiving', 'off', true);
              RETURN removed;
            END $$""",
    ]

"""`ombudsman audit-verify FILE`: an export or archive segment from a real audit service, re-verified offline."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from ombudsman.audit.app import create_service
from ombudsman.client.audit_verify import app as verify_app
from ombudsman.contracts import events as ev
from ombudsman.contracts.chain import GENESIS, chain_hash
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.registry import envelope_for
from ombudsman.contracts.subjects import command_subject, event_subject, query_subject
from ombudsman.eventstore.rpc import request
from ombudsman.eventstore.settings import Settings
from tests.support import eventually

ADMIN = Metadata(actor=Actor(id="u-admin", name="admin", role="admin"))
OMBUDSMAN = Path(sys.executable).parent / "ombudsman"
runner = CliRunner()


def cli(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(verify_app, ["audit-verify", *map(str, args)])
    return result.exit_code, result.output


async def test_export_and_segment_from_a_real_service_verify_offline(
    nats_url, database_url, nc, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("OMB_AUDIT_ARCHIVE_DIR", str(tmp_path / "archive"))
    monkeypatch.setenv("OMB_AUDIT_RETENTION_DAYS", "7")
    audit = create_service(Settings(database_url=database_url, nats_url=nats_url, secret_key="k" * 32))
    await audit.start()
    try:
        js = nc.jetstream()
        old = datetime.now(UTC) - timedelta(days=30)
        for i in range(120):
            envelope = envelope_for(ev.RunStarted(run_id=f"r{i}"), stream_id=f"r{i}", version=1,
                                    meta=Metadata(actor=Actor.service("executor")))
            if i < 60:
                envelope = envelope.model_copy(update={"occurred_at": old + timedelta(seconds=i)})
            await js.publish(event_subject("run", f"r{i}", "RunStarted"), envelope.wire())

        async def logged() -> bool:
            page = await request(nc, query_subject("audit", "logs"), {"limit": 1}, meta=ADMIN)
            return page["total"] >= 120

        await eventually(logged, timeout=60, what="120 events in the audit log")
        export = await request(nc, query_subject("audit", "export"), {"format": "jsonl"}, meta=ADMIN)
        export_csv = await request(nc, query_subject("audit", "export"), {"format": "csv"}, meta=ADMIN)
        archived = await request(nc, command_subject("audit", "archive"),
                                 {"before": (datetime.now(UTC) - timedelta(days=10)).isoformat()}, meta=ADMIN)
        keys = await request(nc, query_subject("audit", "archive_segments"), {}, meta=ADMIN)
    finally:
        await audit.stop()
    assert archived["archived"] == 60
    check_offline(tmp_path, export["content"], Path(archived["path"]), keys["public_key"])
    check_csv_offline(tmp_path, export_csv["content"])


def check_csv_offline(tmp_path: Path, export: str) -> None:
    """The CSV export verifies too; a forged envelope cell or a forged display column is found at its row."""
    exported = tmp_path / "audit.csv"
    exported.write_text(export, newline="")
    code, out = cli(exported)
    assert code == 0 and "120 rows" in out, out
    rows = list(csv.reader(io.StringIO(export)))
    header, body = rows[0], rows[1:]
    assert header == ["position", "occurred_at", "event_type", "stream_type", "stream_id", "actor", "prev_hash",
                      "hash", "envelope"]

    def written(name: str, changed: list[list[str]]) -> Path:
        out_file = tmp_path / name
        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *changed])
        out_file.write_text(buffer.getvalue(), newline="")
        return out_file

    forged = [list(r) for r in body]
    envelope = json.loads(forged[40][8])
    envelope["data"]["run_id"] = "r-forged"
    forged[40][8] = json.dumps(envelope)
    code, out = cli(written("forged.csv", forged))
    assert code == 1 and "position 41" in out and "altered" in out, out

    relabelled = [list(r) for r in body]
    relabelled[12][2] = "RunCancelled"  # the column people read, not the hashed envelope
    code, out = cli(written("relabelled.csv", relabelled))
    assert code == 1 and "position 13" in out and "column event_type" in out, out

    code, out = cli(written("dropped.csv", body[:5] + body[6:]))
    assert code == 1 and "position 6" in out and "missing" in out, out

    not_export = tmp_path / "other.csv"
    not_export.write_text("a,b\n1,2\n")
    code, out = cli(not_export)
    assert code == 2 and "not an audit CSV export" in out, out


def check_offline(tmp_path: Path, export: str, segment: Path, public_key: str) -> None:
    exported = tmp_path / "audit.jsonl"
    exported.write_text(export)

    # the export verifies; one altered line is found at its exact position
    code, out = cli(exported)
    assert code == 0 and "120 rows" in out
    lines = exported.read_text().splitlines()
    row = json.loads(lines[76])
    row["envelope"]["data"]["run_id"] = "r-forged"
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join([*lines[:76], json.dumps(row), *lines[77:]]) + "\n")
    code, out = cli(forged)
    assert code == 1 and "position 77" in out and "altered" in out
    dropped = tmp_path / "dropped.jsonl"
    dropped.write_text("\n".join([*lines[:30], *lines[31:]]) + "\n")
    code, out = cli(dropped)
    assert code == 1 and "position 31" in out and "missing" in out

    # the segment verifies, also against the service's published key; a foreign key is refused
    code, out = cli(segment, "--public-key", public_key)
    assert code == 0 and "60 rows" in out and "positions 1..60" in out
    code, out = cli(segment.with_name("segment-000001.manifest.json"))
    assert code == 0
    code, out = cli(segment, "--public-key", "ab" * 32)
    assert code == 1 and "not the trusted key" in out

    # a rewritten segment: the altered row is found; a rewritten manifest breaks the signature
    rows = gzip.decompress(segment.read_bytes()).decode().splitlines()
    tampered = tmp_path / "tampered" / segment.name
    tampered.parent.mkdir()
    shutil.copy(segment.with_name("segment-000001.manifest.json"), tampered.parent)
    rows[9] = rows[9].replace('"r9"', '"r-forged"')
    tampered.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    code, out = cli(tampered)
    assert code == 1 and "position 10" in out and "altered" in out
    manifest_path = tampered.parent / "segment-000001.manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["row_count"] = 59
    manifest_path.write_text(json.dumps(manifest))
    code, out = cli(tampered)
    assert code == 1 and "signature" in out


def test_unreadable_files_exit_2(tmp_path) -> None:
    assert cli(tmp_path / "absent.jsonl")[0] == 2
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    code, out = cli(binary)
    assert code == 2 and "cannot read" in out
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert cli(empty)[0] == 2
    lonely = tmp_path / "segment-000009.jsonl.gz"
    lonely.write_bytes(gzip.compress(b"{}\n"))
    code, out = cli(lonely)
    assert code == 2 and "manifest" in out
    (tmp_path / "segment-000009.manifest.json").write_text('{"segment": "one"}')
    code, out = cli(lonely)
    assert code == 2 and "not a segment manifest" in out


def test_the_ombudsman_command_mounts_audit_verify(tmp_path) -> None:
    """The installed `ombudsman` script, as an auditor runs it: 0 intact, 1 broken, 2 unreadable."""
    lines, prev = [], GENESIS
    for position in range(1, 6):
        envelope = {"event_id": f"e{position}", "event_type": "RunStarted", "data": {"run_id": f"r{position}"}}
        digest = chain_hash(prev, envelope)
        lines.append(json.dumps({"position": position, "prev_hash": prev, "hash": digest, "envelope": envelope}))
        prev = digest
    intact, broken = tmp_path / "intact.jsonl", tmp_path / "broken.jsonl"
    intact.write_text("\n".join(lines) + "\n")
    broken.write_text("\n".join([*lines[:2], lines[2].replace('"r3"', '"r-forged"'), *lines[3:]]) + "\n")

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(OMBUDSMAN), "audit-verify", str(path)], capture_output=True, text=True, timeout=60)

    ok = run(intact)
    assert ok.returncode == 0 and "5 rows" in ok.stdout, ok.stderr
    bad = run(broken)
    assert bad.returncode == 1 and "position 3" in bad.stdout
    gone = run(tmp_path / "nope.jsonl")
    assert gone.returncode == 2 and "does not exist" in gone.stderr
    # the spelling of the audit commands group: `ombudsman audit verify FILE` is the same offline check
    grouped = subprocess.run([str(OMBUDSMAN), "audit", "verify", str(broken)], capture_output=True, text=True,
                             timeout=60)
    assert grouped.returncode == 1 and "position 3" in grouped.stdout, grouped.stderr
    grouped_ok = subprocess.run([str(OMBUDSMAN), "audit", "verify", str(intact)], capture_output=True, text=True,
                                timeout=60)
    assert grouped_ok.returncode == 0 and "5 rows" in grouped_ok.stdout, grouped_ok.stderr

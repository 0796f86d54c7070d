"""Object-store file patterns (s3://) against a real local S3-compatible server (moto's server, over HTTP):
DuckDB reads the objects through s3fs registered as a filesystem (no httpfs download); the file checks and
the file:// connector's views work on them as on local files; buckets and prefixes outside
OMB_FILE_BUCKETS are refused naming the setting, and a load from an object store is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

from ombudsman.contracts.replies import Invalid  # noqa: E402
from ombudsman.engine.connectors import connect  # noqa: E402
from ombudsman.engine.files.checks import validate_files  # noqa: E402
from ombudsman.engine.files.config import parse_config  # noqa: E402
from ombudsman.engine.files.load import load_files  # noqa: E402

COLUMNS = {"sale_id": "BIGINT", "sold_on": "DATE", "amount": "DECIMAL(12,2)", "note": "VARCHAR"}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A local S3 server with bucket `extracts` (sales under in/, one object under secret/); its endpoint."""
    import boto3
    import fsspec

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(name, value)
    fsspec.filesystem("s3").clear_instance_cache()  # no filesystem of an earlier server
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="extracts")
    for day in (1, 2, 3):
        lines = ["sale_id\tsold_on\tamount\tnote"]
        lines += [f"{s}\t2026-01-0{day}\t{s}.25\tnote {s}" for s in range((day - 1) * 100 + 1, day * 100 + 1)]
        if day == 2:
            lines[41] = "141\t2026-01-02\tlots\tbad amount"  # line 42 of the object
        client.put_object(Bucket="extracts", Key=f"in/sales_{day:02d}.tsv", Body=("\n".join(lines) + "\n").encode())
    client.put_object(Bucket="extracts", Key="secret/sales_09.tsv", Body=b"sale_id\tsold_on\tamount\tnote\n")
    try:
        yield endpoint
    finally:
        server.stop()


def _config(pattern: str) -> object:
    period = {"start": "2026-01-01", "end": "2026-01-04"}
    return parse_config({"files": [{"name": "sales", "pattern": pattern, "columns": COLUMNS, "date_column": "sold_on",
                                    "period": period, "key": ["sale_id"], "table": "sales"}]}, Path("/nonexistent"))


def test_checks_read_s3_objects_through_fsspec(s3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMB_FILE_BUCKETS", "s3://extracts/in")
    checks = {c.check: c for c in validate_files(_config("s3://extracts/in/sales_*.tsv"), platform=True)}  # type: ignore[arg-type]
    assert [f["file"] for f in checks["files_present"].details["files"]] == [
        f"s3://extracts/in/sales_{d:02d}.tsv" for d in (1, 2, 3)]
    assert checks["conformance"].status == "failed" and "sales_02.tsv line 42" in checks["conformance"].summary
    assert checks["row_counts"].details["rows"] == 299
    assert checks["date_completeness"].status == "failed" and "2026-01-04" in checks["date_completeness"].summary


def test_buckets_and_prefixes_outside_the_setting_are_refused(s3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMB_FILE_BUCKETS", "s3://extracts/in")
    for pattern in ("s3://extracts/secret/*.tsv", "s3://other/in/*.tsv", "s3://extracts/in/../secret/*.tsv",
                    "s3://extracts/inside/*.tsv"):
        with pytest.raises(Invalid) as raised:
            validate_files(_config(pattern), platform=True)  # type: ignore[arg-type]
        assert "OMB_FILE_BUCKETS" in raised.value.message or "relative segment" in raised.value.message, pattern
    monkeypatch.delenv("OMB_FILE_BUCKETS")
    with pytest.raises(Invalid) as raised:  # on the platform, no bucket is allowed until an administrator says
        validate_files(_config("s3://extracts/in/*.tsv"), platform=True)  # type: ignore[arg-type]
    assert "none configured" in raised.value.message


async def test_the_file_connector_reads_s3_objects_and_loads_are_refused(s3: str, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMB_FILE_BUCKETS", "s3://extracts/in")
    config = tmp_path / "s3.yaml"
    config.write_text(yaml.safe_dump({"files": [{"name": "sales", "pattern": "s3://extracts/in/sales_0[13].tsv",
                                                 "columns": COLUMNS, "table": "sales"}]}, sort_keys=False))
    async with connect(f"file://{config}") as files:
        table = await files.fetch("SELECT count(*) AS n, sum(amount) AS total FROM main.sales")
        assert table.to_pylist() == [{"n": 200, "total": sum(s + 0.25 for s in [*range(1, 101), *range(201, 301)])}]
        with pytest.raises(Exception, match=r"file system operations are disabled|Permission"):
            await files.fetch("SELECT count(*) FROM read_csv('s3://extracts/in/sales_02.tsv')")
    with pytest.raises(Invalid) as raised:
        await load_files(parse_config(yaml.safe_load(config.read_text()), tmp_path), f"duckdb:///{tmp_path / 'x.duckdb'}")
    assert "object store" in raised.value.message

"""schemathesis against the served OpenAPI spec: no 500, no status code, content type or body the spec
does not declare. Bounded by --max-time (the whole run takes about a minute on 2 cores)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.gateway.conftest import Served

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
])
MAX_SECONDS = int(os.environ.get("OMB_SCHEMATHESIS_SECONDS", "60"))


async def test_openapi_spec_holds_under_generated_requests(served_with_executor: Served, tmp_path: Path) -> None:
    """Every service behind the gateway is the real one, the executor included, so the replies
    checked against the spec are the services' own."""
    served = served_with_executor
    admin_id, token = await served.token("fuzz-admin", role="admin")
    await served.create_project("p1", admin_id)
    schemathesis = Path(sys.executable).parent / "schemathesis"
    proc = await asyncio.create_subprocess_exec(
        str(schemathesis), "run", f"http://127.0.0.1:{served.port}/api/v1/openapi.json",
        "--checks", CHECKS,
        "--header", f"Authorization: Bearer {token}",
        # Logging out would revoke the token the run uses; logout is covered by the auth-flow tests.
        "--exclude-path", "/api/v1/auth/logout",
        "--max-examples", "25", "--max-time", str(MAX_SECONDS), "--request-timeout", "30",
        "--workers", "1", "--generation-database", "none", "--seed", "8", "--no-color",
        "--report", "junit", "--report-dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), MAX_SECONDS + 120)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]
    assert "Server error" not in text

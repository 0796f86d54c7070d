"""The Studio as the gateway serves it: `/` is its page, its hashed assets are served from the
package with their content type, nothing outside the build is reachable, the policy keeps scripts
same-origin, and the login page's script fits the budget (300 KB gzipped)."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ombudsman.gateway.app import create_app
from ombudsman.gateway.settings import GatewaySettings
from ombudsman.gateway.ui import STUDIO, studio_built

LOGIN_BUDGET = 300 * 1024


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    assert studio_built(), "the Studio is built by `make install` (npm run build in web/)"
    yield TestClient(create_app(GatewaySettings(jwt_secret="studio-test-secret-" + "x" * 40)))


def _entry_scripts(html: str) -> list[str]:
    return re.findall(r'<script type="module" crossorigin src="(/studio/assets/[^"]+\.js)"', html)


def test_root_serves_the_studio_page_and_its_entry_script(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<div id="root">' in page.text
    scripts = _entry_scripts(page.text)
    assert len(scripts) == 1
    script = client.get(scripts[0])
    assert script.status_code == 200 and script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "immutable" in script.headers["cache-control"]
    assert client.get("/studio/favicon.svg").headers["content-type"] == "image/svg+xml"


def test_every_built_file_is_served(client: TestClient) -> None:
    """Every chunk the build made (lazy pages, Mermaid's diagrams) is reachable under /studio/."""
    files = [p for p in STUDIO.rglob("*") if p.is_file()]
    assert len(files) > 10
    for path in files:
        response = client.get("/studio/" + path.relative_to(STUDIO).as_posix())
        assert response.status_code == 200, path
        assert response.content == path.read_bytes()


def test_login_page_script_fits_the_budget(client: TestClient) -> None:
    """What the login page loads before any lazy page: the entry chunk and its static imports."""
    entry = _entry_scripts(client.get("/").text)[0]
    seen: set[str] = set()
    todo = [entry]
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        text = client.get(ref).text
        # static imports only: `import … from "./x.js"` / `import "./x.js"` (dynamic import() is lazy)
        for name in re.findall(r'(?:^|[;}\n])\s*import\s*(?:[^"\'()]*?from\s*)?["\'](\./[^"\']+\.js)["\']', text):
            todo.append("/studio/assets/" + name.removeprefix("./"))
    size = sum(len(gzip.compress((STUDIO / ref.removeprefix("/studio/")).read_bytes())) for ref in seen)
    print(f"login page JS: {len(seen)} files, {size / 1024:.1f} KB gzipped")
    assert size <= LOGIN_BUDGET


@pytest.mark.parametrize("path", ["/studio/nope.js", "/studio/assets/a/b.js", "/studio/..%2Fstatic%2Fapp.js",
                                  "/studio/assets/..%2F..%2F__init__.py", "/studio/index.py",
                                  "/studio/assets/..js", "/studio/.hidden.js"])
def test_nothing_outside_the_build_is_served(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_studio_policy_keeps_scripts_and_connections_same_origin(client: TestClient) -> None:
    response = client.get("/", headers={"Host": "omb.example:8800"})
    csp = {d.split()[0]: d.split()[1:] for d in response.headers["content-security-policy"].split("; ")}
    assert csp["default-src"] == ["'none'"] and csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'", "'unsafe-inline'"]  # emotion and Mermaid insert <style> at run time
    assert csp["connect-src"] == ["'self'", "ws://omb.example:8800", "wss://omb.example:8800"]
    assert csp["frame-ancestors"] == ["'none'"]

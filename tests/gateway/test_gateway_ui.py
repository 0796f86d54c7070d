"""The web UI served by the gateway: the page, its assets, their headers, and that every API path
its scripts call exists in the OpenAPI spec (so a renamed route breaks this test, not the UI)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ombudsman.gateway.app import create_app
from ombudsman.gateway.settings import GatewaySettings
from ombudsman.gateway.ui import STATIC

# A string or template literal holding an API path, e.g. "/api/v1/runs" or `/api/v1/runs/${id}/export`.
API_LITERAL = re.compile(r"""(["'`])(/api/v1/[^"'`?\s]*)\1""")
# A call through the UI's client whose method is explicit: api.get("/api/v1/…") or send("POST", "/api/v1/…").
API_CALL = re.compile(r"""(?:api\.(get|post|raw)\(|send\("([A-Z]+)",\s*)(["'`])(/api/v1/[^"'`?\s]*)\3""")
TEMPLATE_PARAM = re.compile(r"\$\{[^}]*\}")


@pytest.fixture(scope="module")
def gateway() -> FastAPI:
    """The real app; the UI routes need neither NATS nor PostgreSQL, so the lifespan is not entered."""
    return create_app(GatewaySettings(jwt_secret="ui-test-secret-" + "x" * 40))


@pytest.fixture(scope="module")
def client(gateway: FastAPI) -> Iterator[TestClient]:
    yield TestClient(gateway)


def _scripts() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(STATIC.glob("*.js"))}


def _spec_matchers(gateway: FastAPI) -> list[tuple[re.Pattern[str], set[str]]]:
    spec = gateway.openapi()
    matchers = []
    for path, operations in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        matchers.append((pattern, {method.upper() for method in operations}))
    return matchers


def _as_concrete(literal: str) -> str:
    """`/api/v1/runs/${encodeURIComponent(id)}/export` -> `/api/v1/runs/X/export`."""
    return TEMPLATE_PARAM.sub("X", literal)


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.module_scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for attribute in ("src", "href"):
            value = values.get(attribute)
            if value and not value.startswith("#"):
                self.refs.append(value)
        if tag == "script" and values.get("type") == "module" and values.get("src"):
            self.module_scripts.append(values["src"] or "")


# The Studio (tests/ui) is served at `/` once built; this earlier page stays at /ui/index.html.
VANILLA = "/ui/index.html"


def test_root_serves_the_page_with_the_app_script(client: TestClient) -> None:
    response = client.get(VANILLA)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    parser = _Assets()
    parser.feed(response.text)
    assert parser.module_scripts == ["/ui/app.js"]
    assert "/ui/style.css" in parser.refs
    assert 'id="main"' in response.text
    head = client.head(VANILLA)  # link checkers and load balancers probe with HEAD
    assert head.status_code == 200 and head.headers["content-type"] == "text/html; charset=utf-8"


def test_every_asset_the_page_and_scripts_name_is_served_with_its_content_type(client: TestClient) -> None:
    parser = _Assets()
    parser.feed(client.get(VANILLA).text)
    imported = [f"/ui/{name.removeprefix('./')}" for source in _scripts().values()
                for name in re.findall(r"""from\s+["'](\./[^"']+)["']""", source)]
    expected = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
    refs = set(parser.refs) | set(imported)
    assert {"/ui/app.js", "/ui/api.js", "/ui/dom.js", "/ui/style.css", "/ui/favicon.svg"} <= refs
    for ref in refs:
        assert ref.startswith("/ui/"), f"{ref} is not served by the gateway (the UI must work offline)"
        response = client.get(ref)
        assert response.status_code == 200, ref
        suffix = ref[ref.rindex("."):]
        assert response.headers["content-type"] == expected[suffix], ref
        assert response.content == (STATIC / ref.removeprefix("/ui/")).read_bytes()


def test_ui_files_load_nothing_from_another_origin() -> None:
    for path in STATIC.iterdir():
        text = path.read_text()
        external = [url for url in re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"')]*", text)
                    if not url.startswith("http://www.w3.org/")]  # the SVG namespace is a name, not a fetch
        assert external == [], f"{path.name} refers to {external}"


def test_ui_replies_carry_a_same_origin_content_security_policy(client: TestClient) -> None:
    for path in (VANILLA, "/ui/app.js", "/ui/style.css"):
        response = client.get(path, headers={"Host": "omb.example:8800"})
        csp = {d.split()[0]: d.split()[1:] for d in response.headers["content-security-policy"].split("; ")}
        assert csp["default-src"] == ["'none'"]
        assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
        # WebSockets to this host are allowed, nothing else beyond the origin
        assert csp["connect-src"] == ["'self'", "ws://omb.example:8800", "wss://omb.example:8800"]
        assert csp["frame-ancestors"] == ["'none'"]
        assert response.headers["x-content-type-options"] == "nosniff"
    # a Host header that is not a host name is not reflected into the policy
    odd = client.get(VANILLA, headers={"Host": "evil.example; script-src *"})
    assert "evil" not in odd.headers["content-security-policy"]
    # the API keeps its own strict policy
    api = client.get("/api/v1/openapi.json")
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_every_api_path_in_the_scripts_exists_in_the_openapi_spec(gateway: FastAPI) -> None:
    matchers = _spec_matchers(gateway)
    found: list[str] = []
    for name, source in _scripts().items():
        for _, literal in API_LITERAL.findall(source):
            concrete = _as_concrete(literal)
            found.append(concrete)
            assert any(pattern.match(concrete) for pattern, _ in matchers), f"{name}: {literal} is not in the OpenAPI spec"
        for verb, method, _, literal in API_CALL.findall(source):
            wanted = method or {"get": "GET", "raw": "GET", "post": "POST"}[verb]
            concrete = _as_concrete(literal)
            allowed = set().union(*(methods for pattern, methods in matchers if pattern.match(concrete)))
            assert wanted in allowed, f"{name}: {wanted} {literal} is not an operation of the spec ({sorted(allowed)})"
    # the pages the brief asks for are all wired: login/refresh/logout, projects, runs, exports, audit
    for needed in ("/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/projects",
                   "/api/v1/projects/X/setup-status", "/api/v1/projects/X/connections/X/test",
                   "/api/v1/projects/X/automate", "/api/v1/projects/X/pipelines/X/execute",
                   "/api/v1/projects/X/pipelines/X/mermaid", "/api/v1/runs", "/api/v1/runs/X",
                   "/api/v1/runs/X/export", "/api/v1/audit/logs", "/api/v1/audit/verify",
                   "/api/v1/runs/X/compare", "/api/v1/projects/X/discrepancies",
                   "/api/v1/projects/X/discrepancies/X/accept", "/api/v1/projects/X/discrepancies/X/resolve",
                   "/api/v1/projects/X/connections/X/pool"):
        assert needed in found, f"the UI never calls {needed}"


def test_the_run_socket_the_ui_opens_is_a_gateway_route(client: TestClient) -> None:
    source = _scripts()["api.js"]
    sockets = re.findall(r"new WebSocket\(`\$\{scheme\}//\$\{location\.host\}(/ws/[^`]+)`\)", source)
    assert sockets == ["/ws/runs/${encodeURIComponent(runId)}"]  # no ?token=: it would land in access logs
    assert 'socket.send(JSON.stringify({ token: session.token() || "" }))' in source
    # The gateway's run socket answers there and takes the token as the first message: a bad one is
    # refused by the socket itself, where a path no socket serves would not even be accepted.
    with client.websocket_connect("/ws/runs/r-1") as socket:
        socket.send_json({"token": "not-a-token"})
        message = socket.receive_json()
    assert message["type"] == "error" and message["error"]["code"] == "unauthorized"


def test_export_formats_offered_are_the_ones_the_api_accepts(gateway: FastAPI) -> None:
    spec = gateway.openapi()
    parameter = next(p for p in spec["paths"]["/api/v1/runs/{run_id}/export"]["get"]["parameters"] if p["name"] == "format")
    accepted = set(parameter["schema"]["enum"])
    offered = set(re.findall(r'\["(\w+)", "[^"]+"\]', re.search(r"const EXPORTS = (\[.*?\]);", _scripts()["app.js"]).group(1)))
    assert offered == {"json", "csv", "excel", "pdf", "junit", "html"}
    assert offered <= accepted


@pytest.mark.parametrize("path", ["/ui/nope.js", "/ui/../app.py", "/ui/%2e%2e/app.py", "/ui/", "/ui/static/app.js",
                                  "/ui/__init__.py", "/ui/app.js.map"])
def test_unknown_ui_paths_are_404_in_the_error_shape(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"]["code"] == "not_found"
    assert body["error"]["message"]


def test_ui_routes_are_not_in_the_api_spec(gateway: FastAPI) -> None:
    paths = gateway.openapi()["paths"]
    assert "/" not in paths and not any(path.startswith("/ui") for path in paths)


NODE = [sys.executable, "-m", "nodejs"]  # the nodejs-bin wheel of requirements-dev.txt: no system node needed


def test_scripts_are_valid_javascript_modules() -> None:
    broken = subprocess.run([*NODE, "--input-type=module", "--check"], input="export const x = ;",
                            capture_output=True, text=True, timeout=60)
    assert broken.returncode != 0 and "SyntaxError" in broken.stderr  # the check does check
    scripts = sorted(STATIC.glob("*.js"))
    assert [p.name for p in scripts] == ["api.js", "app.js", "dom.js"]
    for path in scripts:
        result = subprocess.run([*NODE, "--input-type=module", "--check"], input=path.read_text(),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{path.name}: {result.stderr}"

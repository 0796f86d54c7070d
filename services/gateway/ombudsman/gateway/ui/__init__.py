"""The web UI: a dependency-free single page (HTML, CSS, JS modules) served at `/` and `/ui/...`.

Everything it loads comes from this package, so it works offline; its replies carry a
Content-Security-Policy that allows this origin only (scripts, styles, API calls and WebSockets).
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ombudsman.contracts.replies import NotFound

STATIC = Path(__file__).parent / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_ASSET = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9]+)+$")
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")

router = APIRouter(include_in_schema=False)


def content_security_policy(host: str | None) -> str:
    """Same origin only. `connect-src` names this host's ws:/wss: too, because older browsers do
    not count WebSockets to the page's own host as 'self'."""
    sockets = f" ws://{host} wss://{host}" if host and _HOST.match(host) else ""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'{sockets}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def _file(name: str, request: Request) -> Response:
    path = STATIC / name
    suffix = path.suffix.lower()
    if not _ASSET.match(name) or suffix not in CONTENT_TYPES or not path.is_file():
        raise NotFound(f"no UI file {name!r}", {"path": f"/ui/{name}"})
    return Response(
        path.read_bytes(),
        media_type=CONTENT_TYPES[suffix],
        headers={"Content-Security-Policy": content_security_policy(request.headers.get("host")),
                 "Cache-Control": "no-cache"},
    )


@router.api_route("/", methods=["GET", "HEAD"])
async def index(request: Request) -> Response:
    """The single page; it routes in the URL fragment (`#/projects/...`)."""
    return _file("index.html", request)


@router.api_route("/ui/{name:path}", methods=["GET", "HEAD"])
async def asset(name: str, request: Request) -> Response:
    """A script, stylesheet or icon of the UI; anything else is a 404 in the error shape."""
    return _file(name, request)

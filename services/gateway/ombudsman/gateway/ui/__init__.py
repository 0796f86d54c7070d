"""The web UIs, served from this package so they work offline, with a same-origin
Content-Security-Policy (scripts, styles, API calls and WebSockets from this origin only):

- the Studio (React app built from web/ by `make install` into `studio/`): `/` and `/studio/...`;
- the earlier dependency-free page (`static/`): `/ui/...`, and `/` when the Studio is not built.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ombudsman.contracts.replies import NotFound

STATIC = Path(__file__).parent / "static"
STUDIO = Path(__file__).parent / "studio"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
}
_ASSET = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9]+)+$")
# Vite's chunk names: letters, digits, _ - and dots (`cytoscape.esm-CFkBLF6F.js`), never `..`.
_STUDIO_ASSET = re.compile(r"^[A-Za-z0-9_-](?:[A-Za-z0-9_-]|\.(?!\.))*$")
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


def studio_content_security_policy(host: str | None) -> str:
    """The Studio's policy: as `content_security_policy`, but styles may also be inline: MUI
    (emotion) and Mermaid's SVGs insert <style> elements at run time. Scripts stay 'self' only."""
    return content_security_policy(host).replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'").replace("img-src 'self' data:", "img-src 'self' data:; font-src 'self' data:")


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


def studio_built() -> bool:
    """Whether `make install` built the Studio into this package."""
    return (STUDIO / "index.html").is_file()


def _studio_file(name: str, request: Request) -> Response:
    parts = name.split("/")
    inside = len(parts) == 1 or (len(parts) == 2 and parts[0] == "assets")
    path = STUDIO.joinpath(*parts)
    suffix = path.suffix.lower()
    if not inside or not _STUDIO_ASSET.match(parts[-1]) or suffix not in CONTENT_TYPES or not path.is_file():
        raise NotFound(f"no Studio file {name!r}", {"path": f"/studio/{name}"})
    # Hashed asset names never change content: cache them for good; the page itself is revalidated.
    cache = "public, max-age=31536000, immutable" if parts[0] == "assets" else "no-cache"
    return Response(
        path.read_bytes(),
        media_type=CONTENT_TYPES[suffix],
        headers={"Content-Security-Policy": studio_content_security_policy(request.headers.get("host")),
                 "Cache-Control": cache},
    )


@router.api_route("/", methods=["GET", "HEAD"])
async def index(request: Request) -> Response:
    """The single page (the Studio when built, else the earlier page); it routes in the URL
    fragment (`#/projects/...`)."""
    if studio_built():
        return _studio_file("index.html", request)
    return _file("index.html", request)


@router.api_route("/studio/{name:path}", methods=["GET", "HEAD"])
async def studio_asset(name: str, request: Request) -> Response:
    """A file of the Studio's build (its page, scripts, icon); anything else is a 404 in the error shape."""
    return _studio_file(name or "index.html", request)


@router.api_route("/ui/{name:path}", methods=["GET", "HEAD"])
async def asset(name: str, request: Request) -> Response:
    """A script, stylesheet or icon of the UI; anything else is a 404 in the error shape."""
    return _file(name, request)

"""The API docs (Swagger UI at /docs, ReDoc at /redoc) with their scripts, styles and icon served
by the gateway itself from the `fastapi-offline` package: no CDN, so the docs work offline."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from ombudsman.contracts.replies import NotFound

ASSETS_PATH = "/docs-assets"
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
# name -> media type: the only files served from the package
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
          "redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on the gateway's OpenAPI document, its assets from the gateway."""
    return get_swagger_ui_html(openapi_url=request.app.openapi_url, title=f"{request.app.title} - docs",
                               swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                               swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
                               swagger_favicon_url=f"{ASSETS_PATH}/favicon.png")


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc on the gateway's OpenAPI document (no web fonts from outside)."""
    return get_redoc_html(openapi_url=request.app.openapi_url, title=f"{request.app.title} - ReDoc",
                          redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
                          redoc_favicon_url=f"{ASSETS_PATH}/favicon.png", with_google_fonts=False)


@router.get(ASSETS_PATH + "/{name}")
async def asset(name: str) -> FileResponse:
    """One of the docs' files; any other name is a 404."""
    if name not in ASSETS:
        raise NotFound(f"no docs asset {name!r}", {"name": name})
    return FileResponse(ASSETS_DIR / name, media_type=ASSETS[name],
                        headers={"cache-control": "public, max-age=86400"})

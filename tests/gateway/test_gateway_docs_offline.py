"""/docs and /redoc work offline: every script, style and icon they reference is served by the
gateway itself (a real uvicorn server), and nothing points outside it."""

from __future__ import annotations

import re

import httpx

from ombudsman.gateway.app import create_app
from tests.gateway.conftest import ensure_events_stream, gateway_settings, serving

REFERENCE = re.compile(r"""(?:src|href|url)\s*[=:(]\s*['"]([^'"]+)['"]""")


async def test_docs_and_their_assets_come_from_the_gateway(database_url: str, nats_url: str) -> None:
    await ensure_events_stream(nats_url)
    app = create_app(gateway_settings(database_url, nats_url))
    async with serving(app) as port, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
        for page, expected in (("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
                               ("/redoc", {"redoc.standalone.js", "favicon.png"})):
            r = await c.get(page)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), page
            assert "cdn." not in r.text and "fonts.googleapis" not in r.text, page
            csp = r.headers["content-security-policy"]
            assert "https:" not in csp and "cdn" not in csp, csp
            references = REFERENCE.findall(r.text)
            assets = [ref for ref in references if not ref.endswith("openapi.json")]
            assert {ref.rsplit("/", 1)[-1] for ref in assets} == expected, references
            for ref in references:
                assert ref.startswith("/"), f"{page} references {ref} outside the gateway"
                got = await c.get(ref)
                assert got.status_code == 200 and len(got.content) > 1000, ref
            js = next(a for a in assets if a.endswith(".js"))
            assert (await c.get(js)).headers["content-type"].startswith("text/javascript")
        assert (await c.get("/docs-assets/..%2Fcore.py")).status_code == 404
        assert (await c.get("/docs-assets/other.js")).status_code == 404

"""Ten thousand runs in the Studio's runs list, in a real browser (Debian's chromium) against the real
gateway, projects and executor services over NATS JetStream and PostgreSQL.

The runs are seeded through the executor's own write path: each run's `RunQueued`, `RunStarted` and
`RunCompleted` appended to its event store by the service's unit of work, which applies its
`run_results` projection in the same transaction (500 runs per transaction) and queues the events
for its relay — exactly what executing them would leave behind, minus the steps' work.

The test scrolls the list with the mouse wheel, then jumps to the end with the End key, and checks
what matters: the last run (as the API orders them) is reachable, the DOM never holds 200 rows or
more, and the list asks for the pages it shows, not every page. It records, without asserting
them, the gaps between animation frames while scrolling by wheel (p95 and max ms), the time from
the End key to the last run on screen and the number of page requests; they are printed and
written to test-artifacts/ui/runs-scale.json (figures: docs/perf/studio-runs-list.md)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import text

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.executor import app as executor_app
from ombudsman.executor.app import ExecutorService
from ombudsman.executor.settings import ExecutorSettings
from ombudsman.gateway.app import create_app
from ombudsman.projects import app as projects_app
from tests.gateway.conftest import PASSWORD, ensure_events_stream, gateway_settings, service_settings, serving
from tests.support import eventually
from tests.ui.test_studio_browser import ARTIFACTS, Pages, browser_page, tools  # noqa: F401 - fixtures

RUNS = int(os.environ.get("OMB_UI_SCALE_RUNS", "10000"))
PER_TRANSACTION = 500
WHEEL_STEPS, WHEEL_PX = 60, 1500  # 90,000 px by wheel (about 2,000 rows), then End

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


async def seed_runs(executor: ExecutorService, project_id: str, count: int) -> None:
    """`count` finished runs of one pipeline, appended through the executor's unit of work."""
    meta = Metadata(actor=Actor.service("executor"))
    for start in range(0, count, PER_TRANSACTION):
        async with executor.ctx.uow() as uow:
            for i in range(start, min(count, start + PER_TRANSACTION)):
                run_id = f"seeded-{i:05d}"
                failed = 1 if i % 7 == 0 else 0
                await uow.emit(run_id, [
                    ev.RunQueued(run_id=run_id, project_id=project_id, pipeline_id="nightly",
                                 pipeline_name=f"nightly #{i}", steps=["counts", "sums", "rows"]),
                    ev.RunStarted(run_id=run_id),
                    ev.RunCompleted(run_id=run_id, status="failed" if failed else "completed", total_steps=3,
                                    successful_steps=3 - failed, failed_steps=failed, duration_seconds=1.5),
                ], meta, expected_version=0)


@pytest.fixture
async def runs_stack(database_url: str, nats_url: str) -> AsyncIterator[dict[str, Any]]:
    """The gateway with the real projects and executor services (no worker: nothing runs)."""
    await ensure_events_stream(nats_url)
    projects = projects_app.create_service(service_settings(database_url, nats_url))
    await projects.start()
    try:
        async with executor_app.running(ExecutorSettings(nats_url=nats_url, database_url=database_url)) as executor:
            app = create_app(gateway_settings(database_url, nats_url, request_timeout=30))
            async with serving(app) as port:
                yield {"app": app, "port": port, "executor": executor}
    finally:
        await projects.stop()


def pages_asked(urls: list[str]) -> set[int]:
    """The offsets of the runs pages the browser asked for."""
    return {int(parse_qs(urlsplit(url).query).get("offset", ["0"])[0]) for url in urls}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


async def test_ten_thousand_runs_scroll_to_the_end(runs_stack: dict[str, Any], browser_page: Page) -> None:  # noqa: F811
    page = browser_page
    base = f"http://127.0.0.1:{runs_stack['port']}"
    await runs_stack["app"].state.users.register("lead", PASSWORD, "admin")
    async with httpx.AsyncClient(base_url=base + "/api/v1", timeout=60) as c:
        token = (await c.post("/auth/login", json={"username": "lead", "password": PASSWORD})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert (await c.post("/projects", headers=headers, json={"id": "big", "name": "Big"})).status_code == 201

        started = datetime.now(UTC)
        executor: ExecutorService = runs_stack["executor"]
        await seed_runs(executor, "big", RUNS)
        seeded_s = (datetime.now(UTC) - started).total_seconds()

        async def relayed() -> bool:  # the relay has published every seeded event (quiet machine while measuring)
            async with executor.ctx.engine.connect() as conn:
                return (await conn.execute(text("SELECT count(*) FROM executor.outbox"))).scalar_one() == 0

        await eventually(relayed, timeout=300, what="the executor's relay to publish the seeded events")
        last_page = (await c.get("/runs", headers=headers, params={"project_id": "big", "offset": RUNS - 1, "limit": 1})).json()
        assert last_page["total"] == RUNS
        last_run = last_page["items"][0]["run_id"]

    await page.goto(base + "/")
    await page.get_by_label("Username").fill("lead")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    requests: list[str] = []  # the runs list's page requests, from the moment it opens
    page.on("request", lambda r: requests.append(r.url) if "/api/v1/runs?" in r.url else None)
    await page.goto(base + "/#/projects/big/runs")
    table = page.get_by_role("table", name=f"Runs ({RUNS})")
    await expect(table).to_be_visible()
    await expect(table.locator("[data-run-id]").first).to_be_visible()

    # watch every change of the list (the most rows it ever held) and the animation frames
    await page.evaluate("""() => {
        const list = document.querySelector('[data-testid=runs-scroller]');
        window.__maxRows = list.querySelectorAll('[role=row]').length;
        new MutationObserver(() => {
            window.__maxRows = Math.max(window.__maxRows, list.querySelectorAll('[role=row]').length);
        }).observe(list, {childList: true, subtree: true});
        window.__frames = [];
        window.__recording = true;
        const tick = (t) => { window.__frames.push(t); if (window.__recording) requestAnimationFrame(tick); };
        requestAnimationFrame(tick);
    }""")
    scroller = page.get_by_test_id("runs-scroller")
    await scroller.hover()
    for _ in range(WHEEL_STEPS):  # scrolling by wheel: the frames while rows come and go
        await page.mouse.wheel(0, WHEEL_PX)
    frames: list[float] = await page.evaluate("() => { window.__recording = false; return window.__frames; }")
    await scroller.focus()
    ended_at = await page.evaluate("() => performance.now()")
    await page.keyboard.press("End")  # by keyboard to the end of the list
    await expect(table.locator(f'[data-run-id="{last_run}"]')).to_be_visible(timeout=120_000)
    end_ms = await page.evaluate("() => performance.now()") - ended_at
    max_rows = await page.evaluate("() => window.__maxRows")
    await Pages(page).check("runs-10000")

    gaps = [b - a for a, b in pairwise(frames)]
    figures = {"runs": RUNS, "seed_seconds": round(seeded_s, 1), "wheel_px": WHEEL_STEPS * WHEEL_PX,
               "wheel_frames": len(frames), "wheel_frame_gap_p95_ms": round(p95(gaps), 1),
               "wheel_frame_gap_max_ms": round(max(gaps), 1), "end_key_to_last_run_ms": round(end_ms),
               "page_requests": len(requests), "distinct_pages": len(pages_asked(requests)), "max_rows_in_dom": max_rows,
               "load_average": os.getloadavg()[0]}
    (ARTIFACTS / "runs-scale.json").write_text(json.dumps(figures, indent=1))
    print("runs list at scale:", json.dumps(figures))
    assert max_rows < 200, figures
    # the pages on screen only, never every page (a page on screen is asked again every 5 s: count pages)
    assert 0 < len(pages_asked(requests)) < RUNS // 100, sorted(pages_asked(requests))

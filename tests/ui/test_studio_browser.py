"""The Studio in a real browser (Debian's chromium driven by Playwright, no browser download)
against the whole stack for real: NATS JetStream, PostgreSQL, every service, an executor worker
process and the gateway serving the built Studio. A migration lead logs in, creates a project with
two connections (PostgreSQL source, DuckDB target with the sample's defects), automates it, approves
a mapping, browses the source's catalog (tables, columns, types, keys), edits a pipeline's YAML and
sees its DAG, runs a batch and watches it, watches a run
live, opens a failed row_hash step in the comparison viewer, exports Excel, accepts a discrepancy,
searches and verifies the audit log, views the project as of an earlier instant and its quality
trend, reads and marks read the in-app notifications its runs raised, schedules a pipeline (next
runs previewed) and removes it, adds a step to a pipeline in the builder through the form generated
from its validator's schema (the server's 422 on the field, the DAG redrawn, the YAML edited both
ways) and saves it, reviews the inferred relationships and classes and overrides a table's key,
uploads a Query Store export and makes a pipeline of its suggestions, (as an admin) adds a user and changes their role, and changes their
own password. Every page is
checked with axe-core (no serious or critical violation) and saved as a screenshot."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect

from ombudsman.client.demo import load_source, write_target
from ombudsman.gateway.ui import studio_built
from tests.gateway.conftest import PASSWORD
from tests.gateway.test_gateway_full_flow import full_stack  # noqa: F401 - the fixture: every service for real

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("OMB_UI_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"))
LONG = 180_000  # ms: automation and runs on a loaded 2-core machine

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


class Pages:
    """Screenshots and accessibility checks of each page the test visits."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.shots: list[str] = []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    async def check(self, name: str) -> None:
        # colours are checked once they have settled (a chip changing colour is mid-transition otherwise)
        await self.page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')")
        # evaluated over the DevTools protocol, which the page's CSP (scripts: self only) does not block
        if not await self.page.evaluate("() => typeof window.axe === 'object'"):
            await self.page.evaluate(f"(() => {{ {AXE.read_text()}\n; window.axe = axe; }})()")
        found = await self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))")
        serious = [v for v in found if v["impact"] in ("serious", "critical")]
        path = ARTIFACTS / f"{len(self.shots) + 1:02d}-{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path.name)
        assert serious == [], f"{name}: {json.dumps(serious, indent=1)}"


@pytest.fixture
def tools() -> None:
    """What `make install` provides: the Studio's build and Debian's chromium (fails, never skips)."""
    assert studio_built(), "the Studio is built by `make install` (npm run build in web/)"
    assert os.path.exists(CHROMIUM), "Debian's chromium is missing: make install runs scripts/ensure-chromium.sh"


@pytest.fixture
async def browser_page(tools: None) -> AsyncIterator[Page]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = await browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True,
                                            timezone_id="UTC")
        page = await context.new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.run_frames = []  # type: ignore[attr-defined]  # what the run sockets received

        def watch(ws: Any) -> None:
            if "/ws/runs/" in ws.url:
                ws.on("framereceived", lambda payload: page.run_frames.append(payload))  # type: ignore[attr-defined]

        page.on("websocket", watch)
        try:
            yield page
        finally:
            await browser.close()
        assert errors == [], errors


async def test_migration_lead_flow_in_the_browser(full_stack: dict[str, Any], warehouse_server_url: str,  # noqa: F811
                                                   browser_page: Page, tmp_path: Path) -> None:
    page = browser_page
    pages = Pages(page)
    base = f"http://127.0.0.1:{full_stack['port']}"
    await full_stack["app"].state.users.register("lead", PASSWORD, "admin")
    source_url = await load_source(warehouse_server_url)
    target_path = tmp_path / "target.duckdb"
    write_target(target_path)

    # log in (a wrong password first: the error is said, not thrown)
    await page.goto(base + "/")
    await expect(page).to_have_url(re.compile(r"#/login$"))
    await page.get_by_label("Username").fill("lead")
    await page.get_by_label("Password").fill("wrong password")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    await pages.check("login")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    await pages.check("dashboard")

    # create a project
    await page.get_by_role("link", name="Projects").click()
    await page.get_by_role("button", name="New project").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Id").fill("shop")
    await dialog.get_by_label("Name", exact=False).first.fill("Shop migration")
    await dialog.get_by_label("Source schemas").fill("sales")
    await dialog.get_by_label("Target schemas").fill("sales")
    await dialog.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("heading", name="Shop migration")).to_be_visible()
    created_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)

    # in-app notifications of the project's finished runs (the runs come later)
    await page.get_by_role("link", name="Notifications").click()
    await page.get_by_role("textbox", name="Project", exact=True).fill("shop")
    await page.get_by_label("Event types (comma separated)").fill("RunCompleted")
    await page.get_by_role("button", name="Subscribe").click()
    await expect(page.get_by_role("status")).to_contain_text("Subscribed: RunCompleted in shop")
    await page.goto(f"{base}/#/projects/shop")
    await expect(page.get_by_role("heading", name="Shop migration")).to_be_visible()

    # two connections: the source by URL, the target with the DuckDB builder
    await page.get_by_role("link", name="Connections").click()
    for name, role, kind, field, value in (("source", "source", "Paste a URL", "URL", source_url),
                                           ("target", "target", "DuckDB (file)", "File path", str(target_path))):
        await page.get_by_role("button", name="Add connection").click()
        dialog = page.get_by_role("dialog")
        await dialog.get_by_label("Name").fill(name)
        await dialog.get_by_label("Role").click()
        await page.get_by_role("option", name=role, exact=True).click()
        await dialog.get_by_label("Kind").click()
        await page.get_by_role("option", name=kind).click()
        await dialog.get_by_label(field).fill(value)
        await dialog.get_by_role("button", name="Save connection").click()
        await expect(page.get_by_role("row", name=re.compile(rf"^{name}\b"))).to_be_visible()
    await page.get_by_role("button", name="Test connection source").click()
    await expect(page.get_by_role("row", name=re.compile(r"^source\b"))).to_contain_text(re.compile(r"ok · .* ms"), timeout=LONG)
    await pages.check("connections")

    # map the source schema to the target's, then automate
    await page.get_by_role("link", name="shop", exact=True).click()
    await page.get_by_label("Source schema").fill("sales")
    await page.get_by_label("Target schema").fill("sales")
    await page.get_by_role("button", name="Map schema").click()
    await expect(page.get_by_role("table", name="Schema mappings")).to_contain_text("sales")
    await page.get_by_role("button", name="Automate").click()
    await expect(page.get_by_role("status")).to_contain_text("Automation finished", timeout=LONG)
    await pages.check("project")

    # the catalog browser: the source's tables with their keys, one opened to its columns and types
    await page.get_by_role("link", name="Catalog").click()
    await expect(page.get_by_test_id("catalog-summary")).to_contain_text(re.compile(r"postgres.* [1-9]\d* tables"))
    tables = page.get_by_role("table", name="Tables of the source")
    opener = tables.get_by_role("button", name=re.compile(r"^Columns of sales\.")).first
    opened = (await opener.get_attribute("aria-label") or "").removeprefix("Columns of ")
    await opener.click()
    columns = page.get_by_role("table", name=f"Columns of {opened}")
    await expect(columns.get_by_role("row").nth(1)).to_be_visible()
    await expect(columns).to_contain_text("PK")
    await pages.check("catalog")

    # mapping review: approve one suggested table mapping
    await page.get_by_role("link", name="Mappings").click()
    table = page.get_by_role("table", name="Table mapping suggestions")
    await expect(table.get_by_role("row").nth(1)).to_be_visible()
    first = table.get_by_role("checkbox", name=re.compile(r"^Select sales\."))
    source_table = (await first.first.get_attribute("aria-label") or "").removeprefix("Select ")
    await first.first.focus()  # by keyboard: Space selects the row, Enter on the button approves
    await page.keyboard.press("Space")
    await expect(first.first).to_be_checked()
    await page.get_by_role("button", name="Approve selected").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text(f"Approved: {source_table}")
    await table.get_by_role("button", name=f"Columns of {source_table}").click()
    await expect(page.get_by_role("table", name=f"Column mappings of {source_table}")).to_be_visible()
    await pages.check("mappings")

    # pipelines: the DAG drawn, the YAML edited and saved
    await page.get_by_role("link", name="Pipelines").click()
    orders = page.get_by_role("article", name=re.compile(r"Pipeline .*orders", re.I)).first
    await orders.get_by_role("button", name="Show diagram").click()
    await expect(orders.get_by_role("img", name=re.compile("DAG of")).locator("svg")).to_be_visible()
    await orders.get_by_role("button", name="Edit YAML").click()
    editor = orders.get_by_role("textbox", name=re.compile("YAML of"))
    original = await editor.input_value()
    await editor.fill(original.replace("steps:", "description: reviewed in the Studio\nsteps:", 1)
                      if "description:" not in original else original + "\n# reviewed in the Studio\n")
    await orders.get_by_role("button", name="Save").click()
    await expect(orders.get_by_role("status")).to_contain_text("Saved.")
    await pages.check("pipelines")

    # a batch of two pipelines, watched until it ends
    boxes = page.get_by_role("checkbox", name="In batch")
    await boxes.nth(0).check()
    await boxes.nth(1).check()
    await page.get_by_role("button", name="Run 2 as a batch").click()
    batch = page.locator("#batch-h")
    await expect(batch).to_be_visible()
    await expect(batch).to_contain_text(re.compile(r"completed|failed"), timeout=LONG)
    await expect(page.get_by_label("Batch progress")).to_be_visible()
    await pages.check("batch")

    # one run watched live over the WebSocket: progress reaches every step
    await page.get_by_role("link", name="Pipelines").click()
    orders = page.get_by_role("article", name=re.compile(r"Pipeline .*orders", re.I)).first
    await orders.get_by_role("button", name=re.compile("^Run pipeline")).click()
    progress = page.get_by_test_id("progress-text")
    await expect(progress).to_be_visible()
    await expect(progress).to_have_text(re.compile(r"^(\d+) of \1 steps finished$"), timeout=LONG)
    await expect(page.get_by_role("heading", name="Results")).to_be_visible(timeout=LONG)
    # the progress came over the run's WebSocket (live, or replayed to a late joiner), not by polling
    received = [json.loads(f) for f in page.run_frames if isinstance(f, str)]  # type: ignore[attr-defined]
    assert any(m.get("type") in ("step.completed", "step.failed") for m in received), received[:5]
    assert any(m.get("type") in ("pipeline.completed", "pipeline.failed") for m in received)
    await pages.check("run")

    # Excel export of the run
    async with page.expect_download() as download:
        await page.get_by_role("button", name="Excel").click()
    saved = tmp_path / (await download.value).suggested_filename
    await (await download.value).save_as(saved)
    assert saved.suffix == ".xlsx" and saved.read_bytes()[:2] == b"PK"

    # the failed row_hash step in the comparison viewer, paged and filtered on the server through
    # the full difference list (not the step's sample)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/differences?" in r.url else None)
    steps = page.get_by_role("table", name="Steps")
    await steps.get_by_role("link").first.click()
    differences = page.get_by_role("table", name="Differences, source and target side by side")
    await expect(differences.get_by_role("row").nth(1)).to_be_visible()
    assert await differences.locator("[data-changed=yes]").count() > 0
    total_text = await page.get_by_test_id("differences-total").inner_text()
    total = int(re.match(r"^(\d+) differences? in the full list$", total_text).group(1))  # type: ignore[union-attr]
    assert total > 0 and any("offset=0" in u and "limit=25" in u for u in asked), asked
    if total > 25:  # a page beyond the first, asked of the server
        await page.get_by_role("button", name=re.compile("next page", re.I)).click()
        await expect(page.get_by_text(re.compile(r"^differences 26–"))).to_be_visible()
        assert any("offset=25" in u for u in asked), asked
        await page.get_by_role("button", name=re.compile("previous page", re.I)).click()
    await page.get_by_label("Kind").click()
    await page.get_by_role("option", name="changed", exact=True).click()
    await expect(page.get_by_test_id("differences-total")).not_to_have_text(total_text)
    kinds = await differences.locator("tbody tr td:first-child").all_inner_texts()
    assert kinds and set(kinds) == {"changed"}, kinds
    assert any("kind=changed" in u and "offset=0" in u for u in asked), asked
    await pages.check("comparison")

    # the notifications the finished runs raised: one marked read
    await page.get_by_role("link", name="Notifications").click()
    alerts = page.get_by_role("table", name="Notifications")
    await expect(alerts).to_contain_text("RunCompleted", timeout=LONG)
    unread = await alerts.get_by_role("button", name=re.compile("^Mark read")).count()
    await pages.check("notifications")
    await alerts.get_by_role("button", name=re.compile("^Mark read")).first.click()
    if unread > 1:
        await expect(alerts.get_by_role("button", name=re.compile("^Mark read"))).to_have_count(unread - 1)
    else:
        await expect(page.get_by_text("No unread notifications.")).to_be_visible()

    # schedules: a pipeline on a cron, its next runs previewed, then removed
    await page.goto(f"{base}/#/projects/shop/schedules")
    await expect(page.get_by_text("No schedules yet.")).to_be_visible()
    await page.get_by_label("Pipeline", exact=True).click()
    await page.get_by_role("option").first.click()
    await page.get_by_label(re.compile("^Cron")).fill("every night")
    await page.get_by_role("button", name="Add schedule").click()
    await expect(page.get_by_role("alert")).to_contain_text("five fields")
    await page.get_by_label(re.compile("^Cron")).fill("0 2 * * *")
    await page.get_by_role("button", name="Add schedule").click()
    scheduled = page.get_by_role("table", name="Schedules")
    await expect(scheduled).to_contain_text("0 2 * * *")
    next_runs = await scheduled.locator("tbody tr td:nth-child(3) div").all_inner_texts()
    assert len(next_runs) == 3 and all("02:00:00" in t or "2:00:00" in t for t in next_runs), next_runs
    await pages.check("schedules")
    await scheduled.get_by_role("button", name=re.compile("^Remove the schedule")).click()
    await expect(page.get_by_text("No schedules yet.")).to_be_visible()

    # the pipeline builder, relationships and keys, a workload (issue 18's builder pages)
    await edit_a_pipeline_in_the_builder(page, pages, base)
    await review_relationships_and_keys(page, pages)
    await upload_a_workload(page, pages, query_store_export(tmp_path / "query-store.json"))

    # accept a discrepancy with a note
    await page.goto(f"{base}/#/projects/shop/discrepancies")
    listed = page.get_by_role("table", name="Discrepancies")
    await expect(listed).to_be_visible()
    first_open = listed.get_by_role("row").filter(has=page.get_by_role("button", name="Accept as known")).first
    await first_open.get_by_role("textbox").fill("known rounding in the legacy system")
    await first_open.get_by_role("button", name="Accept as known").click()
    await expect(listed).to_contain_text("known rounding in the legacy system")
    await pages.check("discrepancies")

    # the audit log: search, detail, verify, and the project as of just after it was created
    await page.get_by_role("link", name="Audit").click()
    await page.get_by_label("Project").fill("shop")
    await page.get_by_label("Event type").fill("ProjectCreated")
    await page.get_by_role("button", name="Search").click()
    events = page.get_by_role("table", name="Audit events")
    await expect(events.get_by_role("row")).to_have_count(2)
    await expect(events).to_contain_text("ProjectCreated")
    await events.get_by_role("button", name=re.compile("^Details of event")).click()
    await expect(page.get_by_role("dialog")).to_contain_text("lead")
    await page.keyboard.press("Escape")
    await page.get_by_role("button", name="Verify the chain").click()
    await expect(page.get_by_role("status").filter(has_text="Chain")).to_contain_text("Chain intact", timeout=LONG)
    await page.get_by_label("At").fill(created_at.strftime("%Y-%m-%dT%H:%M:%S"))
    await page.get_by_role("button", name="Show as of").click()
    as_of = page.get_by_test_id("as-of")
    await expect(as_of).to_contain_text("Shop migration")
    await pages.check("audit")

    # the project's quality trend, now that it has runs
    await page.goto(f"{base}/#/projects/shop")
    await expect(page.get_by_test_id("trend-summary")).to_contain_text(re.compile(r"\d+ runs over \d+ days"))
    await expect(page.get_by_role("img", name=re.compile("^Quality score trend")).locator("canvas")).to_be_visible()
    await pages.check("project-trends")

    # admin: add a user, then change their role
    await page.get_by_role("link", name="Users").click()
    await page.get_by_label("New username").fill("auditor1")
    await page.get_by_label("Initial password").fill("a long enough password")
    await page.get_by_label("New user's role").click()
    await page.get_by_role("option", name="viewer").click()
    await page.get_by_role("button", name="Add user").click()
    await expect(page.get_by_role("status")).to_contain_text("auditor1 added.")
    users = page.get_by_role("table", name="Users")
    await expect(users.get_by_role("row", name=re.compile(r"^auditor1\b"))).to_contain_text("viewer")
    await users.get_by_role("combobox", name="Role of auditor1").click()
    await page.get_by_role("option", name="user", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("auditor1 is now user.")
    await pages.check("users")

    # profile: a password change (a wrong current password is said, not thrown)
    await page.get_by_role("link", name="Profile").click()
    await expect(page.get_by_text("Signed in as")).to_contain_text("lead")
    await page.get_by_label("Current password").fill("not my password")
    await page.get_by_label(re.compile(r"^New password(?! again)")).fill("a brand new password")
    await page.get_by_label("New password again").fill("a brand new password")
    await page.get_by_role("button", name="Change password").click()
    await expect(page.get_by_role("alert")).to_contain_text("not your current password")
    await page.get_by_label("Current password").fill(PASSWORD)
    await page.get_by_role("button", name="Change password").click()
    await expect(page.get_by_role("status")).to_contain_text("Password changed")
    await pages.check("profile")
    assert (await full_stack["app"].state.users.login("lead", "a brand new password")).access_token
    print("screenshots:", ", ".join(pages.shots))


async def edit_a_pipeline_in_the_builder(page: Page, pages: Pages, base: str) -> None:
    """The orders pipeline opened in the builder: a step added from the library through its generated
    form (the server's 422 shown on the field it names, the form's own checks on theirs), placed after
    another step by select, seen in the live DAG, its YAML edited (the form follows), saved, reloaded."""
    await page.goto(f"{base}/#/projects/shop/pipelines")
    orders = page.get_by_role("article", name=re.compile(r"Pipeline .*orders", re.I)).first
    await orders.get_by_role("link", name="Open in the builder").click()
    await expect(page.get_by_role("heading", name=re.compile("^Builder: "))).to_be_visible()
    steps = page.get_by_role("tablist", name="Steps").get_by_role("tab")
    await expect(steps.first).to_be_visible()
    before = await steps.count()
    first_step = (await steps.first.text_content() or "").strip()
    # the library, by keyboard: find the validator, Tab to it, Enter adds the step
    await page.get_by_label("Find a validator").fill("distribution")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text("Added step distribution.")
    await expect(steps).to_have_count(before + 1)
    editor = page.get_by_role("region", name=re.compile("^Step distribution"))
    form = editor.get_by_role("group", name="Parameters")
    await expect(form.get_by_label("Column")).to_have_attribute("required", "")
    dag = page.get_by_role("img", name=re.compile("^DAG of .*distribution"))
    await expect(dag.locator("svg")).to_contain_text("distribution")
    # a dependency chosen by select
    await editor.get_by_label("Depends on").click()
    await page.get_by_role("option", name=first_step, exact=True).click()
    await page.keyboard.press("Escape")
    await expect(editor.get_by_label("Depends on")).to_contain_text(first_step)
    # saved without the required column: the server's 422 is said on the Column field
    await page.get_by_role("button", name="Save pipeline").click()
    await expect(page.get_by_role("status")).to_contain_text("Not saved: 1 problem")
    await expect(editor).to_contain_text("step 'distribution': field required")
    # the step's table and column fields suggest the catalog's names
    await expect(page.locator("#tables-source option[value='sales.orders']")).to_have_count(1)
    await expect(page.locator("#columns-source option[value='amount']")).to_have_count(1)
    assert await form.get_by_label("Column").get_attribute("list") == "columns-source"
    await form.get_by_label("Column").fill("amount")
    await form.get_by_label("Bins").fill("many")
    await expect(form).to_contain_text('"many" is not a number')
    await expect(page.get_by_role("button", name="Save pipeline")).to_be_disabled()
    await form.get_by_label("Bins").fill("12")
    await form.get_by_label("Kind").click()
    await page.get_by_role("option", name="numeric").click()
    # the YAML follows the form, and the form the YAML
    await page.get_by_role("tab", name="YAML").click()
    yaml_box = page.get_by_label("Pipeline YAML")
    text = await yaml_box.input_value()
    assert "validator: distribution" in text and "column: amount" in text and "bins: 12" in text, text
    assert f"depends_on:\n      - {first_step}" in text, text
    await yaml_box.fill(text.replace("bins: 12", "bins: 20"))
    await page.get_by_role("tab", name="Form").click()
    await page.get_by_role("tab", name="distribution").click()
    await expect(form.get_by_label("Bins")).to_have_value("20")
    await pages.check("builder")
    await page.get_by_role("button", name="Save pipeline").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved ")
    await page.reload()
    await page.get_by_role("tab", name="YAML").click()
    assert "bins: 20" in await page.get_by_label("Pipeline YAML").input_value()


async def review_relationships_and_keys(page: Page, pages: Pages) -> None:
    """The source's inferred relationships drawn with their evidence, the tables' classes, and a
    table's key overridden by a person."""
    await page.get_by_role("link", name="Relationships").click()
    await expect(page.get_by_test_id("relationship-summary")).to_contain_text(re.compile(r"^[1-9]\d* relationships between"))
    await expect(page.get_by_role("img", name=re.compile("^Relationship graph of the source")).locator("svg")).to_be_visible()
    evidence = page.get_by_role("table", name="Relationships with their evidence")
    await expect(evidence).to_contain_text("customer_id")
    await expect(evidence).to_contain_text(re.compile(r"(declared|name_pattern|data|workload) \d+%"))
    classes = page.get_by_role("table", name="Table classes and keys")
    await expect(classes).to_contain_text("fact")
    await expect(page.get_by_test_id("class-counts")).to_contain_text(re.compile(r"\d+ (fact|dimension)"))
    await classes.get_by_role("button", name="Override key of sales.orders").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Key columns").fill("order_id, product_id")
    await dialog.get_by_label("Why").fill("one row per order line")
    await dialog.get_by_role("button", name="Save key").click()
    await expect(page.get_by_role("status")).to_have_text("Key of sales.orders set to order_id, product_id.")
    await expect(classes.get_by_role("row", name=re.compile(r"^sales\.orders\b"))).to_contain_text("order_id, product_id (overridden")
    await pages.check("relationships")


def query_store_export(path: Path) -> Path:
    """A small Query Store export (JSON) of reports over the demo's tables: joins, filters, measures."""
    report = ("SELECT c.region, SUM(o.amount) AS revenue, COUNT(*) AS orders FROM sales.orders o "
              "JOIN sales.customers c ON o.customer_id = c.customer_id "
              "WHERE o.order_date >= '2024-01-01' GROUP BY c.region")
    by_category = ("SELECT p.category, AVG(o.discount) FROM sales.orders o JOIN sales.products p "
                   "ON o.product_id = p.product_id WHERE o.status = 'shipped' GROUP BY p.category")
    rows = [{"query_id": i, "query_sql_text": sql.replace("2024-01-01", f"2024-01-{i % 28 + 1:02d}"),
             "count_executions": 20, "avg_duration": 1500.0 * i, "avg_cpu_time": 900.0, "avg_logical_io_reads": 300.0,
             "first_execution_time": "2024-03-01T08:00:00+00:00", "last_execution_time": "2024-03-02T08:00:00+00:00"}
            for i, sql in enumerate([report] * 6 + [by_category] * 6, start=1)]
    path.write_text(json.dumps(rows) + " " * 1_500_000)  # trailing blanks: a file that takes a while to send
    return path


async def upload_a_workload(page: Page, pages: Pages, export: Path) -> None:
    """A Query Store export uploaded (progress shown), analysed into top tables, joins, filters and
    measures, and its suggestions made into a pipeline that opens in the builder."""
    await page.get_by_role("link", name="Workload").click()
    await page.locator("#workload-file").set_input_files(str(export))
    await expect(page.get_by_test_id("chosen-file")).to_contain_text(export.name)
    # the upload throttled to 300 KB/s (DevTools network emulation): its progress is shown while it is sent
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                         "uploadThroughput": 300_000})
    await page.get_by_role("button", name="Upload and analyse").click()
    await expect(page.get_by_label("Upload progress")).to_be_visible()
    await expect(page.get_by_test_id("upload-progress")).to_contain_text(re.compile(r"^\d+ KB of 1\.\d MB sent"))
    await cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                         "uploadThroughput": -1})
    await expect(page.get_by_role("status")).to_contain_text("Done: 12 queries uploaded", timeout=LONG)
    await expect(page.get_by_test_id("workload-totals")).to_contain_text("12 queries")
    await expect(page.get_by_role("table", name="Top tables")).to_contain_text("sales.orders")
    await expect(page.get_by_role("table", name="Joins")).to_contain_text("customer_id")
    await expect(page.get_by_role("table", name="Filters")).to_contain_text("order_date")
    await expect(page.get_by_role("table", name="Measures")).to_contain_text("amount")
    suggested = page.get_by_role("table", name="Suggested checks")
    await expect(suggested.get_by_role("checkbox").first).to_be_checked()
    await pages.check("workload")
    await page.get_by_role("button", name=re.compile(r"^Make a pipeline of \d+ suggestions$")).click()
    await expect(page.get_by_role("status").filter(has_text="Pipeline")).to_contain_text("saved with")
    await page.get_by_role("link", name="Open it in the builder").click()
    await expect(page.get_by_role("heading", name=re.compile("^Builder: "))).to_be_visible()
    await expect(page.get_by_role("tablist", name="Steps").get_by_role("tab").first).to_be_visible()

"""The Studio's members, admin, catalog and results pages in a real browser (Debian's chromium,
Playwright) against the gateway and the real projects, metadata, audit and executor services over
NATS JetStream and PostgreSQL (no step worker: the two runs compared are appended through the
executor's own unit of work, as a worker's results would leave them).

An admin unlocks a locked-out user and changes a member's role; uploads a second version of a
catalog's DDL and reads what changed, exports the catalog as YAML; adds members by username and
removes one; opens a run whose step got worse than in the baseline run, sees the change, the
pipeline's history and quality score, and exports the run as Excel. A member (not an admin)
subscribes to their own project's notifications and is refused another project's. Each page is
checked with axe-core and saved as a screenshot."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.async_api import Page, expect

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.replies import Unauthorized
from ombudsman.executor.app import ExecutorService
from tests.gateway.conftest import PASSWORD, Served, served_with_executor  # noqa: F401 - fixture
from tests.ui.test_studio_browser import Pages, browser_page, tools  # noqa: F401 - fixtures

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]

PIPELINE = """name: nightly orders
connections: {source: source, target: target}
steps:
  - {id: counts, validator: record_counts, tables: {source: sales.orders, target: sales.orders}}
  - {id: sums, validator: metric_sums, tables: {source: sales.orders, target: sales.orders}, parameters: {measures: [amount]}}
  - {id: rows, validator: row_hash, tables: {source: sales.orders, target: sales.orders}, parameters: {key: [id]}}
"""
DDL_V1 = "CREATE TABLE sales.orders (id integer PRIMARY KEY, amount numeric(10,2), note varchar(20));"
DDL_V2 = ("CREATE TABLE sales.orders (id integer PRIMARY KEY, amount numeric(12,2), note varchar(20), placed date);\n"
          "CREATE TABLE sales.customers (id integer PRIMARY KEY, name text);")


async def append_run(executor: ExecutorService, run_id: str, statuses: dict[str, str]) -> None:
    """A finished run of the saved pipeline `nightly` of project `retail`, through the executor's
    unit of work (its events, its projections in the same transaction, its relay)."""
    failed = sum(1 for s in statuses.values() if s == "failed")
    events: list[Any] = [ev.RunQueued(run_id=run_id, project_id="retail", pipeline_id="nightly",
                                      pipeline_name="nightly orders", steps=list(statuses), pipeline_yaml=PIPELINE),
                         ev.RunStarted(run_id=run_id)]
    for step, status in statuses.items():
        events += [ev.StepStarted(run_id=run_id, step=step, worker="w1"),
                   ev.StepCompleted(run_id=run_id, step=step, status=status,  # type: ignore[arg-type]
                                    result={"status": status, "message": f"{step} {status}", "duration_seconds": 0.2,
                                            "source": {"count": 100}, "target": {"count": 100 if status == "passed" else 97}})]
    events.append(ev.RunCompleted(run_id=run_id, status="failed" if failed else "completed", total_steps=len(statuses),
                                  successful_steps=len(statuses) - failed, failed_steps=failed, duration_seconds=0.6))
    async with executor.ctx.uow() as uow:
        await uow.emit(run_id, events, Metadata(actor=Actor.service("executor")), expected_version=0)


async def log_in(page: Page, base: str, username: str) -> None:
    await page.goto(base + "/#/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


async def test_members_admin_catalog_and_results_in_the_browser(
    served_with_executor: Served, browser_page: Page, tmp_path: Path,  # noqa: F811
) -> None:
    served = served_with_executor
    page = browser_page
    pages = Pages(page)
    base = f"http://127.0.0.1:{served.port}"
    users = served.app.state.users
    await users.register("lead", PASSWORD, "admin")
    for name in ("maria", "omar", "locked1"):
        await users.register(name, PASSWORD, "user")
    # five wrong passwords, a minute apart (the login throttle's clock moved on), flag the account
    real_clock, now = users.clock, [datetime.now(UTC)]
    users.clock = lambda: now[0]
    for _ in range(5):
        with pytest.raises(Unauthorized):
            await users.login("locked1", "not the password", ip="198.51.100.9")
        now[0] += timedelta(seconds=61)
    users.clock = real_clock
    assert (await users.list_users(0, 10, q="locked1"))[0][0]["locked_until"] is not None
    async with httpx.AsyncClient(base_url=base + "/api/v1", timeout=60) as c:
        token = (await c.post("/auth/login", json={"username": "lead", "password": PASSWORD})).json()["access_token"]
        lead = {"Authorization": f"Bearer {token}"}
        assert (await c.post("/projects", headers=lead, json={"id": "retail", "name": "Retail"})).status_code == 201
        assert (await c.post("/projects", headers=lead, json={"id": "other", "name": "Other"})).status_code == 201
        r = await c.post("/projects/retail/pipelines", headers=lead,
                         json={"pipeline_id": "nightly", "name": "nightly orders", "yaml": PIPELINE})
        assert r.status_code in (200, 201), r.text
        r = await c.post("/projects/retail/ddl", headers=lead, json={"side": "source", "dialect": "postgres", "ddl": DDL_V1})
        assert r.status_code == 200, r.text
    await log_in(page, base, "lead")

    # admin: the locked-out user unlocked
    await page.get_by_role("link", name="Users").click()
    users_table = page.get_by_role("table", name="Users")
    locked_row = users_table.get_by_role("row", name=re.compile(r"^locked1\b"))
    await locked_row.get_by_role("button", name="Unlock").click()
    await expect(page.get_by_role("status")).to_contain_text("locked1 unlocked.")
    await expect(locked_row.get_by_role("button", name="Unlock")).to_have_count(0)
    await pages.check("users-unlocked")

    # catalog: a second version of the DDL uploaded in the page, what changed, the YAML export
    await page.goto(f"{base}/#/projects/retail/catalog")
    await expect(page.get_by_test_id("catalog-changes-summary")).to_contain_text("First extraction")
    await page.get_by_label("Dialect").click()
    await page.get_by_role("option", name="postgres").click()
    await page.get_by_label("CREATE TABLE statements").fill(DDL_V2)
    await page.get_by_role("button", name="Upload DDL").click()
    await expect(page.get_by_role("status").filter(has_text="Uploaded")).to_contain_text("2 tables")
    changes = page.get_by_role("table", name="Catalog changes of the source")
    await expect(changes.get_by_role("row", name=re.compile(r"sales\.customers table added"))).to_be_visible()
    await expect(changes.get_by_role("row", name=re.compile(r"type changed amount numeric\(10,2\) numeric\(12,2\)"))).to_be_visible()
    await expect(changes.get_by_role("row", name=re.compile(r"column added placed"))).to_be_visible()
    async with page.expect_download() as download:
        await page.get_by_role("button", name="Export source catalog as YAML").click()
    saved = tmp_path / (await download.value).suggested_filename
    await (await download.value).save_as(saved)
    exported = yaml.safe_load(saved.read_text())
    assert saved.name == "retail-source-catalog.yaml"
    assert sorted(f"{t['schema_name']}.{t['name']}" for t in exported["tables"]) == ["sales.customers", "sales.orders"]
    await pages.check("catalog-changes")

    # members: two added by username, one's role changed, then removed
    await page.get_by_role("link", name="Members").click()
    for name in ("maria", "omar"):  # by keyboard: the name typed, Enter submits
        await page.get_by_label("Member's username").focus()
        await page.keyboard.type(name)
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("status")).to_contain_text(f"{name} added to retail.")
    await page.get_by_label("Member's username").fill("nobody")
    await page.get_by_role("button", name="Add member").click()
    await expect(page.get_by_role("alert")).to_contain_text("nobody")
    members = page.get_by_role("table", name="Members")
    await expect(members.get_by_role("row")).to_have_count(4)  # header, lead, maria, omar
    await members.get_by_role("combobox", name="Role of omar").click()
    await page.get_by_role("option", name="viewer").click()
    await expect(page.get_by_role("status")).to_contain_text("omar is now viewer.")
    await expect(members.get_by_role("row", name=re.compile(r"^omar\b"))).to_contain_text("viewer")
    await pages.check("members")
    await members.get_by_role("button", name="Remove omar from the project").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("omar removed from retail.")
    await expect(members.get_by_role("row")).to_have_count(3)

    # results: a run compared with its baseline (one step got worse), history, Excel export
    executor_service: ExecutorService = served.executor_service
    await append_run(executor_service, "baseline-run", {"counts": "passed", "sums": "passed", "rows": "passed"})
    await append_run(executor_service, "current-run", {"counts": "passed", "sums": "passed", "rows": "failed"})
    await page.goto(f"{base}/#/runs/current-run")
    await expect(page.get_by_test_id("quality-score")).to_contain_text("Quality score")
    await expect(page.get_by_test_id("baseline-summary")).to_contain_text("1 step changed: 1 worse, 0 better")
    changed = page.get_by_role("table", name="Steps whose status changed")
    await expect(changed.get_by_role("row")).to_have_count(2)
    await expect(changed.get_by_role("row", name=re.compile(r"^rows worse passed failed"))).to_be_visible()
    await expect(page.get_by_role("table", name="Latest runs of this pipeline").get_by_role("row")).to_have_count(3)
    await expect(page.get_by_role("img", name=re.compile("^Quality score trend")).locator("canvas")).to_be_visible()
    async with page.expect_download() as download:
        await page.get_by_role("button", name="Excel").click()
    report = tmp_path / (await download.value).suggested_filename
    await (await download.value).save_as(report)
    assert report.suffix == ".xlsx" and report.read_bytes()[:2] == b"PK"
    await pages.check("run-baseline")

    # a member (not an admin) subscribes to their own project's notifications, never to another's
    await page.get_by_role("button", name="Log out").click()
    await log_in(page, base, "maria")
    await page.get_by_role("link", name="Notifications").click()
    await page.get_by_role("textbox", name="Project", exact=True).fill("retail")
    await page.get_by_label("Event types (comma separated)").fill("RunCompleted")
    await page.get_by_role("button", name="Subscribe").click()
    await expect(page.get_by_role("status")).to_contain_text("Subscribed: RunCompleted in retail")
    await page.get_by_role("textbox", name="Project", exact=True).fill("other")
    await page.get_by_role("button", name="Subscribe").click()
    await expect(page.get_by_role("alert")).to_contain_text("not found")
    await pages.check("notifications-member")
    print("screenshots:", ", ".join(pages.shots))

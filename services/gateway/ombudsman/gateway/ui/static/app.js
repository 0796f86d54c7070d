// Ombudsman web UI: a hash-routed single page over the gateway's REST API and WebSockets.
import { api, ApiError, downloadExport, login, logout, openRunSocket, session, setUnauthorizedHandler } from "./api.js";
import { actionButton, badge, clear, compact, h, seconds, table, when } from "./dom.js";

const main = document.getElementById("main");
const notice = document.getElementById("notice");
const PAGE_SIZE = 20;
const EXPORTS = [["json", "JSON"], ["csv", "CSV"], ["excel", "Excel"], ["pdf", "PDF"], ["junit", "JUnit"], ["html", "HTML"]];
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
// Viewers read only: the gateway would answer 403, so the buttons that write are not offered.
const canWrite = () => session.get()?.user?.role !== "viewer";
const UNFINISHED = new Set(["queued", "pending", "dispatched", "running", "started"]);
let socket = null; // the run page's live WebSocket, closed when leaving the page

// --- notices and errors -------------------------------------------------------------------

function say(message, kind = "error") {
  clear(notice, message);
  notice.className = `notice ${kind}`;
  notice.hidden = false;
}

function hush() { notice.hidden = true; clear(notice); }

function explain(error) {
  if (error instanceof ApiError) {
    if (error.status === 403) return `Not allowed: ${error.describe()}`;
    if (error.status === 404) return `Not found: ${error.describe()}`;
    if (error.status === 429) return `Too many requests: ${error.describe()}`;
    if (error.status >= 500) return `The service had a problem (${error.code}): ${error.describe()}`;
    return error.describe();
  }
  return `Unexpected problem: ${error?.message || error}`;
}

setUnauthorizedHandler(() => {
  go("#/login");
  say("Your session has ended; please log in again.", "info");
});

// --- routing ------------------------------------------------------------------------------

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function params(query) { return new URLSearchParams(query || ""); }

const ROUTES = [
  [/^#\/login$/, () => loginView()],
  [/^#\/projects$/, (m, q) => projectsView(Number(params(q).get("page") || 1))],
  [/^#\/projects\/([^/]+)$/, (m) => projectView(decodeURIComponent(m[1]))],
  [/^#\/projects\/([^/]+)\/runs$/, (m, q) => runsView(decodeURIComponent(m[1]), Number(params(q).get("page") || 1))],
  [/^#\/projects\/([^/]+)\/audit$/, (m) => auditView(decodeURIComponent(m[1]))],
  [/^#\/projects\/([^/]+)\/discrepancies$/, (m) => discrepanciesView(decodeURIComponent(m[1]))],
  [/^#\/runs\/([^/]+)$/, (m) => runView(decodeURIComponent(m[1]))],
];

async function route() {
  if (socket) { socket.close(); socket = null; }
  const [path, query] = (location.hash || "#/projects").split("?");
  const signedIn = Boolean(session.token());
  showChrome(signedIn);
  if (!signedIn && path !== "#/login") { go("#/login"); return; }
  for (const [pattern, view] of ROUTES) {
    const match = pattern.exec(path);
    if (match) {
      try { await view(match, query); } catch (error) { if (!(error instanceof ApiError && error.status === 401)) failedPage(error); }
      return;
    }
  }
  go(signedIn ? "#/projects" : "#/login");
}

/** A page that could not load: say why instead of leaving the previous page on screen. */
function failedPage(error) {
  hush();
  page(error instanceof ApiError && error.status === 404 ? "Not found" : "This page could not be loaded",
    h("p", {}, explain(error)), h("p", {}, h("a", { href: "#/projects" }, "Back to the projects")));
}

function showChrome(signedIn) {
  const user = session.get()?.user;
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").hidden = !signedIn;
  document.getElementById("who-name").textContent = user ? `${user.username} (${user.role})` : "";
}

/** Replace the page: a heading that takes focus (screen readers announce the new page), then content. */
function page(title, ...content) {
  document.title = `${title} · Ombudsman`;
  const heading = h("h1", { tabindex: "-1" }, title);
  clear(main, heading, ...content);
  heading.focus();
  return heading;
}

function crumbs(...links) {
  return h("nav", { "aria-label": "Breadcrumb", class: "crumbs" },
    links.map(([text, href], i) => [i ? h("span", { "aria-hidden": "true" }, " / ") : null,
      href ? h("a", { href }, text) : h("span", { "aria-current": "page" }, text)]));
}

function pager(total, pageNumber, hrefFor) {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  return h("nav", { class: "pager", "aria-label": "Pages" },
    pageNumber > 1 ? h("a", { href: hrefFor(pageNumber - 1), rel: "prev" }, "← Previous") : h("span", { class: "muted" }, "← Previous"),
    h("span", {}, `Page ${pageNumber} of ${pages} · ${total} in all`),
    pageNumber < pages ? h("a", { href: hrefFor(pageNumber + 1), rel: "next" }, "Next →") : h("span", { class: "muted" }, "Next →"));
}

// --- login --------------------------------------------------------------------------------

function loginView() {
  if (session.token()) { go("#/projects"); return; }
  const username = h("input", { id: "username", name: "username", autocomplete: "username", required: true, maxlength: 64 });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true, maxlength: 128 });
  const submit = h("button", { type: "submit", class: "primary" }, "Log in");
  const form = h("form", { class: "card narrow", "aria-labelledby": "login-title" },
    h("div", { class: "field" }, h("label", { for: "username" }, "Username"), username),
    h("div", { class: "field" }, h("label", { for: "password" }, "Password"), password),
    submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    submit.textContent = "Logging in…";
    try {
      await login(username.value.trim(), password.value);
      hush();
      go("#/projects");
    } catch (error) {
      say(error instanceof ApiError && error.status === 401 ? "Wrong username or password (or the account is locked)." : explain(error));
      password.select();
    } finally { submit.disabled = false; submit.textContent = "Log in"; }
  });
  document.title = "Log in · Ombudsman";
  clear(main, h("section", { class: "login" }, h("h1", { id: "login-title" }, "Log in to Ombudsman"),
    h("p", { class: "muted" }, "Data-migration validation for migration leads."), form));
  username.focus();
}

document.getElementById("logout").addEventListener("click", async () => {
  await logout();
  hush();
  go("#/login");
});

// --- projects -----------------------------------------------------------------------------

async function projectsView(pageNumber) {
  pageNumber = Math.max(1, pageNumber || 1);
  const result = await api.get("/api/v1/projects", { offset: (pageNumber - 1) * PAGE_SIZE, limit: PAGE_SIZE });
  hush();
  const items = result.items.map((p) => h("li", { class: "card row" },
    h("div", {}, h("h2", {}, h("a", { href: `#/projects/${encodeURIComponent(p.id)}` }, p.name || p.id)),
      h("p", { class: "muted" }, p.description || p.id)),
    h("dl", { class: "counts" },
      ["connections", "pipelines", "members"].map((k) => [h("dt", {}, k), h("dd", {}, p.counts?.[k] ?? "—")]))));
  page("Projects",
    items.length ? h("ul", { class: "plain" }, items) : h("p", { class: "muted" }, "No projects yet. Create one with the CLI: ombudsman projects create."),
    pager(result.total, pageNumber, (n) => `#/projects?page=${n}`));
}

const SETUP_STEPS = [
  ["has_source_connection", "Source connection"], ["has_target_connection", "Target connection"],
  ["has_schema_mappings", "Schema mappings"], ["has_metadata", "Metadata extracted"],
  ["has_relationships", "Relationships inferred"], ["has_pipelines", "Pipelines generated"],
  ["automation_completed", "Automation completed"],
];

async function projectView(projectId) {
  const [project, setup, connections, pipelines] = await Promise.all([
    api.get(`/api/v1/projects/${encodeURIComponent(projectId)}`),
    api.get(`/api/v1/projects/${encodeURIComponent(projectId)}/setup-status`),
    api.get(`/api/v1/projects/${encodeURIComponent(projectId)}/connections`),
    api.get(`/api/v1/projects/${encodeURIComponent(projectId)}/pipelines`),
  ]);
  hush();
  const pid = encodeURIComponent(projectId);
  const automate = actionButton("Automate", async () => {
    say("Automating: extracting metadata, suggesting mappings, generating pipelines… this can take a while.", "info");
    try {
      const started = await api.post(`/api/v1/projects/${pid}/automate`) || {};
      let job = { status: "running", phases: [] };
      while (job.status === "running") {  // a background job: follow its phases
        await new Promise((resolve) => setTimeout(resolve, 1000));
        job = await api.get(`/api/v1/projects/${pid}/automate/${encodeURIComponent(started.job_id)}`) || {};
        const done = (job.phases || []).map((p) => p.phase).join(", ");
        if (job.status === "running") say(`Automating… ${done ? `done: ${done}` : "extracting metadata"}`, "info");
      }
      if (job.status !== "completed") {
        say(`Automation failed${job.failed_phase ? ` in ${job.failed_phase}` : ""}: ${job.error || "unknown error"}`);
        return;
      }
      const result = job.summary || {};
      const pipelines = Array.isArray(result.pipeline_ids) ? result.pipeline_ids.length : 0;
      await projectView(projectId);
      say(`Automation finished: ${result.suggested ?? 0} tables matched, ${Array.isArray(result.auto_approved) ? result.auto_approved.length : result.auto_approved ?? 0} mappings approved, `
        + `${result.relationships ?? 0} relationships, ${pipelines} pipelines generated.`, "success");
    } catch (error) { say(explain(error)); }
  }, { busyText: "Automating…", kind: "primary" });

  page(project.name || projectId,
    crumbs(["Projects", "#/projects"], [project.name || projectId]),
    h("p", { class: "muted" }, project.description || ""),
    h("div", { class: "toolbar" }, canWrite() ? automate : null,
      h("a", { class: "button", href: `#/projects/${pid}/runs` }, "Runs"),
      h("a", { class: "button", href: `#/projects/${pid}/discrepancies` }, "Discrepancies"),
      h("a", { class: "button", href: `#/projects/${pid}/audit` }, "Audit log")),
    h("section", { "aria-labelledby": "setup-h" }, h("h2", { id: "setup-h" }, "Setup ",
      setup.complete ? badge("completed") : badge("pending")),
    h("ul", { class: "checklist" }, SETUP_STEPS.map(([key, label]) => h("li", { class: setup[key] ? "done" : "todo" },
      h("span", { "aria-hidden": "true" }, setup[key] ? "✔" : "○"), " ", label,
      h("span", { class: "sr-only" }, setup[key] ? " (done)" : " (not yet)"))))),
    connectionsSection(projectId, connections.items || []),
    pipelinesSection(projectId, pipelines.items || []));
}

function connectionsSection(projectId, connections) {
  const rows = connections.map((c) => {
    const result = h("span", {}, lastTest(c.last_test));
    const test = actionButton("Test", async () => {
      try {
        const outcome = await api.post(`/api/v1/projects/${encodeURIComponent(projectId)}/connections/${encodeURIComponent(c.name)}/test`);
        clear(result, lastTest(outcome));
      } catch (error) { clear(result, h("span", { class: "bad-text" }, explain(error))); }
    }, { busyText: "Testing…" });
    test.setAttribute("aria-label", `Test connection ${c.name}`);
    const pool = h("span", { class: "muted" }, "—");
    const poolButton = actionButton("Pool", async () => {
      try {
        const found = await api.get(`/api/v1/projects/${encodeURIComponent(projectId)}/connections/${encodeURIComponent(c.name)}/pool`);
        clear(pool, poolText(found));
      } catch (error) { clear(pool, h("span", { class: "bad-text" }, explain(error))); }
    }, { busyText: "Asking the workers…" });
    poolButton.setAttribute("aria-label", `Connection pools of ${c.name} on the workers`);
    return h("tr", {}, h("th", { scope: "row" }, c.name), h("td", {}, c.kind || "—"), h("td", {}, c.role || "—"),
      h("td", {}, h("code", { class: "url" }, c.url_masked || "—")), h("td", { "aria-live": "polite" }, result),
      h("td", { "aria-live": "polite" }, pool, " ", poolButton), h("td", {}, canWrite() ? test : null));
  });
  return h("section", { "aria-labelledby": "conn-h" }, h("h2", { id: "conn-h" }, "Connections"),
    rows.length ? h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Name", "Kind", "Role", "URL (secrets masked)", "Last test", "Open on workers", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows))) : h("p", { class: "muted" }, "No connections yet."));
}

/** What the step workers hold open of a connection right now (kept between steps, closed when idle). */
function poolText(found) {
  const t = found.totals || {};
  if (!t.workers) return `none open (${found.workers_answering ?? 0} workers answering)`;
  return `${t.open} open, ${t.in_use} in use, ${t.idle} idle on ${t.workers} of ${found.workers_answering} workers`;
}

function lastTest(test) {
  if (!test) return h("span", { class: "muted" }, "not tested");
  if (test.ok) return [badge("ok"), ` ${test.server_version || ""} · ${Math.round((test.latency_ms || 0) * 10) / 10} ms`];
  return [badge("failed"), " ", test.error || "failed"];
}

function pipelinesSection(projectId, pipelines) {
  const pid = encodeURIComponent(projectId);
  const items = pipelines.map((p) => {
    const plid = encodeURIComponent(p.pipeline_id);
    const diagram = h("pre", { class: "mermaid-text", hidden: true, tabindex: "0", "aria-label": `Mermaid diagram of ${p.name}` });
    const show = h("button", { type: "button", "aria-expanded": "false" }, "Show diagram");
    show.addEventListener("click", async () => {
      const open = show.getAttribute("aria-expanded") === "true";
      if (!open && !diagram.textContent) {
        try { diagram.textContent = await api.get(`/api/v1/projects/${pid}/pipelines/${plid}/mermaid`); } catch (error) { say(explain(error)); return; }
      }
      diagram.hidden = open;
      show.setAttribute("aria-expanded", String(!open));
      show.textContent = open ? "Show diagram" : "Hide diagram";
    });
    const run = actionButton("Run", async () => {
      try {
        const queued = await api.post(`/api/v1/projects/${pid}/pipelines/${plid}/execute`);
        go(`#/runs/${encodeURIComponent(queued.run_id)}`);
      } catch (error) { say(explain(error)); }
    }, { busyText: "Queuing…", kind: "primary" });
    run.setAttribute("aria-label", `Run pipeline ${p.name}`);
    return h("li", { class: "card" },
      h("div", { class: "row" }, h("div", {}, h("h3", {}, p.name), h("p", { class: "muted" }, p.description || p.pipeline_id),
        h("p", { class: "tags" }, (p.tags || []).map((t) => h("span", { class: "tag" }, t)))),
      h("div", { class: "toolbar" }, show, canWrite() ? run : null)),
      diagram);
  });
  return h("section", { "aria-labelledby": "pl-h" }, h("h2", { id: "pl-h" }, `Pipelines (${pipelines.length})`),
    items.length ? h("ul", { class: "plain" }, items) : h("p", { class: "muted" }, "No pipelines yet: press Automate."));
}

// --- runs ---------------------------------------------------------------------------------

async function runsView(projectId, pageNumber) {
  pageNumber = Math.max(1, pageNumber || 1);
  const pid = encodeURIComponent(projectId);
  const result = await api.get("/api/v1/runs", { project_id: projectId, offset: (pageNumber - 1) * PAGE_SIZE, limit: PAGE_SIZE });
  hush();
  const rows = result.items.map((r) => h("tr", {},
    h("th", { scope: "row" }, h("a", { href: `#/runs/${encodeURIComponent(r.run_id)}` }, r.pipeline_name || r.run_id)),
    h("td", {}, badge(r.status)),
    h("td", {}, `${r.successful_steps ?? 0}/${r.total_steps ?? 0}`),
    h("td", {}, r.failed_steps ? h("span", { class: "bad-text" }, r.failed_steps) : "0"),
    h("td", {}, r.score ?? "—"),
    h("td", {}, seconds(r.duration_seconds)),
    h("td", {}, when(r.queued_at))));
  page("Runs",
    crumbs(["Projects", "#/projects"], [projectId, `#/projects/${pid}`], ["Runs"]),
    rows.length ? h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Pipeline", "Status", "Steps passed", "Failed", "Score", "Duration", "Queued"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows))) : h("p", { class: "muted" }, "No runs yet."),
    pager(result.total, pageNumber, (n) => `#/projects/${pid}/runs?page=${n}`));
}

async function runView(runId) {
  const run = await api.get(`/api/v1/runs/${encodeURIComponent(runId)}`);
  hush();
  const projectHref = run.project_id ? `#/projects/${encodeURIComponent(run.project_id)}` : null;
  const status = h("span", { "aria-live": "polite" }, badge(run.status));
  const bar = h("progress", { max: run.total_steps || 1, value: 0, "aria-label": "Steps finished" });
  const barText = h("span", { class: "muted" });
  const stepList = h("ol", { class: "steps", "aria-live": "polite", "aria-label": "Steps" });
  const details = h("section", { "aria-labelledby": "results-h" });
  const exports = h("div", { class: "toolbar", role: "group", "aria-label": "Export the report" },
    EXPORTS.map(([format, label]) => actionButton(label, async () => {
      try { await downloadExport(runId, format); } catch (error) { say(explain(error)); }
    }, { busyText: `${label}…` })));
  page(run.pipeline_name || runId,
    crumbs(["Projects", "#/projects"], ...(projectHref ? [[run.project_id, projectHref], ["Runs", `${projectHref}/runs`]] : []), [runId]),
    h("div", { class: "card run-head" },
      h("div", { class: "row" }, h("div", {}, "Status ", status), h("code", {}, runId)),
      h("div", { class: "progress" }, bar, barText)),
    h("section", { "aria-labelledby": "live-h" }, h("h2", { id: "live-h" }, "Steps"), stepList),
    details,
    h("section", { "aria-labelledby": "exp-h" }, h("h2", { id: "exp-h" }, "Export"), exports));

  const steps = new Map(); // step name -> {status, li}
  const progress = () => {
    const finished = [...steps.values()].filter((s) => !UNFINISHED.has(s.status)).length;
    const total = Math.max(run.total_steps || 0, steps.size, 1);
    bar.max = total;
    bar.value = finished;
    barText.textContent = ` ${finished} of ${total} steps finished`;
  };
  const mark = (name, stepStatus, note) => {
    let entry = steps.get(name);
    if (!entry) {
      entry = { li: h("li", {}) };
      steps.set(name, entry);
      stepList.append(entry.li);
    }
    entry.status = stepStatus;
    clear(entry.li, badge(stepStatus), " ", h("span", { class: "step-name" }, name), note ? h("span", { class: "muted" }, ` — ${note}`) : null);
    progress();
  };
  const showResults = async () => {
    const final = await api.get(`/api/v1/runs/${encodeURIComponent(runId)}`);
    clear(status, badge(final.status));
    for (const step of final.steps || []) mark(step.step, step.status || step.state);
    clear(details, h("h2", { id: "results-h" }, "Results"), summary(final), await comparison(final),
      (final.steps || []).map(stepDetails));
  };

  for (const step of run.steps || []) mark(step.step, step.status || step.state || "queued");
  if (TERMINAL.has(run.status)) { await showResults(); return; }

  socket = openRunSocket(runId);
  const ws = socket;
  ws.addEventListener("message", (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    switch (message.type) {
      case "pipeline.queued": for (const name of message.steps || []) if (!steps.has(name)) mark(name, "queued"); break;
      case "pipeline.started": clear(status, badge("running")); break;
      case "step.started": mark(message.step, "running"); break;
      case "step.completed": case "step.failed": mark(message.step, message.status || (message.type === "step.failed" ? "failed" : "passed"), message.reason); break;
      case "pipeline.completed": case "pipeline.failed":
        clear(status, badge(message.status || (message.type === "pipeline.failed" ? "failed" : "completed")));
        showResults().catch((error) => say(explain(error)));
        break;
      case "error": say(`Live updates stopped: ${message.error?.message || "error"}`); break;
      default: break;
    }
  });
  ws.addEventListener("close", (event) => {
    if (socket === ws) socket = null;
    // The access token expired: renewing it through a REST call (refresh on 401) and reloading the
    // page reconnects; when it cannot be renewed, the API client sends the user to the login page.
    if (event.code === 4401) api.get("/api/v1/auth/me").then(route, () => {});
  });
}

/** The run against the previous finished run of the same saved pipeline: what got better or worse. */
async function comparison(run) {
  if (!run.project_id || !run.pipeline_id) return null;
  let baseline;
  try {
    const earlier = await api.get("/api/v1/runs", { project_id: run.project_id, pipeline_id: run.pipeline_id, limit: 20 });
    baseline = (earlier.items || []).find((r) => r.run_id !== run.run_id && TERMINAL.has(r.status)
      && (!run.queued_at || !r.queued_at || r.queued_at < run.queued_at));
  } catch { return null; }
  if (!baseline) return h("p", { class: "muted" }, "No earlier run of this pipeline to compare with.");
  const compared = await api.get(`/api/v1/runs/${encodeURIComponent(run.run_id)}/compare`, { baseline: baseline.run_id });
  const changed = [...(compared.worse || []).map((c) => ({ change: "worse", ...c })),
    ...(compared.better || []).map((c) => ({ change: "better", ...c }))];
  const delta = typeof compared.score_delta === "number" ? ` (${compared.score_delta > 0 ? "+" : ""}${compared.score_delta})` : "";
  return h("section", { class: "card", "aria-labelledby": "cmp-h" },
    h("h3", { id: "cmp-h" }, "Against the previous run ", h("a", { href: `#/runs/${encodeURIComponent(baseline.run_id)}` }, when(baseline.queued_at))),
    h("p", {}, `Score ${compared.baseline_score ?? "—"} → ${compared.score ?? "—"}${delta}: `,
      `${(compared.worse || []).length} worse, ${(compared.better || []).length} better, ${(compared.same || []).length} unchanged.`),
    changed.length ? table(changed, { caption: "Steps that changed", columns: ["change", "step", "baseline", "current"] }) : null);
}

function summary(run) {
  const facts = [["Status", badge(run.status)], ["Score", run.score ?? "—"], ["Steps", `${run.successful_steps ?? 0} passed, ${run.failed_steps ?? 0} failed, ${run.skipped_steps ?? 0} skipped`],
    ["Warnings", run.warnings ?? 0], ["Duration", seconds(run.duration_seconds)], ["Started", when(run.started_at)], ["Finished", when(run.finished_at)]];
  return h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function figures(result) {
  const rows = [];
  for (const side of ["source", "target"]) {
    for (const [key, value] of Object.entries(result?.[side] || {})) rows.push({ side, figure: key, value });
  }
  for (const [key, value] of Object.entries(result?.details || {})) rows.push({ side: "details", figure: key, value });
  if (result?.match_percentage !== undefined && result?.match_percentage !== null) rows.push({ side: "", figure: "match %", value: result.match_percentage });
  return rows;
}

function stepDetails(step) {
  const result = step.result || {};
  const sample = Array.isArray(result.sample) ? result.sample : [];
  const figs = figures(result);
  const failed = ["failed", "error"].includes(step.status);
  return h("details", { class: `card step ${failed ? "failed" : ""}`, open: failed },
    h("summary", {}, badge(step.status || step.state), " ", h("strong", {}, step.step), " ",
      h("span", { class: "muted" }, `${step.validator || ""}${step.table_name ? " · " + step.table_name : ""} · ${seconds(step.duration_seconds)}`)),
    h("p", {}, step.message || "—"),
    figs.length ? table(figs, { caption: "Figures", columns: ["side", "figure", "value"] }) : null,
    sample.length ? table(sample, { caption: `Sample rows (${sample.length})` }) : null);
}

// --- discrepancies ------------------------------------------------------------------------

async function discrepanciesView(projectId) {
  const pid = encodeURIComponent(projectId);
  const found = await api.get(`/api/v1/projects/${pid}/discrepancies`);
  hush();
  const open = found.filter((d) => d.status === "open");
  const rows = [...open, ...found.filter((d) => d.status !== "open")].map((d) => discrepancyRow(projectId, d));
  page("Discrepancies",
    crumbs(["Projects", "#/projects"], [projectId, `#/projects/${pid}`], ["Discrepancies"]),
    h("p", { class: "muted" }, "Every failed check leaves a discrepancy. Accept one as a known difference (later runs then stop "
      + "failing on it) or mark it resolved once the data is fixed; who decided, when and why is kept in the audit log."),
    rows.length ? h("div", { class: "table-wrap" }, h("table", {},
      h("caption", {}, `${open.length} open of ${found.length}`),
      h("thead", {}, h("tr", {}, ["Step", "Table", "Severity", "What differs", "Run", "Status", "Decision"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows))) : h("p", { class: "muted" }, "No discrepancies: every check passed."));
}

function discrepancyRow(projectId, d) {
  const state = h("td", { "aria-live": "polite" }, badge(d.status), d.note ? h("span", { class: "muted" }, ` — ${d.note}`) : null,
    d.decided_by ? h("span", { class: "muted" }, ` (${d.decided_by}, ${when(d.decided_at)})`) : null);
  let decision = null;
  if (d.status === "open" && canWrite()) {
    const note = h("input", { "aria-label": `Why (discrepancy of ${d.step})`, placeholder: "why", maxlength: 5000 });
    const pid = encodeURIComponent(projectId);
    const did = encodeURIComponent(d.discrepancy_id);
    const decide = (post, label) => actionButton(label, async () => {
      try {
        const decided = await post({ note: note.value.trim() });
        clear(state, badge(decided.status), note.value.trim() ? h("span", { class: "muted" }, ` — ${note.value.trim()}`) : null);
        clear(decision);
      } catch (error) { say(explain(error)); }
    }, { busyText: "Saving…" });
    decision = h("td", {}, note, " ",
      decide((body) => api.post(`/api/v1/projects/${pid}/discrepancies/${did}/accept`, body), "Accept as known"), " ",
      decide((body) => api.post(`/api/v1/projects/${pid}/discrepancies/${did}/resolve`, body), "Resolved"));
  }
  return h("tr", {}, h("th", { scope: "row" }, d.step), h("td", {}, d.table_name || "—"), h("td", {}, badge(d.severity)),
    h("td", {}, d.message || d.type), h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(d.run_id)}` }, when(d.recorded_at))),
    state, decision || h("td", {}));
}

// --- audit --------------------------------------------------------------------------------

async function auditView(projectId) {
  const pid = encodeURIComponent(projectId);
  // The log is oldest first: read its size, then the last page, and show newest first.
  const head = await api.get("/api/v1/audit/logs", { project_id: projectId, limit: 1 });
  const last = await api.get("/api/v1/audit/logs", { project_id: projectId, limit: 50, offset: Math.max(0, head.total - 50) });
  hush();
  const verification = h("div", { class: "card", "aria-live": "polite" }, h("p", { class: "muted" }, "Verifying the hash chain…"));
  page("Audit log",
    crumbs(["Projects", "#/projects"], [projectId, `#/projects/${pid}`], ["Audit log"]),
    h("section", { "aria-labelledby": "verify-h" }, h("h2", { id: "verify-h" }, "Chain verification"), verification),
    h("section", { "aria-labelledby": "events-h" }, h("h2", { id: "events-h" }, `Recent events (${last.items.length} of ${last.total})`),
      table([...last.items].reverse().map((e) => ({
        "#": e.position, when: when(e.occurred_at), event: e.event_type, stream: `${e.stream_type}/${e.stream_id}`,
        actor: e.actor?.name || e.actor?.id || "—",
      })))));
  try {
    const v = await api.get("/api/v1/audit/verify");
    clear(verification, h("p", {}, v.ok ? badge("ok") : badge("failed"), " ",
      v.ok ? `Chain intact: ${v.checked} entries checked (positions ${v.first_position}–${v.last_position}).`
        : `Chain broken at position ${v.broken_at}: ${v.reason || "hash mismatch"}.`),
    v.head_hash ? h("p", { class: "muted" }, "Head hash ", h("code", {}, v.head_hash)) : null);
  } catch (error) {
    clear(verification, h("p", { class: "muted" }, error instanceof ApiError && error.status === 403
      ? "Verifying the whole chain needs the admin role." : explain(error)));
  }
}

window.addEventListener("hashchange", route);
route();

// Small DOM helpers: elements are built with text nodes only (never innerHTML), so nothing the
// API returns can inject markup.

/** h("a", {href: "#/x", class: "btn"}, "text", child) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const STATUS_CLASS = {
  completed: "ok", passed: "ok", ok: "ok", done: "ok",
  failed: "bad", error: "bad", cancelled: "bad",
  warning: "warn", warnings: "warn", skipped: "muted",
  running: "live", started: "live", queued: "wait", pending: "wait",
  critical: "bad", info: "muted", open: "warn", accepted: "ok", resolved: "ok",
};

/** A coloured badge for a run or step status (the word is always shown, colour is extra). */
export function badge(status) {
  const word = String(status || "unknown");
  return h("span", { class: `badge ${STATUS_CLASS[word] || "muted"}` }, word);
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

export function seconds(value) {
  if (value === undefined || value === null) return "—";
  return value < 1 ? `${Math.round(value * 1000)} ms` : `${Number(value).toFixed(1)} s`;
}

/** A short readable form of any JSON value for a table cell. */
export function compact(value) {
  if (value === undefined) return "";
  if (value === null) return "∅";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Math.round(value * 10000) / 10000);
  if (typeof value !== "object") return String(value);
  if ("source" in value && "target" in value) return `${compact(value.source)} → ${compact(value.target)}`;
  return JSON.stringify(value);
}

/** A table from rows of objects; columns are the union of their keys, in first-seen order. */
export function table(rows, { caption, columns } = {}) {
  const keys = columns || [...new Set(rows.flatMap((row) => Object.keys(row)))];
  return h("div", { class: "table-wrap" }, h("table", {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, keys.map((k) => h("th", { scope: "col" }, k)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, keys.map((k) => h("td", {}, compact(row[k])))))),
  ));
}

/** A button that disables itself and shows `busyText` while `action` runs. */
export function actionButton(text, action, { busyText = "Working…", kind = "" } = {}) {
  const button = h("button", { type: "button", class: kind }, text);
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = busyText;
    try { await action(button); } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      button.textContent = text;
    }
  });
  return button;
}

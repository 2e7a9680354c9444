// Monitors: the list with up/down, uptime and p95; one monitor with its response-time
// chart from the rollups and pause/resume/run-now (the API asks for the admin scope).
// Fields read: GET /monitors → {monitors: [{id, name, state}]}; …/status → {up, windows:
// {"24h": {uptime_percent, p50_ms, p95_ms, p99_ms}, …}}; …/rollups → [{p95_ms}] (or {rollups: […]}).
import { api } from "./api.js";
import { barChart } from "./chart.js";
import { h, clear } from "./dom.js";

const percent = (value) => (value === null || value === undefined ? "-" : `${Number(value).toFixed(2)} %`);
const ms = (value) => (value === null || value === undefined ? "-" : `${Number(value).toFixed(0)} ms`);
// The figures of the last 24 hours (what the list and the facts line show).
const day = (status) => status.windows?.["24h"] ?? {};
const upDown = (status) => (status.up === true ? "up" : status.up === false ? "down" : "unknown");

export function render(root, ctx) {
  const status = h("p", { class: "error", role: "alert" });
  const tbody = h("tbody");
  root.append(h("h1", {}, "Monitors"), status, h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Monitor", "State", "Up", "Uptime", "p95"].map(
      (title) => h("th", { scope: "col" }, title)))), tbody)));
  (async () => {
    try {
      const listing = await api("/monitors");
      const monitors = Array.isArray(listing) ? listing : listing.monitors;
      const rows = await Promise.all(monitors.map(async (monitor) => {
        const one = await api(`/monitors/${encodeURIComponent(monitor.id)}/status`).catch(() => ({}));
        return h("tr", {},
          h("td", {}, h("a", { href: `#/monitors/${encodeURIComponent(monitor.id)}` }, monitor.name ?? monitor.id)),
          h("td", {}, monitor.state ?? ""), h("td", {}, upDown(one)),
          h("td", {}, percent(day(one).uptime_percent)), h("td", {}, ms(day(one).p95_ms)));
      }));
      clear(tbody).append(...rows);
    } catch (error) {
      ctx.fail(error, status);
    }
  })();
  return () => {};
}

export function renderOne(root, ctx, id) {
  const path = `/monitors/${encodeURIComponent(id)}`;
  const status = h("p", { class: "error", role: "alert" });
  const facts = h("div", { "aria-live": "polite" });
  const chart = h("div");
  const actions = h("div", { class: "pager" }, ["pause", "resume", "run"].map((action) => {
    const button = h("button", { type: "button" }, action === "run" ? "Run now" : action[0].toUpperCase() + action.slice(1));
    button.addEventListener("click", () => api(`${path}/${action}`, { method: "POST" })
      .then(load).catch((error) => ctx.fail(error, status)));
    return button;
  }));
  root.append(h("p", {}, h("a", { href: "#/monitors" }, "← All monitors")),
    h("h1", {}, "Monitor ", h("code", {}, id)), status, actions, facts, chart);
  async function load() {
    try {
      const one = await api(`${path}/status`);
      const last = day(one);
      clear(facts).append(h("p", {}, `${upDown(one)} · 24 h uptime ${percent(last.uptime_percent)} · `
        + `p50 ${ms(last.p50_ms)} · p95 ${ms(last.p95_ms)} · p99 ${ms(last.p99_ms)}`));
      const rollups = await api(`${path}/rollups`, { params: { granularity: "minute" } });
      const points = Array.isArray(rollups) ? rollups : rollups.rollups;
      clear(chart).append(h("h2", {}, "Response time (p95 per minute)"),
        barChart(points.map((point) => Number(point.p95_ms ?? 0)), { title: "p95 response time per minute, ms" }));
    } catch (error) {
      ctx.fail(error, status);
    }
  }
  load();
  return () => {};
}

// Overview: ingest per minute over the last hour, events by type, delivery, health.
import { api } from "./api.js";
import { barChart } from "./chart.js";
import { append, h, clear, formatTime } from "./dom.js";

function card(title, rows) {
  return h("div", { class: "card" }, h("h2", {}, title),
    h("dl", {}, rows.flatMap(([term, value, cls]) => [h("dt", {}, term),
      h("dd", cls ? { class: cls } : {}, value)])));
}

function seconds(value) {
  return value === null || value === undefined ? "-" : `${value.toFixed(1)} s`;
}

function draw(body, data) {
  const ingest = data.ingest;
  const total = ingest.per_minute.reduce((a, b) => a + b, 0);
  const start = new Date(ingest.start_ns / 1e6);
  const end = new Date((ingest.start_ns + ingest.minute_ns * ingest.per_minute.length) / 1e6);
  const hhmm = (date) => date.toISOString().slice(11, 16) + " UTC";
  const storage = data.storage;
  const outbox = data.outbox;
  const delivery = outbox
    ? card("Delivery", [
      ["Forwarder", outbox.state, outbox.state === "ok" ? "state-ok" : "state-bad"],
      ["Outbox depth", `${outbox.pending_events} events`],
      ["Oldest pending", seconds(outbox.oldest_pending_age_seconds)],
      ["Forward rate", `${outbox.forward_rate_events_per_second.toFixed(2)}/s`],
      ["Dead letters", outbox.dead_letters],
      ["Last error", outbox.last_error || "none"],
    ])
    : card("Delivery", [["Forwarder", "none: the store writes directly"]]);
  append(clear(body), [
    h("h2", {}, `Events stored per minute, last hour (${total})`),
    barChart(ingest.per_minute, { title: `Events stored per minute from ${hhmm(start)} to ${hhmm(end)}`,
      firstLabel: hhmm(start), lastLabel: hhmm(end) }),
    ingest.complete ? null : h("p", { class: "muted" },
      `Counted the first ${ingest.scanned} events of the hour only.`),
    h("div", { class: "cards" },
      card("Service", [["Version", data.version], ["Updated", formatTime(data.now_ns / 1e9)]]),
      card("Storage", [["Backend", storage.backend],
        ["Health", storage.ok ? "ok" : `failing: ${storage.detail}`,
          storage.ok ? "state-ok" : "state-bad"]]),
      delivery),
    h("h2", {}, "Events by type, last hour"),
    data.events_by_type.length === 0 ? h("p", {}, "No events in the last hour.")
      : h("div", { class: "table-wrap" }, h("table", { class: "compact" },
        h("caption", { class: "muted" }, "Most frequent first"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Event"), h("th", { scope: "col" }, "Count"))),
        h("tbody", {}, data.events_by_type.map((row) =>
          h("tr", {}, h("td", {}, row.event || "(none)"), h("td", {}, row.count)))))),
  ]);
}

export function render(root, ctx) {
  const status = h("p", { class: "error", role: "alert" });
  const body = h("div", { "aria-live": "polite" }, h("p", {}, "Loading…"));
  root.append(h("h1", {}, "Overview"), status, body);
  let stopped = false;
  async function refresh() {
    try {
      draw(body, await api("/console/api/summary"));
      status.textContent = "";
    } catch (error) {
      if (!stopped) ctx.fail(error, status);
    }
  }
  refresh();
  const timer = setInterval(refresh, Math.max(1, ctx.refreshSeconds) * 1000);
  return () => { stopped = true; clearInterval(timer); };
}

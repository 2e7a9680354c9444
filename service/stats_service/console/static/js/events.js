// Events: a filtered, paginated table over GET /log/events, and one event as JSON.
import { api } from "./api.js";
import { h, clear } from "./dom.js";

const FILTERS = ["event", "uid", "measurement"];

function field(name, label, type = "text") {
  return h("div", {}, h("label", { for: `filter-${name}` }, label),
    h("input", { id: `filter-${name}`, name, type }));
}

function isoOrEmpty(value) {
  return value ? new Date(value).toISOString() : "";
}

export function render(root, ctx) {
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter events" },
    FILTERS.map((name) => field(name, { event: "Event", uid: "UID", measurement: "Measurement" }[name])),
    field("since", "Since (local time)", "datetime-local"),
    field("until", "Until (local time)", "datetime-local"),
    h("div", {}, h("label", { for: "filter-limit" }, "Per page"),
      h("select", { id: "filter-limit", name: "limit" },
        [25, 50, 100, 500].map((n) => h("option", { value: n, selected: n === 50 }, n)))),
    h("div", {}, h("button", { type: "submit" }, "Apply")));
  const status = h("p", { class: "error", role: "alert" });
  const tbody = h("tbody");
  const summary = h("p", { class: "muted", "aria-live": "polite" });
  const prev = h("button", { type: "button", class: "secondary", disabled: true }, "Previous");
  const next = h("button", { type: "button", class: "secondary", disabled: true }, "Next");
  root.append(h("h1", {}, "Events"), form, status, summary,
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Time", "Event", "UID", "Measurement", "Event id"].map(
        (title) => h("th", { scope: "col" }, title)))), tbody)),
    h("div", { class: "pager" }, prev, next));

  let query = {};
  const cursors = [null]; // the cursor of each page seen so far; the last is the current page
  let nextCursor = null;

  async function load() {
    status.textContent = "";
    const cursor = cursors[cursors.length - 1];
    try {
      const page = await api("/log/events", { params: { ...query, cursor } });
      nextCursor = page.next_cursor;
      clear(tbody).append(...page.events.map((event) => h("tr", {},
        h("td", {}, event.time), h("td", {}, event.event ?? ""), h("td", {}, event.uid ?? ""),
        h("td", {}, event.measurement),
        h("td", {}, h("a", { href: `#/events/${encodeURIComponent(event.event_id)}` }, event.event_id)))));
      summary.textContent = page.events.length
        ? `Page ${cursors.length}: ${page.events.length} events, oldest first.`
        : "No events match.";
      prev.disabled = cursors.length <= 1;
      next.disabled = !nextCursor;
    } catch (error) {
      ctx.fail(error, status);
    }
  }

  form.addEventListener("submit", (submit) => {
    submit.preventDefault();
    const data = new FormData(form);
    query = { limit: data.get("limit"), since: isoOrEmpty(data.get("since")),
      until: isoOrEmpty(data.get("until")) };
    for (const name of FILTERS) query[name] = data.get(name).trim();
    cursors.length = 1;
    load();
  });
  next.addEventListener("click", () => { if (nextCursor) { cursors.push(nextCursor); load(); } });
  prev.addEventListener("click", () => { if (cursors.length > 1) { cursors.pop(); load(); } });
  query = { limit: 50 };
  load();
  return () => {};
}

export function renderOne(root, ctx, eventId) {
  const status = h("p", { class: "error", role: "alert" });
  const pre = h("pre", { class: "json", tabindex: "0", "aria-label": "The stored event as JSON" });
  root.append(h("p", {}, h("a", { href: "#/events" }, "← All events")),
    h("h1", {}, "Event ", h("code", {}, eventId)), status, pre);
  api(`/log/event/${encodeURIComponent(eventId)}`)
    .then((event) => { pre.textContent = JSON.stringify(event, null, 2); })
    .catch((error) => ctx.fail(error, status));
  return () => {};
}

// Live tail over GET /log/stream (Server-Sent Events). EventSource cannot send an
// Authorization header, so the stream is read with fetch and parsed here.
import { authHeaders } from "./api.js";
import { h, clear } from "./dom.js";

const MAX_ROWS = 200;

// Feeds text chunks in, calls onMessage({id, data}) for each complete message.
export function sseParser(onMessage) {
  let buffer = "", id = "", data = [];
  return (chunk) => {
    buffer += chunk;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (data.length) onMessage({ id, data: data.join("\n") });
        data = [];
      } else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      else if (line.startsWith("id:")) id = line.slice(3).trim();
    }
  };
}

export function render(root, ctx) {
  const filter = h("input", { id: "tail-event", name: "event" });
  const toggle = h("button", { type: "button" }, "Pause");
  const status = h("p", { class: "muted", role: "status" }, "Connecting…");
  const tbody = h("tbody");
  root.append(h("h1", {}, "Live tail"),
    h("form", { class: "filters", "aria-label": "Filter the tail" },
      h("div", {}, h("label", { for: "tail-event" }, "Event"), filter), h("div", {}, toggle)),
    status,
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Time", "Event", "UID", "Event id"].map(
        (title) => h("th", { scope: "col" }, title)))), tbody)));
  let controller = null, lastId = "";

  function show({ id, data }) {
    lastId = id || lastId;
    let event;
    try { event = JSON.parse(data); } catch { return; }
    tbody.prepend(h("tr", {}, h("td", {}, event.time ?? ""), h("td", {}, event.event ?? ""),
      h("td", {}, event.uid ?? ""), h("td", {}, event.event_id ?? "")));
    while (tbody.rows.length > MAX_ROWS) tbody.lastChild.remove();
  }

  async function connect() {
    controller = new AbortController();
    const params = new URLSearchParams();
    if (applied) params.append("event", applied);
    const headers = { ...authHeaders(), Accept: "text/event-stream" };
    if (lastId) headers["Last-Event-ID"] = lastId;
    try {
      const response = await fetch(`/log/stream${[...params].length ? `?${params}` : ""}`,
        { headers, signal: controller.signal, cache: "no-store" });
      if (!response.ok) throw new Error(`the stream answered HTTP ${response.status}`);
      status.textContent = "Live.";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      const feed = sseParser(show);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        feed(value);
      }
      status.textContent = "The stream ended.";
    } catch (error) {
      if (error.name !== "AbortError") status.textContent = `Disconnected: ${error.message}`;
    }
  }

  toggle.addEventListener("click", () => {
    if (controller) { controller.abort(); controller = null; toggle.textContent = "Resume";
      status.textContent = "Paused."; }
    else { toggle.textContent = "Pause"; connect(); }
  });
  let applied = "";
  function refilter(submit) {
    if (submit) submit.preventDefault();
    if (filter.value.trim() === applied) return;
    applied = filter.value.trim();
    if (controller) controller.abort();
    clear(tbody);
    toggle.textContent = "Pause";
    lastId = "";
    connect();
  }
  filter.addEventListener("change", () => refilter());
  root.querySelector("form").addEventListener("submit", refilter);
  connect();
  return () => { if (controller) controller.abort(); };
}

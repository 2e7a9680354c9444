// The console shell: log in, ask the API what exists, route #/page to a page module.
import { api, ApiError, session } from "./api.js";
import { absentNotice, clear, h } from "./dom.js";
import * as events from "./events.js";
import * as monitors from "./monitors.js";
import * as overview from "./overview.js";
import * as tail from "./tail.js";
import * as tokens from "./tokens.js";

// Each page, the feature it needs (null: always there) and the API path named when absent.
const PAGES = {
  overview: { module: overview, feature: null },
  events: { module: events, feature: null },
  tail: { module: tail, feature: "stream", title: "The live tail", path: "/log/stream" },
  monitors: { module: monitors, feature: "monitors", title: "Monitoring", path: "/monitors" },
  tokens: { module: tokens, feature: "tokens", title: "Token management", path: "/tokens" },
};

const $ = (id) => document.getElementById(id);
let info = null;
let cleanup = () => {};

function showLogin(message = "") {
  cleanup();
  info = null;
  $("nav").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  $("page").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
  $("login-token").focus();
}

// Shows an API error in `where`; a refused token sends the operator back to log in.
function fail(error, where) {
  if (error instanceof ApiError && error.status === 401) {
    session.forget();
    showLogin(`Your token was refused (${error.message}). Log in again.`);
    return;
  }
  where.textContent = error instanceof ApiError && error.status === 403
    ? `Not allowed: ${error.message}.` : `Error: ${error.message}.`;
}

function route() {
  if (!info) return;
  cleanup();
  const [name = "overview", ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const page = PAGES[name] ?? PAGES.overview;
  const key = PAGES[name] ? name : "overview";
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.page === key) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const root = clear($("page"));
  const ctx = { fail, refreshSeconds: info.refresh_seconds, features: info.features };
  if (page.feature && !info.features[page.feature]) {
    root.append(h("h1", {}, page.title), absentNotice(page.title, page.path));
    cleanup = () => {};
  } else if (rest.length && page.module.renderOne) {
    cleanup = page.module.renderOne(root, ctx, decodeURIComponent(rest.join("/")));
  } else {
    cleanup = page.module.render(root, ctx);
  }
  document.title = `${key[0].toUpperCase()}${key.slice(1)} · stats-service console`;
}

async function start() {
  try {
    info = await api("/console/api/features");
  } catch (error) {
    session.forget();
    const status = error instanceof ApiError ? error.status : 0;
    showLogin(status === 401 ? `That token was refused: ${error.message}.`
      : status === 403 ? "That token lacks the read scope the console needs."
        : `The console could not start: ${error.message}.`);
    return;
  }
  for (const link of document.querySelectorAll("#nav a")) {
    const feature = PAGES[link.dataset.page].feature;
    link.hidden = feature !== null && !info.features[feature];
  }
  $("login").hidden = true;
  $("page").hidden = false;
  $("nav").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = `${info.identity} (${info.scopes.join(", ")}) · v${info.version}`;
  route();
  $("main").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (submit) => {
    submit.preventDefault();
    const token = $("login-token").value.trim();
    $("login-token").value = "";
    if (!token) return;
    session.save(token);
    start();
  });
  $("logout").addEventListener("click", () => { session.forget(); showLogin(); });
  window.addEventListener("hashchange", route);
  if (session.token()) start(); else showLogin();
});

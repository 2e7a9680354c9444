// Tokens: list (never the tokens), create (the new token shown once), revoke.
import { api } from "./api.js";
import { h, clear, formatTime } from "./dom.js";

const SCOPES = ["read", "write", "admin"];
const LIFETIMES = [["", "Never"], ["1h", "1 hour"], ["30d", "30 days"], ["90d", "90 days"],
  ["365d", "1 year"]];

function state(token) {
  if (token.revoked_at !== null) return `revoked ${formatTime(token.revoked_at)}`;
  if (token.expires_at !== null && token.expires_at * 1000 <= Date.now()) return "expired";
  return "active";
}

export function render(root, ctx) {
  const status = h("p", { class: "error", role: "alert" });
  const created = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "create", "aria-label": "Create a token" },
    h("div", {}, h("label", { for: "token-identity" }, "Identity"),
      h("input", { id: "token-identity", name: "identity", required: true, maxlength: 200 })),
    h("fieldset", {}, h("legend", {}, "Scopes"),
      SCOPES.map((scope) => h("label", {}, h("input", { type: "checkbox", name: "scopes",
        value: scope, checked: scope === "read" }), ` ${scope}`))),
    h("div", {}, h("label", { for: "token-expiry" }, "Expires"),
      h("select", { id: "token-expiry", name: "expires_in" },
        LIFETIMES.map(([value, label]) => h("option", { value }, label)))),
    h("div", {}, h("button", { type: "submit" }, "Create token")));
  const tbody = h("tbody");
  root.append(h("h1", {}, "Tokens"), h("h2", {}, "Create"), form, created, status,
    h("h2", {}, "Token ids"),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Token id", "Identity", "Scopes", "Created", "Expires", "State", ""]
        .map((title) => h("th", { scope: "col" }, title)))), tbody)));

  async function load() {
    try {
      const { tokens } = await api("/tokens");
      clear(tbody).append(...tokens.map((token) => {
        const revoke = h("button", { type: "button", class: "danger",
          "aria-label": `Revoke ${token.token_id}` }, "Revoke");
        let armed = false;
        revoke.addEventListener("click", async () => {
          if (!armed) { armed = true; revoke.textContent = "Confirm revoke"; return; }
          try {
            await api(`/tokens/${encodeURIComponent(token.token_id)}`, { method: "DELETE" });
            await load();
          } catch (error) { ctx.fail(error, status); }
        });
        return h("tr", {}, h("td", {}, h("code", {}, token.token_id)), h("td", {}, token.identity),
          h("td", {}, token.scopes.join(", ")), h("td", {}, formatTime(token.created_at)),
          h("td", {}, formatTime(token.expires_at)), h("td", {}, state(token)),
          h("td", {}, token.revoked_at === null ? revoke : ""));
      }));
    } catch (error) {
      ctx.fail(error, status);
    }
  }

  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    status.textContent = "";
    const data = new FormData(form);
    try {
      const token = await api("/tokens", { method: "POST", body: {
        identity: data.get("identity").trim(), scopes: data.getAll("scopes"),
        expires_in: data.get("expires_in") || null } });
      const value = h("code", { id: "new-token" }, token.token);
      const copy = h("button", { type: "button", class: "secondary" }, "Copy");
      copy.addEventListener("click", async () => {
        try { await navigator.clipboard.writeText(token.token); copy.textContent = "Copied"; }
        catch { getSelection().selectAllChildren(value); copy.textContent = "Selected: press Ctrl+C"; }
      });
      const dismiss = h("button", { type: "button", class: "secondary" }, "Done");
      dismiss.addEventListener("click", () => clear(created));
      clear(created).append(h("div", { class: "secret", role: "status" },
        h("strong", {}, `New token ${token.token_id}, shown only now:`), value, copy, dismiss));
      form.reset();
      await load();
    } catch (error) {
      ctx.fail(error, status);
    }
  });
  load();
  return () => clear(created);
}

// The admin review page (/admin): open reports with context, resolve/dismiss with a note,
// suspend/reinstate accounts, and the audit log. See docs/moderation.md.
import { api, get, post } from "./api.js";
import { h, replace, timeAgo } from "./dom.js";

export function adminView(ctx) {
  const statusSel = h("select", { class: "input input-sm", "aria-label": "Reports shown" },
    ["open", "resolved", "dismissed"].map((s) => h("option", { value: s }, s[0].toUpperCase() + s.slice(1))));
  const reportsEl = h("ul", { class: "admin-list", "aria-label": "Reports" });
  const auditEl = h("ul", { class: "admin-list audit", "aria-label": "Audit log" });
  const more = h("button", { type: "button", class: "btn btn-ghost btn-sm", hidden: true }, "Show more");
  let auditOffset = 0;
  const el = h("section", { class: "admin-page" },
    h("h1", { tabindex: "-1" }, "Review"),
    h("section", { class: "card section" },
      h("div", { class: "section-title" }, h("h2", null, "Reports"), statusSel), reportsEl),
    h("section", { class: "card section" }, h("h2", { class: "section-title" }, "Audit log"), auditEl, more));

  if (!ctx.me || !ctx.me.is_admin) {
    replace(el, h("div", { class: "card notice" }, h("h1", null, "Admins only"),
      h("a", { href: "/", class: "btn btn-primary" }, "Back to the hallway")));
  }

  async function loadReports() {
    try {
      const page = await get(`/admin/reports?status=${statusSel.value}&limit=100`);
      replace(reportsEl, page.reports.length ? page.reports.map(reportRow)
        : h("li", { class: "muted" }, `No ${statusSel.value} reports.`));
    } catch (err) {
      replace(reportsEl, h("li", { class: "form-error" }, err.message));
    }
  }

  function reportRow(r) {
    const note = h("input", { class: "input", "aria-label": "Note", maxlength: "1000", placeholder: "Note (optional)" });
    const who = (u) => h("a", { href: `/u/${u.username}` }, `@${u.username}`);
    const suspended = r.reported.suspended;
    const actions = r.status === "open" ? h("div", { class: "dialog-actions" }, note,
      h("button", { type: "button", class: "btn btn-primary btn-sm", onclick: () => handle(r, "resolve", note.value) }, "Resolve"),
      h("button", { type: "button", class: "btn btn-ghost btn-sm", onclick: () => handle(r, "dismiss", note.value) }, "Dismiss"),
      h("button", { type: "button", class: ["btn", "btn-sm", suspended ? "btn-secondary" : "btn-danger"],
        onclick: () => suspend(r.reported.username, !suspended) }, suspended ? "Reinstate" : "Suspend"))
      : h("p", { class: "small muted" }, `${r.status} by @${r.handled_by || "?"}${r.note ? `: ${r.note}` : ""}`);
    return h("li", { class: "admin-item" },
      h("p", null, h("strong", null, r.category), " · ", who(r.reporter), " reported ", who(r.reported),
        suspended ? h("span", { class: "badge badge-muted" }, "Suspended") : null,
        " · ", timeAgo(r.created_at)),
      r.room ? h("p", { class: "small muted" }, "In ", r.room.live
        ? h("a", { href: `/room/${r.room.id}` }, r.room.title || r.room.id) : (r.room.title || r.room.id)) : null,
      h("p", { class: "report-text" }, r.text), actions);
  }

  async function handle(r, action, note) {
    try {
      await post(`/admin/reports/${r.id}`, { action, note });
      ctx.toast(action === "resolve" ? "Resolved" : "Dismissed", "success");
      refresh();
    } catch (err) { ctx.toast(err.message, "error"); }
  }

  async function suspend(username, on) {
    try {
      await api(on ? "POST" : "DELETE", `/admin/users/${encodeURIComponent(username)}/suspend`, on ? {} : undefined);
      ctx.toast(on ? `Suspended @${username}` : `Reinstated @${username}`, "success");
      refresh();
    } catch (err) { ctx.toast(err.message, "error"); }
  }

  async function loadAudit(append = false) {
    try {
      const page = await get(`/admin/audit?offset=${append ? auditOffset : 0}&limit=50`);
      const rows = page.entries.map((e) => h("li", { class: "admin-item small" },
        h("strong", null, e.action.replaceAll("_", " ")), " by ", e.actor ? `@${e.actor}` : "the server",
        e.target ? ` → @${e.target}` : "", e.room_id ? ` in ${e.room_id}` : "", " · ", timeAgo(e.at)));
      if (append) auditEl.append(...rows); else replace(auditEl, rows.length ? rows : h("li", { class: "muted" }, "Nothing yet."));
      auditOffset = (append ? auditOffset : 0) + page.entries.length;
      more.hidden = auditOffset >= page.total;
    } catch (err) {
      replace(auditEl, h("li", { class: "form-error" }, err.message));
    }
  }

  function refresh() { loadReports(); loadAudit(); }
  statusSel.addEventListener("change", loadReports);
  more.addEventListener("click", () => loadAudit(true));
  if (ctx.me && ctx.me.is_admin) refresh();
  return { el, title: "Review", focus: () => el.querySelector("h1")?.focus() };
}

// Replays and clips on a profile page, and the rows that list them.

import { get } from "./api.js";
import { h, replace, icon } from "./dom.js";
import { formatTime } from "./player.js";
import { accessLabel } from "./replay_host.js";

const SHOWN = 20;

/** The profile's "Replays" and "Clips" sections; each loads on its own. */
export function recordingSections(ctx, p) {
  const who = p.is_me ? "You haven't" : `${p.display_name} hasn't`;
  return [
    section(ctx, "replays-h", "Replays", `/users/${encodeURIComponent(p.username)}/replays`, "replays",
      (r) => replayRow(r, p.is_me), `${who} recorded a room yet.`),
    section(ctx, "clips-h", "Clips", `/users/${encodeURIComponent(p.username)}/clips`, "clips",
      clipRow, p.is_me ? "No clips of you or by you yet." : `No clips of or by ${p.display_name} yet.`),
  ];
}

function section(ctx, id, title, path, key, row, emptyText) {
  const count = h("span", { class: "section-count", hidden: true });
  const body = h("div", null, h("p", { class: "muted small" }, "Loading…"));
  const el = h("section", { class: "profile-section", "aria-labelledby": id },
    h("h2", { id, class: "section-title" }, title, count), body);
  get(`${path}?limit=${SHOWN}`).then((data) => {
    const items = listOf(data, key);
    const total = data && typeof data.total === "number" ? data.total : items.length;
    count.textContent = String(total);
    count.hidden = !items.length;
    replace(body, items.length
      ? h("ul", { class: "card rows" }, items.map(row))
      : h("p", { class: "muted small" }, emptyText));
  }).catch((err) => replace(body, h("p", { class: "muted small" }, err.message)));
  return el;
}

/** A list endpoint's items, whether it answers with a bare list or an object holding one. */
function listOf(data, key) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data[key])) return data[key];
  if (data && Array.isArray(data.items)) return data.items;
  return [];
}

export function replayRow(r, mine = false) {
  const length = Math.max(0, (r.duration_ms || 0) - (r.trim_start_ms || 0));
  const when = r.started_at ? new Date(r.started_at).toLocaleDateString(undefined, { dateStyle: "medium" }) : "";
  return h("li", { class: "row", dataset: { replayId: r.id } },
    h("span", { class: "row-icon", "aria-hidden": "true" }, icon("replay")),
    h("div", { class: "row-main" },
      h("a", { href: `/replays/${encodeURIComponent(r.id)}`, class: "strong row-link" }, r.title),
      h("span", { class: "small muted" }, [when, r.recording || !r.ended_at ? "recording now" : formatTime(length)].filter(Boolean).join(" · "))),
    mine && r.access && r.access !== "members" ? h("span", { class: "badge badge-muted" }, icon("lock"), accessLabel(r.access)) : null);
}

export function clipRow(c) {
  const page = c.page_url || `/clips/${encodeURIComponent(c.id)}`;
  const speakers = (c.speakers || []).map((s) => s.display_name).join(", ");
  return h("li", { class: "row", dataset: { clipId: c.id } },
    h("span", { class: "row-icon", "aria-hidden": "true" }, icon("scissors")),
    h("div", { class: "row-main" },
      h("a", { href: page, class: "strong row-link" }, c.title || "A clip"),
      h("span", { class: "small muted" }, [formatTime(c.duration_ms ?? c.end_ms - c.start_ms), speakers,
        c.creator ? `clipped by ${c.creator.display_name}` : ""].filter(Boolean).join(" · "))));
}

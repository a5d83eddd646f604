// The header search: people, rooms and events as you type (debounced), results as links.

import { get } from "./api.js";
import { h, replace, icon, avatar, plural } from "./dom.js";
import { profileHref } from "./follow.js";

const DEBOUNCE_MS = 200;

export function searchBox(ctx) {
  const input = h("input", { type: "search", class: "input search-input", id: "site-search", placeholder: "Search people, rooms, events",
    autocomplete: "off", spellcheck: "false", "aria-label": "Search people, rooms and events", role: "combobox",
    "aria-expanded": "false", "aria-controls": "search-results", "aria-autocomplete": "list" });
  const results = h("div", { class: "search-results card", id: "search-results", hidden: true, role: "region", "aria-label": "Search results", "aria-live": "polite" });
  const el = h("form", { class: "search", role: "search", onsubmit: (e) => { e.preventDefault(); run(true); } },
    h("span", { class: "search-icon", "aria-hidden": "true" }, icon("search")), input, results);
  let timer = null;
  let seq = 0;

  function open(show) {
    results.hidden = !show;
    input.setAttribute("aria-expanded", String(show));
  }

  async function run(now) {
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q) { open(false); replace(results); return; }
    const go = async () => {
      const mine = ++seq;
      try {
        const data = await get(`/search?q=${encodeURIComponent(q)}&type=all&limit=6`);
        if (mine !== seq) return;
        render(data);
      } catch (err) {
        if (mine !== seq) return;
        replace(results, h("p", { class: "form-error small" }, err.message));
        open(true);
      }
    };
    if (now) go(); else timer = setTimeout(go, DEBOUNCE_MS);
  }

  function group(title, items) {
    if (!items.length) return null;
    return h("div", { class: "search-group" }, h("h3", { class: "search-group-title" }, title), h("ul", { class: "search-list" }, items));
  }

  function render(data) {
    const people = data.people.map((p) => h("li", null, h("a", { href: profileHref(p.username), class: "search-item" },
      avatar(p, "sm"), h("span", { class: "row-main" }, h("span", { class: "strong" }, p.display_name), h("span", { class: "small muted" }, `@${p.username}`)))));
    const rooms = data.rooms.map((r) => h("li", null, h("a", { href: `/room/${encodeURIComponent(r.id)}`, class: "search-item" },
      h("span", { class: "search-glyph", "aria-hidden": "true" }, icon("speaker")),
      h("span", { class: "row-main" }, h("span", { class: "strong" }, r.title),
        h("span", { class: "small muted" }, `Live · ${plural(r.stage.length + r.listener_count, "person", "people")}`)))));
    const events = data.events.map((e) => h("li", null, h("a", { href: `/events/${e.id}`, class: "search-item" },
      h("span", { class: "search-glyph", "aria-hidden": "true" }, icon("calendar")),
      h("span", { class: "row-main" }, h("span", { class: "strong" }, e.title),
        h("span", { class: "small muted" }, new Date(e.starts_at_ts * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }))))));
    const any = people.length + rooms.length + events.length;
    replace(results, any
      ? [group("People", people), group("Rooms", rooms), group("Events", events)]
      : h("p", { class: "muted small search-empty" }, `Nothing found for “${data.query}”.`));
    open(true);
  }

  input.addEventListener("input", () => run(false));
  input.addEventListener("focus", () => { if (input.value.trim() && results.childNodes.length) open(true); });
  el.addEventListener("keydown", (e) => {
    const links = [...results.querySelectorAll("a")];
    const i = links.indexOf(document.activeElement);
    if (e.key === "Escape") { open(false); input.focus(); }
    else if (e.key === "ArrowDown" && links.length) { e.preventDefault(); (links[i + 1] || links[0]).focus(); open(true); }
    else if (e.key === "ArrowUp" && links.length) { e.preventDefault(); if (i <= 0) input.focus(); else links[i - 1].focus(); }
  });
  el.addEventListener("focusout", (e) => { if (!el.contains(e.relatedTarget)) open(false); });
  results.addEventListener("click", (e) => {
    if (e.target.closest("a")) { open(false); input.value = ""; input.blur(); }
  });
  return el;
}

// Scheduled events: the upcoming list, planning one, RSVP, .ics, the private calendar feed.

import { api, get, post } from "./api.js";
import { h, replace, icon, copyText, plural } from "./dom.js";
import { profileHref } from "./follow.js";

const PAGE = 20;
const SOON_S = 15 * 60; // hosts see "Start room" from 15 minutes before the start

function whenText(e) {
  const start = new Date(e.starts_at_ts * 1000);
  const local = new Intl.DateTimeFormat(undefined, { weekday: "short", month: "short", day: "numeric", hour: "numeric", minute: "2-digit" }).format(start);
  const mine = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!e.timezone || e.timezone === mine) return local;
  let theirs = "";
  try {
    theirs = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit", timeZone: e.timezone, timeZoneName: "short" }).format(start);
  } catch { return local; }
  return `${local} (${theirs} in ${e.timezone.replace(/_/g, " ")})`;
}

/** One event as a card: when, who, RSVP, .ics, and for hosts "Start room" / "Cancel". */
export function eventCard(ctx, e, { onChange } = {}) {
  const el = h("article", { class: "card event-card", dataset: { eventId: e.id }, "aria-labelledby": `ev-${e.id}-t` });
  function render() {
    const isHost = ctx.me && (e.host.id === ctx.me.id || e.cohosts.some((c) => c.id === ctx.me.id));
    const now = Date.now() / 1000;
    const actions = [];
    if (e.status === "live" && e.room_id) {
      actions.push(h("a", { href: `/room/${encodeURIComponent(e.room_id)}`, class: "btn btn-primary btn-sm" }, "Join the room"));
    } else if (e.status === "scheduled") {
      actions.push(h("button", { type: "button", class: ["btn", "btn-sm", e.rsvped ? "btn-secondary" : "btn-ghost"],
        "aria-pressed": String(Boolean(e.rsvped)), onclick: toggleRsvp },
      icon(e.rsvped ? "check" : "bell"), e.rsvped ? "You'll be notified" : "Notify me"));
      if (isHost && now >= e.starts_at_ts - SOON_S) {
        actions.push(h("button", { type: "button", class: "btn btn-primary btn-sm", onclick: start }, icon("mic"), "Start room"));
      }
    }
    actions.push(h("a", { href: e.ics_url, class: "btn btn-ghost btn-sm", download: `event-${e.id}.ics`,
      "aria-label": `Add ${e.title} to your calendar (.ics)` }, icon("download"), ".ics"));
    if (e.host.id === ctx.me?.id && e.status === "scheduled") {
      actions.push(h("button", { type: "button", class: "btn btn-ghost btn-sm danger-text", onclick: cancel }, "Cancel event"));
    }
    const hosts = [e.host, ...e.cohosts];
    replace(el,
      h("div", { class: "event-when" }, icon("calendar"), h("time", { datetime: e.starts_at }, whenText(e)),
        e.status === "live" ? h("span", { class: "live-dot" }, "Live") : null),
      h("h3", { class: "event-title", id: `ev-${e.id}-t` }, h("a", { href: `/events/${e.id}` }, e.title)),
      e.description ? h("p", { class: "event-desc" }, e.description) : null,
      h("p", { class: "small muted" }, "Hosted by ",
        hosts.map((p, i) => [i ? ", " : "", h("a", { href: profileHref(p.username) }, p.display_name)]),
        ` · ${plural(e.rsvp_count, "person", "people")} interested`),
      h("div", { class: "event-actions" }, actions));
  }
  async function toggleRsvp() {
    try {
      const reply = await api(e.rsvped ? "DELETE" : "POST", `/events/${e.id}/rsvp`);
      if (reply && typeof reply === "object" && "rsvped" in reply) Object.assign(e, reply);
      else { e.rsvp_count += e.rsvped ? -1 : 1; e.rsvped = !e.rsvped; }
      render();
      el.querySelector("[aria-pressed]")?.focus();
      if (onChange) onChange(e);
    } catch (err) { ctx.toast(err.message, "error"); }
  }
  async function start() {
    try {
      const room = await post(`/events/${e.id}/start`);
      ctx.navigate(`/room/${encodeURIComponent(room.id)}`);
    } catch (err) { ctx.toast(err.message, "error"); }
  }
  async function cancel() {
    const ok = await ctx.dialog("Cancel this event?", (close) => h("div", { class: "dialog-body" },
      h("h2", null, "Cancel this event?"),
      h("p", { class: "muted" }, "People who asked to be notified will see it cancelled in their calendars."),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn btn-ghost", onclick: () => close(false) }, "Keep it"),
        h("button", { type: "button", class: "btn btn-danger", onclick: () => close(true) }, "Cancel event"))), { className: "dialog-sm" });
    if (!ok) return;
    try {
      await api("DELETE", `/events/${e.id}`);
      e.status = "cancelled";
      el.remove();
      ctx.toast("Event cancelled");
    } catch (err) { ctx.toast(err.message, "error"); }
  }
  render();
  return el;
}

export function eventsView(ctx, eventId) {
  const list = h("div", { class: "event-list", "aria-live": "polite" }, h("p", { class: "muted" }, "Loading…"));
  const more = h("button", { type: "button", class: "btn btn-ghost", hidden: true }, "Load more");
  const plan = h("button", { type: "button", class: "btn btn-primary" }, icon("plus"), "Plan an event");
  let offset = 0;
  let destroyed = false;

  async function page(reset) {
    if (reset) offset = 0;
    more.disabled = true;
    try {
      const data = await get(`/events?offset=${offset}&limit=${PAGE}`);
      if (destroyed) return;
      const events = data.events || [];
      if (reset) replace(list);
      for (const e of events) list.append(eventCard(ctx, e));
      offset += events.length;
      const total = typeof data.total === "number" ? data.total : offset + (events.length === PAGE ? 1 : 0);
      more.hidden = offset >= total || events.length === 0;
      if (!offset) {
        replace(list, h("div", { class: "empty card" },
          h("span", { class: "empty-icon", "aria-hidden": "true" }, icon("calendar")),
          h("h2", null, "Nothing planned yet"),
          h("p", { class: "muted" }, "Plan a room ahead of time so people can be there.")));
      }
    } catch (err) {
      replace(list, h("p", { class: "form-error" }, err.message));
    } finally {
      more.disabled = false;
    }
  }

  async function one() {
    try {
      const e = await get(`/events/${encodeURIComponent(eventId)}`);
      if (destroyed) return;
      document.title = `${e.title} · Podium`;
      replace(list, eventCard(ctx, e));
      if (e.status === "cancelled") list.prepend(h("p", { class: "badge badge-muted" }, "Cancelled"));
    } catch (err) {
      replace(list, h("p", { class: "form-error" }, err.message));
    }
  }

  plan.addEventListener("click", async () => {
    const created = await planEvent(ctx);
    if (created) {
      if (eventId) ctx.navigate(`/events/${created.id}`);
      else page(true);
    }
  });
  more.addEventListener("click", () => page(false));
  if (eventId) one(); else page(true);

  const el = h("section", { class: "page" },
    h("div", { class: "page-head" },
      h("div", null, h("h1", { tabindex: "-1" }, eventId ? "Event" : "Upcoming events"),
        h("p", { class: "muted" }, eventId ? h("a", { href: "/events" }, "All upcoming events") : "Rooms planned ahead. Ask to be notified when they go live.")),
      plan),
    list, more, eventId ? null : calendarFeed(ctx));
  return { el, title: "Events", destroy() { destroyed = true; } };
}

/** Your private calendar feed: create, copy, rotate, revoke. */
function calendarFeed(ctx) {
  const body = h("div", { class: "feed-body" }, h("p", { class: "muted small" }, "Loading…"));
  const el = h("section", { class: "card feed", "aria-labelledby": "feed-h" },
    h("h2", { id: "feed-h" }, icon("calendar"), "Your calendar feed"),
    h("p", { class: "muted small" }, "Subscribe from your calendar app to see the events you host or asked to be notified about. The link is private: anyone with it can read the feed."),
    body);

  async function load() {
    try {
      const status = await get("/calendar");
      render(status.active, null);
    } catch (err) { replace(body, h("p", { class: "form-error" }, err.message)); }
  }
  function render(active, fresh) {
    const buttons = [];
    if (!active) {
      buttons.push(h("button", { type: "button", class: "btn btn-secondary btn-sm", onclick: create }, "Create feed link"));
    } else {
      buttons.push(h("button", { type: "button", class: "btn btn-ghost btn-sm", onclick: create }, "New link (old one stops working)"));
      buttons.push(h("button", { type: "button", class: "btn btn-ghost btn-sm danger-text", onclick: revoke }, "Turn off feed"));
    }
    let freshEl = null;
    if (fresh) {
      const input = h("input", { class: "input mono", readonly: true, value: fresh.url, "aria-label": "Calendar feed link" });
      input.addEventListener("focus", () => input.select());
      const copy = h("button", { type: "button", class: "btn btn-secondary" }, icon("copy"), "Copy");
      copy.addEventListener("click", async () => {
        if (await copyText(fresh.url)) ctx.toast("Feed link copied", "success");
        else { input.select(); ctx.toast("Select the link and copy it"); }
      });
      freshEl = h("div", { class: "feed-fresh" },
        h("p", { class: "small muted" }, "Shown only once: copy it now."),
        h("div", { class: "copy-row" }, input, copy),
        fresh.webcal_url ? h("a", { href: fresh.webcal_url, class: "small" }, "Open in your calendar app") : null);
    }
    replace(body,
      h("p", { class: "small" }, active ? "Your feed is on." : "You have no feed."),
      freshEl, h("div", { class: "event-actions" }, buttons));
  }
  async function create() {
    try { render(true, await post("/calendar/token")); } catch (err) { ctx.toast(err.message, "error"); }
  }
  async function revoke() {
    try { await api("DELETE", "/calendar/token"); render(false, null); ctx.toast("Feed turned off"); } catch (err) { ctx.toast(err.message, "error"); }
  }
  load();
  return el;
}

function timeZones() {
  const mine = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  let zones = [];
  try { zones = Intl.supportedValuesOf("timeZone"); } catch { zones = []; }
  if (!zones.includes(mine)) zones.unshift(mine);
  if (!zones.includes("UTC")) zones.push("UTC");
  return { mine, zones };
}

function pad(n) { return String(n).padStart(2, "0"); }

/** The "plan an event" dialog; resolves with the created event. */
export function planEvent(ctx) {
  return ctx.dialog("Plan an event", (close) => {
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const { mine, zones } = timeZones();
    const soon = new Date(Date.now() + 60 * 60 * 1000);
    soon.setMinutes(0, 0, 0);
    const title = h("input", { id: "ev-title", name: "title", class: "input", required: true, maxlength: 100, autocomplete: "off" });
    const date = h("input", { id: "ev-date", name: "date", type: "date", class: "input", required: true,
      value: `${soon.getFullYear()}-${pad(soon.getMonth() + 1)}-${pad(soon.getDate())}` });
    const time = h("input", { id: "ev-time", name: "time", type: "time", class: "input", required: true,
      value: `${pad(soon.getHours())}:${pad(soon.getMinutes())}` });
    const tz = h("select", { id: "ev-tz", name: "timezone", class: "input" },
      zones.map((z) => h("option", { value: z, selected: z === mine }, z.replace(/_/g, " "))));
    const form = h("form", { class: "dialog-body form", novalidate: true },
      h("div", { class: "dialog-head" }, h("h2", null, "Plan an event"),
        h("button", { type: "button", class: "btn btn-icon btn-ghost", "aria-label": "Close", onclick: () => close() }, icon("x"))),
      h("div", { class: "field" }, h("label", { for: "ev-title" }, "Title"), title),
      h("div", { class: "field" }, h("label", { for: "ev-desc" }, "Description ", h("span", { class: "muted" }, "(optional)")),
        h("textarea", { id: "ev-desc", name: "description", class: "input", rows: 3, maxlength: 500 })),
      h("div", { class: "field-row" },
        h("div", { class: "field" }, h("label", { for: "ev-date" }, "Date"), date),
        h("div", { class: "field" }, h("label", { for: "ev-time" }, "Time"), time)),
      h("div", { class: "field" }, h("label", { for: "ev-tz" }, "Time zone"), tz),
      h("div", { class: "field" }, h("label", { for: "ev-cohosts" }, "Co-hosts ", h("span", { class: "muted" }, "(optional)")),
        h("input", { id: "ev-cohosts", name: "cohosts", class: "input", autocomplete: "off", autocapitalize: "none",
          spellcheck: "false", placeholder: "usernames, separated by commas", "aria-describedby": "ev-cohosts-hint" }),
        h("p", { class: "field-hint", id: "ev-cohosts-hint" }, "Co-hosts can start the room too.")),
      error,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn btn-ghost", onclick: () => close() }, "Cancel"),
        h("button", { type: "submit", class: "btn btn-primary" }, "Plan event")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const data = new FormData(form);
      const fail = (msg) => { error.textContent = msg; error.hidden = false; };
      const body = {
        title: String(data.get("title") || "").trim(),
        description: String(data.get("description") || "").trim(),
        starts_at: `${data.get("date")}T${data.get("time")}:00`,
        timezone: String(data.get("timezone") || mine),
        cohosts: String(data.get("cohosts") || "").split(/[\s,]+/).map((u) => u.replace(/^@/, "").toLowerCase()).filter(Boolean),
      };
      if (!body.title) return fail("Give your event a title.");
      if (!data.get("date") || !data.get("time")) return fail("Pick a date and a time.");
      const submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      try {
        const created = await post("/events", body);
        ctx.toast("Event planned", "success");
        close(created);
      } catch (err) {
        fail(err.message);
        submit.disabled = false;
      }
    });
    setTimeout(() => title.focus(), 0);
    return form;
  });
}

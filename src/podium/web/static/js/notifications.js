// Notifications: the bell with the unread count (live over the WebSocket), the panel and the page.

import { get, post } from "./api.js";
import { h, replace, icon, avatar, timeAgo } from "./dom.js";
import { profileHref } from "./follow.js";

const PAGE = 20;

/** Unread count shared by the bell and the lists; listeners get the number on each change. */
const state = { unread: 0, listeners: new Set(), started: false, live: new Set(), settled: new Set() };

function setUnread(n) {
  state.unread = Math.max(0, Number(n) || 0);
  for (const fn of state.listeners) fn(state.unread);
}

async function refreshUnread() {
  try { setUnread((await get("/notifications/unread")).unread); } catch { /* the bell keeps its number */ }
}

/** Start listening (once per page load); call after sign-in. */
export function startNotifications(ctx) {
  if (state.started) return;
  state.started = true;
  ctx.rt.addEventListener("frame", (e) => {
    const frame = e.detail;
    if (frame.type === "notifications_read") { // settled elsewhere: an invitation accepted, a room joined
      if (typeof frame.unread === "number") setUnread(frame.unread);
      for (const fn of state.settled) fn(frame.ids || []);
      return;
    }
    if (frame.type !== "notification" || !frame.notification) return;
    if (typeof frame.unread === "number") setUnread(frame.unread);
    for (const fn of state.live) fn(frame.notification);
    const n = frame.notification;
    if (!(n.room_id && ctx.roomState && ctx.roomState.room_id === n.room_id)) ctx.toast(n.text);
  });
  ctx.rt.addEventListener("hello", (e) => {
    if (!e.detail.resumed || e.detail.moved) refreshUnread(); // moved: at most 100 replayed
  });
  refreshUnread();
}

export function stopNotifications() {
  setUnread(0);
}

/** Where a notification leads (an ended room is nowhere to go: its host's profile instead). */
function target(n) {
  if (n.room_id && n.room_live !== false) return `/room/${encodeURIComponent(n.room_id)}`;
  if (n.event_id) return `/events/${encodeURIComponent(n.event_id)}`;
  if (n.actor) return profileHref(n.actor.username);
  return null;
}

const KIND_ICON = {
  new_follower: "userPlus", ping: "send", speak_invite: "mic", followed_started_room: "speaker",
  followed_on_stage: "mic", event_starting: "calendar", event_live: "calendar",
};

/** A paged list of notifications; onOpen() runs before navigating (e.g. to close the panel). */
function notificationList(ctx, { onOpen, compact } = {}) {
  const list = h("ul", { class: "notif-list", "aria-label": "Notifications" });
  const status = h("p", { class: "muted small notif-status" }, "Loading…");
  const more = h("button", { type: "button", class: "btn btn-ghost btn-sm", hidden: true }, "Load more");
  const markAll = h("button", { type: "button", class: "btn btn-ghost btn-sm" }, icon("check"), "Mark all read");
  let before = null;
  const rows = new Map();

  function row(n) {
    const href = target(n);
    const when = h("span", { class: "small muted" }, timeAgo(Math.min(n.created_at, Date.now() / 1000)));
    const main = [
      h("span", { class: "notif-icon", "aria-hidden": "true" }, n.actor ? avatar(n.actor, "sm") : icon(KIND_ICON[n.kind] || "bell")),
      h("span", { class: "row-main" }, h("span", { class: "notif-text" }, n.text),
        h("span", { class: "small muted" }, when, n.room_id && n.room_live === false ? " · room ended" : "")),
    ];
    const label = `${n.read ? "" : "Unread: "}${n.text}${n.room_id && n.room_live === false ? " (the room has ended)" : ""}`;
    const open = href
      ? h("a", { href, class: "notif-open", "aria-label": label, onclick: () => { markRead(n); if (onOpen) onOpen(); } }, main)
      : h("div", { class: "notif-open", "aria-label": label }, main);
    const mark = n.read ? null : h("button", { type: "button", class: "btn btn-icon btn-ghost notif-mark", "aria-label": `Mark read: ${n.text}`,
      onclick: () => markRead(n) }, icon("check"));
    const li = h("li", { class: ["notif", !n.read && "is-unread"], dataset: { id: n.id, kind: n.kind } }, open, mark);
    return li;
  }

  async function markRead(n) {
    if (n.read) return;
    n.read = true;
    const old = rows.get(n.id);
    if (old) { const fresh = row(n); old.replaceWith(fresh); rows.set(n.id, fresh); }
    try { setUnread((await post(`/notifications/${n.id}/read`)).unread); } catch (err) { ctx.toast(err.message, "error"); }
  }

  async function page() {
    more.disabled = true;
    try {
      const q = new URLSearchParams({ limit: String(compact ? 10 : PAGE) });
      if (before !== null) q.set("before", String(before));
      const data = await get(`/notifications?${q}`);
      for (const n of data.notifications) {
        if (rows.has(n.id)) continue;
        const li = row(n);
        rows.set(n.id, li);
        list.append(li);
      }
      setUnread(data.unread);
      before = data.next_before ?? null;
      more.hidden = before === null || compact;
      status.textContent = rows.size ? "" : "Nothing yet. When people follow you, ping you or go live, it shows up here.";
      status.hidden = !status.textContent;
    } catch (err) {
      status.textContent = err.message;
      status.hidden = false;
    } finally {
      more.disabled = false;
    }
  }

  function onLive(n) {
    if (rows.has(n.id)) return;
    const li = row(n);
    rows.set(n.id, li);
    list.prepend(li);
    status.hidden = true;
  }

  function onSettled(ids) {
    for (const id of ids) {
      const li = rows.get(id);
      if (!li || !li.classList.contains("is-unread")) continue;
      li.classList.remove("is-unread");
      const mark = li.querySelector(".notif-mark");
      if (mark) mark.remove();
    }
  }

  markAll.addEventListener("click", async () => {
    try {
      setUnread((await post("/notifications/read-all")).unread);
      list.querySelectorAll(".notif.is-unread").forEach((li) => li.classList.remove("is-unread"));
      list.querySelectorAll(".notif-mark").forEach((b) => b.remove());
    } catch (err) { ctx.toast(err.message, "error"); }
  });
  more.addEventListener("click", page);
  state.live.add(onLive);
  state.settled.add(onSettled);
  page();
  return { list, status, more, markAll, destroy: () => { state.live.delete(onLive); state.settled.delete(onSettled); } };
}

/** The header bell: a button opening the panel, with the unread count. */
export function bellButton(ctx) {
  const count = h("span", { class: "bell-count", "aria-hidden": "true" });
  const button = h("button", { type: "button", class: "btn btn-icon btn-ghost bell", "aria-haspopup": "dialog" }, icon("bell"), count);
  const show = (n) => {
    count.textContent = n > 99 ? "99+" : String(n);
    count.hidden = n === 0;
    button.setAttribute("aria-label", n ? `Notifications, ${n} unread` : "Notifications");
    button.dataset.unread = String(n);
  };
  show(state.unread);
  // The header is rebuilt on each route: only the newest bell listens.
  if (state.bell) state.listeners.delete(state.bell);
  state.bell = show;
  state.listeners.add(show);
  button.addEventListener("click", () => openPanel(ctx));
  return button;
}

function openPanel(ctx) {
  let listing;
  return ctx.dialog("Notifications", (close) => {
    listing = notificationList(ctx, { onOpen: () => close(), compact: true });
    return h("div", { class: "dialog-body notif-panel-body" },
      h("div", { class: "dialog-head" }, h("h2", null, "Notifications"),
        h("button", { type: "button", class: "btn btn-icon btn-ghost", "aria-label": "Close", onclick: () => close() }, icon("x"))),
      listing.list, listing.status,
      h("div", { class: "notif-panel-foot" },
        h("a", { href: "/notifications", class: "btn btn-ghost btn-sm", onclick: () => close() }, "See all"), listing.markAll));
  }, { className: "notif-panel" }).then(() => listing && listing.destroy());
}

export function notificationsView(ctx) {
  const listing = notificationList(ctx);
  const el = h("section", { class: "page" },
    h("div", { class: "page-head" },
      h("div", null, h("h1", { tabindex: "-1" }, "Notifications"),
        h("p", { class: "muted" }, "Follows, pings, invitations to speak and events going live.")),
      listing.markAll),
    h("div", { class: "card notif-card" }, listing.list, listing.status), listing.more);
  return { el, title: "Notifications", destroy: () => listing.destroy() };
}

export function unreadCount() { return state.unread; }
export { replace };

// A room's audience: a virtualised grid (only the rows in view exist in the DOM). Small rooms
// use the snapshot's list; large ones fetch pages from /rooms/{id}/audience as they scroll into view.

import { get } from "./api.js";
import { h, replace, icon, avatar, formatCount } from "./dom.js";

const TILE_W = 92;
const ROW_H = 96;
const PAGE = 100;
const OVERSCAN = 2;
const STALE_EVERY_MS = 1000;

/** `onPick(member)`: someone's tile was chosen (a menu for moderators, else their profile). */
export function roomAudience(session, { onPick }) {
  const count = h("span", { class: "section-count" });
  const list = audienceList(session.ctx, session.roomId, onPick);
  const el = h("section", { class: "card section", "aria-labelledby": "aud-h" },
    h("h2", { id: "aud-h", class: "section-title" }, "Listeners", count), list.el);
  return {
    el,
    render(room) {
      count.textContent = formatCount(room.audience_count);
      list.update(room, session.amModerator());
    },
    audienceChanged: list.stale,
    destroy: list.destroy,
  };
}

function audienceList(ctx, roomId, onPick) {
  const spacer = h("div", { class: "aud-spacer", role: "list", "aria-label": "Listeners" });
  const scroller = h("div", { class: "aud-scroll", tabindex: "0", "aria-label": "Listeners, scrollable" }, spacer);
  const empty = h("p", { class: "muted small aud-empty", hidden: true }, "Nobody in the audience yet.");
  const el = h("div", { class: "aud" }, scroller, empty);
  let room = null;
  let moderator = false;
  let cols = 1;
  const pages = new Map();
  const loading = new Set();
  let generation = 0;
  let staleTimer = null;
  let lastFetch = 0;
  let frame = 0;

  function local() {
    return room && room.audience.length >= room.audience_count;
  }

  function memberAt(i) {
    if (local()) return room.audience[i];
    const page = pages.get(Math.floor(i / PAGE));
    return page ? page.members[i % PAGE] : undefined;
  }

  async function fetchPage(p) {
    const key = `${generation}:${p}`;
    if (loading.has(key)) return;
    loading.add(key);
    const gen = generation;
    try {
      const data = await get(`/rooms/${encodeURIComponent(roomId)}/audience?offset=${p * PAGE}&limit=${PAGE}`);
      pages.set(p, { gen, members: data.members });
      if (room && typeof data.count === "number" && gen === generation) room.audience_count = data.count;
      schedule();
    } catch { /* retried on the next scroll or change */ } finally {
      loading.delete(key);
    }
  }

  function schedule() {
    if (frame) return;
    frame = requestAnimationFrame(() => { frame = 0; draw(); });
  }

  function draw() {
    if (!room) return;
    const count = room.audience_count;
    empty.hidden = count > 0;
    scroller.hidden = count === 0;
    const width = scroller.clientWidth || 320;
    cols = Math.max(1, Math.floor(width / TILE_W));
    const rows = Math.ceil(count / cols);
    spacer.style.height = `${rows * ROW_H}px`;
    const top = scroller.scrollTop;
    const viewH = scroller.clientHeight || ROW_H * 4;
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(rows - 1, Math.ceil((top + viewH) / ROW_H) + OVERSCAN);
    const start = first * cols;
    const end = Math.min(count, (last + 1) * cols);
    if (!local()) {
      for (let p = Math.floor(start / PAGE); p <= Math.floor(Math.max(start, end - 1) / PAGE); p++) {
        const page = pages.get(p);
        if (!page || page.gen !== generation) fetchPage(p);
      }
    }
    const focusedId = document.activeElement && spacer.contains(document.activeElement)
      ? document.activeElement.dataset.userId : null;
    const nodes = [];
    const tileW = width / cols;
    for (let i = start; i < end; i++) {
      const m = memberAt(i);
      const style = { left: (i % cols) * tileW, top: Math.floor(i / cols) * ROW_H, width: tileW };
      nodes.push(m ? audienceTile(m, i, count, style) : placeholderTile(i, count, style));
    }
    replace(spacer, nodes);
    if (focusedId) spacer.querySelector(`[data-user-id="${focusedId}"]`)?.focus();
  }

  function audienceTile(m, i, count, pos) {
    const isMe = m.user_id === ctx.me.id;
    const raised = room.hands && room.hands.some((x) => x.user_id === m.user_id);
    const inner = [avatar(m, "md"), h("span", { class: "aud-name" }, isMe ? "You" : firstName(m.display_name)),
      raised ? h("span", { class: "hand-badge", title: "Hand raised" }, icon("hand")) : null];
    const label = `${m.display_name}${isMe ? " (you)" : ""}${raised ? ", hand raised" : ""}`;
    const item = !isMe
      ? h("button", { type: "button", class: "aud-tile", "aria-label": `${label}. ${moderator ? "Options" : "Profile"}`, dataset: { userId: m.user_id },
        onclick: () => onPick(m) }, inner)
      : h("div", { class: "aud-tile", title: m.display_name, "aria-label": label, dataset: { userId: m.user_id } }, inner);
    return position(h("div", { class: "aud-cell", role: "listitem", "aria-setsize": count, "aria-posinset": i + 1 }, item), pos);
  }

  function placeholderTile(i, count, pos) {
    return position(h("div", { class: "aud-cell", role: "listitem", "aria-setsize": count, "aria-posinset": i + 1 },
      h("div", { class: "aud-tile is-loading", "aria-label": "Loading" }, h("span", { class: "avatar avatar-md sk" }), h("span", { class: "sk sk-name" }))), pos);
  }

  function position(node, { left, top, width }) {
    node.style.transform = `translate(${left}px, ${top}px)`;
    node.style.width = `${width}px`;
    return node;
  }

  const onScroll = () => schedule();
  scroller.addEventListener("scroll", onScroll, { passive: true });
  const resize = new ResizeObserver(() => schedule());
  resize.observe(scroller);

  return {
    el,
    update(next, mod) {
      room = next;
      moderator = mod;
      schedule();
    },
    /** The audience changed: refresh fetched pages, at most once a second. */
    stale() {
      if (local()) return;
      clearTimeout(staleTimer);
      const wait = Math.max(0, STALE_EVERY_MS - (Date.now() - lastFetch));
      staleTimer = setTimeout(() => { lastFetch = Date.now(); generation += 1; schedule(); }, wait);
    },
    destroy() {
      clearTimeout(staleTimer);
      if (frame) cancelAnimationFrame(frame);
      resize.disconnect();
    },
  };
}

function firstName(name) {
  return String(name).trim().split(/\s+/)[0] || name;
}

// A room's stage: the people on it, who is muted or a moderator, and who is speaking now.
// Tiles are kept between renders, so a speaking change only toggles a class.

import { h, append, icon, avatar, formatCount } from "./dom.js";
import { openProfileCard } from "./profile.js";

const ROLE_LABEL = { moderator: "Moderator", speaker: "Speaker", listener: "Listener" };

/** `openMenu(member)`: the options for someone you may act on (yourself, or as a moderator). */
export function roomStage(session, { openMenu }) {
  const { ctx } = session;
  const list = h("ul", { class: "stage-grid", "aria-label": "On stage" });
  const count = h("span", { class: "section-count" });
  const el = h("section", { class: "card section", "aria-labelledby": "stage-h" },
    h("h2", { id: "stage-h", class: "section-title" }, "On stage", count), list);
  const tiles = new Map();

  function render(room) {
    count.textContent = formatCount(room.stage.length);
    const speaking = new Set(room.speaking || []);
    const mod = session.amModerator();
    const seen = new Set();
    const order = [];
    for (const m of room.stage) {
      seen.add(m.user_id);
      const key = [m.display_name, m.username, m.role, m.muted, mod, m.user_id === room.host_id].join("|");
      let tile = tiles.get(m.user_id);
      if (!tile || tile.key !== key) {
        const fresh = stageTile(room, m, mod);
        if (tile) tile.el.replaceWith(fresh);
        tile = { el: fresh, key };
        tiles.set(m.user_id, tile);
      }
      tile.el.classList.toggle("is-speaking", speaking.has(m.user_id) && !m.muted);
      order.push(tile.el);
    }
    for (const [id, tile] of tiles) {
      if (!seen.has(id)) { tile.el.remove(); tiles.delete(id); }
    }
    const current = Array.from(list.children);
    if (current.length !== order.length || current.some((node, i) => node !== order[i])) {
      const focused = document.activeElement;
      append(list, order);
      if (focused && list.contains(focused)) focused.focus();
    }
  }

  function stageTile(room, m, mod) {
    const isHost = m.user_id === room.host_id;
    const isMe = m.user_id === ctx.me.id;
    const roleText = isHost ? "Host" : ROLE_LABEL[m.role];
    const inner = [
      h("span", { class: "avatar-wrap" },
        h("span", { class: "speak-ring", "aria-hidden": "true" }),
        avatar(m, "lg"),
        m.muted ? h("span", { class: "mute-badge", title: "Muted" }, icon("micOff")) : null,
        m.role === "moderator" ? h("span", { class: "mod-badge", title: "Moderator" }, icon("star")) : null),
      h("span", { class: "member-name" }, isMe ? `${m.display_name} (you)` : m.display_name),
      h("span", { class: "member-role" }, roleText),
    ];
    const label = `${m.display_name}${isMe ? " (you)" : ""}, ${roleText}${m.muted ? ", muted" : ""}`;
    const interactive = isMe || (mod && (!isHost || ctx.me.id === room.host_id));
    const body = interactive
      ? h("button", { type: "button", class: "member-btn", "aria-label": `${label}. Options`, "aria-haspopup": "dialog",
        onclick: () => openMenu(m) }, inner)
      : h("button", { type: "button", class: "member-btn", "aria-label": `${label}. Profile`, "aria-haspopup": "dialog",
        onclick: () => openProfileCard(ctx, m) }, inner);
    return h("li", { class: ["member", m.muted && "is-muted", m.role === "moderator" && "is-mod"], dataset: { userId: m.user_id } }, body);
  }

  return { el, render, speaking: render };
}

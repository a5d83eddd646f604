// A room's header: title, description, what kind of room it is, the link to share, and badges
// (the audio status, and whatever else a part wants to show there).

import { h, replace, icon, copyText } from "./dom.js";

export function roomHead(session) {
  const { ctx, roomId } = session;
  const titleEl = h("h1", { class: "room-title", tabindex: "-1" }, "Joining…");
  const descEl = h("p", { class: "room-desc" });
  const kindEl = h("span", { class: "room-kind" });
  const shareButton = h("button", { type: "button", class: "btn btn-secondary btn-sm", "aria-label": "Copy room link" },
    icon("link"), h("span", null, "Copy link"));
  shareButton.addEventListener("click", copyLink);
  const top = h("div", { class: "room-head-top" }, h("span", { class: "live-dot" }, "Live"), kindEl, shareButton);
  const el = h("header", { class: "room-head card" }, top, titleEl, descEl);

  async function copyLink() {
    const url = `${location.origin}/room/${encodeURIComponent(roomId)}`;
    if (await copyText(url)) ctx.toast("Room link copied", "success");
    else ctx.toast(url);
  }

  return {
    el,

    /** Shows `node` in the header's top row, after the room's kind (in the order added). */
    badge(node) {
      top.insertBefore(node, shareButton);
    },

    render(room) {
      if (titleEl.textContent !== room.title) {
        titleEl.textContent = room.title;
        document.title = `${room.title} · Podium`;
      }
      descEl.textContent = room.description || "";
      descEl.hidden = !room.description;
      replace(kindEl, room.kind === "closed" ? [icon("lock"), "Closed room"] : room.kind === "social" ? [icon("users"), "Social room"] : "Open room");
    },

    focus() {
      titleEl.focus({ preventScroll: true });
    },
  };
}

// What replaces a room page when you can't be in the room: it ended, a moderator removed you,
// you were away too long, or it could not be opened. Each returns { el, focus }.

import { h, icon } from "./dom.js";

export function endedNotice(title) {
  const back = h("a", { href: "/", class: "btn btn-primary" }, "Back to the hallway");
  const el = h("div", { class: "card notice" },
    h("span", { class: "empty-icon", "aria-hidden": "true" }, icon("power")),
    h("h1", null, "This room has ended"),
    h("p", { class: "muted" }, title), back);
  return { el, focus: () => back.focus() };
}

export function bannedNotice(reason) {
  // "blocked": a moderator of the room has blocked you (not a ban): the same as a refused join.
  const blocked = reason === "blocked";
  const el = h("div", { class: "card notice" },
    h("h1", null, blocked ? "You can't be in this room" : "A moderator removed you from this room"),
    h("p", { class: "muted" }, blocked ? "You can't join this room." : "You can't rejoin it for now."),
    h("div", { class: "dialog-actions center" }, h("a", { href: "/", class: "btn btn-primary" }, "Back to the hallway")));
  return { el, focus: () => {} };
}

export function removedNotice() {
  const again = h("button", { type: "button", class: "btn btn-primary" }, "Rejoin");
  again.addEventListener("click", () => { location.reload(); });
  const el = h("div", { class: "card notice" },
    h("h1", null, "You're no longer in this room"),
    h("p", { class: "muted" }, "You were away for too long."),
    h("div", { class: "dialog-actions center" }, h("a", { href: "/", class: "btn btn-ghost" }, "Hallway"), again));
  return { el, focus: () => {} };
}

export function problemNotice(message) {
  const el = h("div", { class: "card notice" },
    h("h1", null, "Can't open this room"),
    h("p", { class: "muted" }, message),
    h("a", { href: "/", class: "btn btn-primary" }, "Back to the hallway"));
  return { el, focus: () => {} };
}

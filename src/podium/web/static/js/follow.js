// Following people: the follow button with its "notify me" toggle, and people rows.

import { api, post } from "./api.js";
import { h, replace, icon, avatar } from "./dom.js";

export const profileHref = (username) => `/u/${encodeURIComponent(username)}`;
const userPath = (username) => `/users/${encodeURIComponent(username)}`;

/**
 * A follow/unfollow button and, when following, a "notify me" switch.
 * person: {username, display_name, following, notify}; onChange(reply) after each change.
 */
export function followControls(ctx, person, onChange) {
  const el = h("div", { class: "follow-controls" });
  let state = { following: Boolean(person.following), notify: person.notify ?? true };

  async function run(work) {
    el.querySelectorAll("button, input").forEach((c) => { c.disabled = true; });
    try {
      const reply = await work();
      state = { following: reply.following, notify: reply.notify ?? true };
      if (onChange) onChange(reply);
    } catch (err) {
      ctx.toast(err.message, "error");
    }
    render();
  }

  function render() {
    const name = person.display_name || person.username;
    const button = state.following
      ? h("button", { type: "button", class: "btn btn-ghost btn-sm follow-btn", "aria-pressed": "true",
        "aria-label": `Unfollow ${name}`, dataset: { following: "true" },
        onclick: () => run(() => api("DELETE", `${userPath(person.username)}/follow`)) }, icon("check"), "Following")
      : h("button", { type: "button", class: "btn btn-primary btn-sm follow-btn", "aria-pressed": "false",
        "aria-label": `Follow ${name}`,
        onclick: () => run(() => post(`${userPath(person.username)}/follow`, { notify: true })) }, icon("userPlus"), "Follow");
    const parts = [button];
    if (state.following) {
      const id = `notify-${person.username}-${Math.random().toString(36).slice(2, 7)}`;
      const box = h("input", { type: "checkbox", id, class: "switch", role: "switch", checked: state.notify });
      box.addEventListener("change", () => run(() => api("PATCH", `${userPath(person.username)}/follow`, { notify: box.checked })));
      parts.push(h("label", { class: "notify-toggle small", for: id }, box,
        h("span", null, "Notify me when they start or speak")));
    }
    replace(el, parts);
  }
  render();
  return el;
}

/** A row for a person in a list: avatar, names, a link to the profile. */
export function personRow(person, extra) {
  return h("li", { class: "person-row" },
    h("a", { href: profileHref(person.username), class: "person-link" },
      avatar(person, "sm"),
      h("span", { class: "row-main" },
        h("span", { class: "strong" }, person.display_name),
        h("span", { class: "small muted" }, `@${person.username}`, person.follows_you ? " · follows you" : ""))),
    extra || null);
}

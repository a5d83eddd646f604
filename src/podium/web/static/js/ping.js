// "Ping someone" from inside a room: search people or pick from your followers, then ping.

import { get, post } from "./api.js";
import { h, replace, icon, avatar } from "./dom.js";

export function pingDialog(ctx, roomId) {
  return ctx.dialog("Ping someone", (close) => {
    const input = h("input", { type: "search", id: "ping-q", class: "input", autocomplete: "off", spellcheck: "false",
      placeholder: "Search by name or @username" });
    const list = h("ul", { class: "people-list ping-list", "aria-label": "People to ping" });
    const heading = h("h3", { class: "search-group-title" }, "Your followers");
    const status = h("p", { class: "muted small", role: "status" });
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const pinged = new Set();
    let timer = null;
    let seq = 0;
    let current = [];

    function rows(people) {
      current = people;
      const focused = document.activeElement && list.contains(document.activeElement) ? document.activeElement.dataset.uid : null;
      replace(list, people.filter((p) => p.id !== ctx.me.id).map((p) => {
        const done = pinged.has(p.id);
        const button = h("button", { type: "button", class: ["btn", "btn-sm", done ? "btn-ghost" : "btn-primary"], disabled: done,
          "aria-label": done ? `Pinged ${p.display_name}` : `Ping ${p.display_name}`, dataset: { uid: p.id } }, icon(done ? "check" : "send"), done ? "Pinged" : "Ping");
        button.addEventListener("click", () => ping(p, button));
        return h("li", { class: "person-row" }, avatar(p, "sm"),
          h("span", { class: "row-main" }, h("span", { class: "strong" }, p.display_name), h("span", { class: "small muted" }, `@${p.username}`)),
          button);
      }));
      if (focused) (list.querySelector(`[data-uid="${focused}"]`) || input).focus();
      status.textContent = list.childNodes.length ? "" : (input.value.trim() ? "Nobody found." : "Nobody follows you yet. Search for someone.");
    }

    async function ping(p, button) {
      error.hidden = true;
      button.disabled = true;
      try {
        const reply = await post(`/rooms/${encodeURIComponent(roomId)}/ping`, { user_id: p.id });
        pinged.add(p.id);
        ctx.toast(reply && reply.notified === false ? `${p.display_name} was already pinged` : `Pinged ${p.display_name}`, "success");
        rows(current);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        button.disabled = false;
      }
    }

    async function load() {
      const q = input.value.trim();
      const mine = ++seq;
      try {
        if (q) {
          heading.textContent = "People";
          const data = await get(`/search?q=${encodeURIComponent(q)}&type=people&limit=10`);
          if (mine === seq) rows(data.people);
        } else {
          heading.textContent = "Your followers";
          const data = await get(`/users/${encodeURIComponent(ctx.me.username)}/followers?offset=0&limit=50`);
          if (mine === seq) rows(data.people);
        }
      } catch (err) {
        if (mine === seq) status.textContent = err.message;
      }
    }
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(load, 200); });
    load();
    setTimeout(() => input.focus(), 0);
    return h("div", { class: "dialog-body" },
      h("div", { class: "dialog-head" }, h("h2", null, "Ping someone"),
        h("button", { type: "button", class: "btn btn-icon btn-ghost", "aria-label": "Close", onclick: () => close() }, icon("x"))),
      h("p", { class: "muted small" }, "They get a notification to join this room. You can ping people who follow you; moderators can ping anyone."),
      h("div", { class: "field" }, h("label", { for: "ping-q" }, "Find someone"), input),
      error, heading, list, status);
  });
}

// The hallway: live rooms you may join, kept current by the realtime channel.

import { post } from "./api.js";
import { h, append, replace, icon, avatar, formatCount, plural } from "./dom.js";

export function hallwayView(ctx) {
  const rooms = new Map();
  const list = h("div", { class: "room-grid", "aria-live": "polite", "aria-busy": "true" },
    skeletonCard(), skeletonCard());
  let loaded = false;
  let destroyed = false;

  const startButton = h("button", { type: "button", class: "btn btn-primary" }, icon("plus"), "Start a room");
  startButton.addEventListener("click", () => startRoom(ctx));

  function render() {
    if (!loaded) return;
    list.removeAttribute("aria-busy");
    const live = [...rooms.values()].filter((r) => r.status === "live");
    live.sort((a, b) => (b.stage.length + b.listener_count) - (a.stage.length + a.listener_count)
      || b.created_at - a.created_at);
    if (!live.length) {
      const start = h("button", { type: "button", class: "btn btn-secondary" }, "Start the first one");
      start.addEventListener("click", () => startRoom(ctx));
      replace(list, h("div", { class: "empty card" },
        h("span", { class: "empty-icon", "aria-hidden": "true" }, icon("speaker")),
        h("h2", null, "It's quiet in here"),
        h("p", { class: "muted" }, "No rooms are live right now. Start one and invite people in."),
        start));
      return;
    }
    replace(list, live.map(roomCard));
  }

  function onFrame(e) {
    const frame = e.detail;
    const kind = frame.type === "hallway" ? (frame.event && frame.event.type) || frame.kind : frame.type;
    const payload = frame.type === "hallway" && frame.event ? frame.event : frame;
    if (kind === "room_updated" && payload.room) {
      rooms.set(payload.room.id, payload.room);
      render();
    } else if (kind === "room_removed") {
      rooms.delete(payload.room_id);
      render();
    }
  }

  async function subscribe() {
    try {
      const data = await ctx.rt.send("subscribe_hallway");
      if (destroyed) return;
      rooms.clear();
      for (const room of data.rooms) rooms.set(room.id, room);
      loaded = true;
      render();
    } catch (err) {
      if (!destroyed && ctx.rt.status === "open") ctx.toast(err.message, "error");
    }
  }

  function onHello(e) {
    if (!e.detail.resumed) subscribe(); // a new session forgot the subscription
  }

  ctx.rt.addEventListener("frame", onFrame);
  ctx.rt.addEventListener("hello", onHello);
  subscribe();

  const el = h("section", { class: "page" },
    h("div", { class: "page-head" },
      h("div", null,
        h("h1", null, "Hallway"),
        h("p", { class: "muted" }, "Live rooms you can drop into. Tap one to start listening.")),
      startButton),
    list);

  return {
    el,
    title: "Hallway",
    destroy() {
      destroyed = true;
      ctx.rt.removeEventListener("frame", onFrame);
      ctx.rt.removeEventListener("hello", onHello);
      if (ctx.rt.status === "open") ctx.rt.send("unsubscribe_hallway").catch(() => {});
    },
  };
}

function skeletonCard() {
  return h("div", { class: "room-card skeleton", "aria-hidden": "true" },
    h("span", { class: "sk sk-title" }), h("span", { class: "sk sk-line" }), h("span", { class: "sk sk-avatars" }));
}

function speakerNames(stage) {
  const names = stage.map((m) => m.display_name);
  if (names.length <= 2) return names.join(" and ");
  return `${names.slice(0, 2).join(", ")} and ${plural(names.length - 2, "other", "others")}`;
}

function roomCard(room) {
  const shown = room.stage.slice(0, 4);
  const extra = room.stage.length - shown.length;
  const total = room.stage.length + room.listener_count;
  const label = `${room.title}. On stage: ${speakerNames(room.stage) || "nobody yet"}. ${plural(room.listener_count, "listener", "listeners")}.`;
  return h("a", { href: `/room/${encodeURIComponent(room.id)}`, class: "room-card", "aria-label": label,
    dataset: { roomId: room.id } },
  h("div", { class: "room-card-top" },
    h("span", { class: "live-dot" }, "Live"),
    room.kind === "closed" ? h("span", { class: "badge badge-muted" }, icon("lock"), "Closed") : null),
  h("h2", { class: "room-card-title" }, room.title),
  room.description ? h("p", { class: "room-card-desc" }, room.description) : null,
  h("div", { class: "room-card-stage" },
    h("div", { class: "avatar-stack" }, shown.map((m) => avatar(m, "sm")),
      extra > 0 ? h("span", { class: "avatar avatar-sm avatar-more", "aria-hidden": "true" }, `+${extra}`) : null),
    h("div", { class: "room-card-names" },
      shown.length ? h("span", { class: "names" }, speakerNames(room.stage)) : h("span", { class: "muted" }, "Stage is empty"))),
  h("div", { class: "room-card-meta" },
    h("span", { class: "meta" }, icon("users"), h("span", { class: "listener-count" }, formatCount(room.listener_count)),
      " ", room.listener_count === 1 ? "listener" : "listeners"),
    h("span", { class: "meta muted" }, `${formatCount(total)} in the room`)));
}

function startRoom(ctx) {
  return ctx.dialog("Start a room", (close) => {
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const title = h("input", { id: "room-title", name: "title", class: "input", required: true, maxlength: 100,
      placeholder: "What do you want to talk about?", autocomplete: "off" });
    const form = h("form", { class: "dialog-body form", novalidate: true },
      h("div", { class: "dialog-head" },
        h("h2", null, "Start a room"),
        closeButton(close)),
      h("div", { class: "field" }, h("label", { for: "room-title" }, "Title"), title),
      h("div", { class: "field" }, h("label", { for: "room-desc" }, "Description ", h("span", { class: "muted" }, "(optional)")),
        h("textarea", { id: "room-desc", name: "description", class: "input", rows: 3, maxlength: 500 })),
      h("fieldset", { class: "field kind-choice" },
        h("legend", null, "Who can join"),
        kindOption("open", "Open", "Anyone on this server", true),
        kindOption("closed", "Closed", "Only people you let in", false)),
      error,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn btn-ghost", onclick: () => close() }, "Cancel"),
        h("button", { type: "submit", class: "btn btn-primary" }, "Start room")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(form);
      const body = {
        title: String(data.get("title") || "").trim(),
        description: String(data.get("description") || "").trim(),
        kind: String(data.get("kind") || "open"),
      };
      if (!body.title) {
        error.textContent = "Give your room a title.";
        error.hidden = false;
        title.focus();
        return;
      }
      const submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      try {
        const room = await post("/rooms", body);
        close(room);
        ctx.navigate(`/room/${encodeURIComponent(room.id)}`);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        submit.disabled = false;
      }
    });
    setTimeout(() => title.focus(), 0);
    return form;
  });
}

function kindOption(value, label, hint, checked) {
  const id = `kind-${value}`;
  return h("label", { class: "choice", for: id },
    h("input", { type: "radio", name: "kind", id, value, checked }),
    h("span", { class: "choice-text" }, h("strong", null, label), h("span", { class: "small muted" }, hint)));
}

export function closeButton(close) {
  return h("button", { type: "button", class: "btn btn-icon btn-ghost", "aria-label": "Close", onclick: () => close() },
    icon("x"));
}

export { append };

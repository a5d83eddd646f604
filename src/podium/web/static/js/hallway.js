// The hallway: live rooms you may join, kept current by the realtime channel.

import { get, post } from "./api.js";
import { h, append, replace, icon, avatar, formatCount, plural } from "./dom.js";
import { recBadge, recordOption } from "./recording.js";

export function hallwayView(ctx) {
  const rooms = new Map();
  const list = h("div", { class: "room-grid", "aria-live": "polite", "aria-busy": "true" },
    skeletonCard(), skeletonCard());
  let loaded = false;
  let destroyed = false;
  const SHOWN_STEP = 24;
  let shown = SHOWN_STEP; // "Load more" shows the next page
  let total = 0; // rooms the server has for us (from /rooms when we page past the first batch)
  const more = h("button", { type: "button", class: "btn btn-ghost load-more", hidden: true }, "Load more rooms");
  more.addEventListener("click", loadMore);
  const hint = h("p", { class: "follow-hint", role: "status", hidden: true });

  const startButton = h("button", { type: "button", class: "btn btn-primary" }, icon("plus"), "Start a room");
  startButton.addEventListener("click", () => startRoom(ctx));

  function render() {
    if (!loaded) return;
    list.removeAttribute("aria-busy");
    const live = [...rooms.values()].filter((r) => r.status === "live");
    // As the server ranks: rooms with people you follow on stage first (more first), then size, then newest.
    live.sort((a, b) => followed(b).length - followed(a).length
      || (b.stage.length + b.listener_count) - (a.stage.length + a.listener_count)
      || b.created_at - a.created_at);
    const speakers = new Map();
    for (const r of live) for (const m of r.stage) if (followed(r).includes(m.user_id)) speakers.set(m.user_id, m);
    const speaking = [...speakers.values()];
    hint.hidden = !speaking.length;
    if (speaking.length) {
      replace(hint, icon("mic"), h("span", null, `People you follow are speaking: ${speakerNames(speaking)}`));
    }
    more.hidden = live.length <= shown && rooms.size >= total;
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
    replace(list, live.slice(0, shown).map(roomCard));
  }

  async function loadMore() {
    shown += SHOWN_STEP;
    if (rooms.size < shown && rooms.size < total) {
      more.disabled = true;
      try {
        const data = await get(`/rooms?offset=${rooms.size}&limit=${SHOWN_STEP * 2}`);
        total = data.total;
        for (const room of data.rooms) if (!rooms.has(room.id)) rooms.set(room.id, room);
      } catch (err) {
        ctx.toast(err.message, "error");
      } finally {
        more.disabled = false;
      }
    }
    render();
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
      total = data.rooms.length;
      if (data.rooms.length >= 100) { // the socket sends the first 100: ask how many there are
        get("/rooms?offset=0&limit=1").then((d) => { total = d.total; render(); }).catch(() => {});
      }
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
    hint, list, more);

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

function followed(room) {
  return room.followed_on_stage || [];
}

const KIND_BADGE = {
  social: () => h("span", { class: "badge badge-social" }, icon("users"), "Social"),
  closed: () => h("span", { class: "badge badge-muted" }, icon("lock"), "Closed"),
};

function roomCard(room) {
  const shown = room.stage.slice(0, 4);
  const extra = room.stage.length - shown.length;
  const label = `${room.title}. ${room.recording ? "Being recorded. " : ""}${room.kind === "social" ? "Social room. " : room.kind === "closed" ? "Closed room. " : ""}${followed(room).length ? `${plural(followed(room).length, "person", "people")} you follow on stage. ` : ""}On stage: ${speakerNames(room.stage) || "nobody yet"}. ${plural(room.stage.length, "person", "people")} on stage, ${formatCount(room.listener_count)} listening.`;
  return h("a", { href: `/room/${encodeURIComponent(room.id)}`, class: "room-card", "aria-label": label,
    dataset: { roomId: room.id } },
  h("div", { class: "room-card-top" },
    h("span", { class: "live-dot" }, "Live"),
    room.recording ? recBadge() : null,
    KIND_BADGE[room.kind] ? KIND_BADGE[room.kind]() : h("span", { class: "badge badge-open-kind" }, "Open"),
    followed(room).length ? h("span", { class: "badge badge-open followed-badge" }, icon("star"), `${followed(room).length} you follow`) : null),
  h("h2", { class: "room-card-title" }, room.title),
  room.description ? h("p", { class: "room-card-desc" }, room.description) : null,
  h("div", { class: "room-card-stage" },
    h("div", { class: "avatar-stack" }, shown.map((m) => avatar(m, "sm")),
      extra > 0 ? h("span", { class: "avatar avatar-sm avatar-more", "aria-hidden": "true" }, `+${extra}`) : null),
    h("div", { class: "room-card-names" },
      shown.length ? h("span", { class: "names" }, speakerNames(room.stage)) : h("span", { class: "muted" }, "Stage is empty"))),
  h("div", { class: "room-card-meta" },
    // One count each, never "0 listeners" beside "1 in the room".
    h("span", { class: "meta" }, icon("users"), h("span", { class: "listener-count" }, formatCount(room.listener_count)),
      " listening"),
    h("span", { class: "meta muted" }, icon("mic"), `${formatCount(room.stage.length)} on stage`)));
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
        kindOption("open", "Open", "Anyone on this server can find it and join", true),
        kindOption("social", "Social", "People you follow, and anyone you ping in", false),
        kindOption("closed", "Closed", "Only people you let in or ping", false)),
      recordOption(),
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
      if (data.get("record")) body.record = true;
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

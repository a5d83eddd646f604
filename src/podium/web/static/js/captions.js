// Live captions in a room: the lines as they're recognised, labelled by speaker, and the
// host's on/off switch. Captions arrive as room events:
// {"type":"caption","user_id","name","text","start_ms","end_ms","final":bool}.

import { post } from "./api.js";
import { h, replace, icon } from "./dom.js";
import { hueClass } from "./player.js";
import { both } from "./recording.js";

const KEEP_LINES = 4; // final lines kept on screen; the replay keeps them all
const HIDE_KEY = "podium.hideCaptions";

export function roomCaptions(ctx, roomId, page, tools) {
  // Final lines go into a log (read out once by screen readers); the line still being
  // recognised changes word by word, so it sits outside the log and is hidden from them.
  const log = h("ol", { class: "caption-lines", role: "log", "aria-live": "polite", "aria-label": "Captions" });
  const pending = h("div", { class: "caption-pending", "aria-hidden": "true" });
  const hideButton = h("button", { type: "button", class: "btn btn-ghost btn-sm", onclick: () => setHidden(!hidden) });
  const panel = h("section", { class: "card captions", "aria-labelledby": "captions-h", hidden: true },
    h("div", { class: "captions-head" },
      h("h2", { id: "captions-h", class: "section-title" }, icon("captions"), "Live captions"), hideButton),
    log, pending);
  page.querySelector(".room-head")?.after(panel);
  const toggle = h("button", { type: "button", class: "btn btn-ghost btn-sm captions-toggle", hidden: true, onclick: toggleCaptions });
  tools.append(toggle);
  const interim = new Map(); // user_id -> their line in progress
  let on = false;
  let isHost = false;
  let hidden = localStorage.getItem(HIDE_KEY) === "1";

  function render() {
    panel.hidden = !on;
    log.hidden = hidden;
    pending.hidden = hidden;
    replace(hideButton, hidden ? "Show" : "Hide");
    hideButton.setAttribute("aria-label", hidden ? "Show captions" : "Hide captions");
    toggle.hidden = !isHost;
    replace(toggle, icon("captions"), on ? both("Stop captions", "Captions off") : both("Start captions", "Captions"));
    toggle.setAttribute("aria-label", on ? "Turn live captions off" : "Turn live captions on");
    if (on && !log.children.length && !interim.size) {
      replace(pending, h("span", { class: "muted small" }, "Captions appear here when someone on stage speaks."));
    }
  }

  function setHidden(value) {
    hidden = value;
    try { localStorage.setItem(HIDE_KEY, value ? "1" : "0"); } catch { /* not remembered */ }
    render();
  }

  function setOn(value) {
    if (value === on) return;
    on = value;
    if (!on) { interim.clear(); replace(pending); }
    render();
  }

  function line(c, final) {
    return h(final ? "li" : "p", { class: ["caption", final ? "is-final" : "is-interim", hueClass(c.user_id)], dataset: { userId: c.user_id } },
      h("span", { class: "caption-who" }, c.name || "Speaker"), h("span", { class: "caption-text" }, c.text));
  }

  function onCaption(c) {
    if (!c || typeof c.text !== "string") return;
    if (!on) setOn(true); // a caption means they're on, even if we missed the switch
    if (c.final) {
      interim.delete(c.user_id);
      if (c.text.trim()) log.append(line(c, true));
      while (log.children.length > KEEP_LINES) log.firstChild.remove();
    } else {
      interim.set(c.user_id, c);
    }
    replace(pending, [...interim.values()].map((x) => line(x, false)));
  }

  function onFrame(e) {
    const frame = e.detail;
    if (frame.type === "snapshot" && frame.room && frame.room.room_id === roomId) {
      isHost = frame.room.host_id === ctx.me.id;
      setOn(Boolean(frame.room.captions));
      render();
    } else if (frame.type === "event" && frame.room_id === roomId && frame.event) {
      const event = frame.event;
      if (event.type === "caption") onCaption(event);
      else if (event.type === "captions_changed") setOn(Boolean(event.captions));
      else if (event.type === "room_ended") setOn(false);
    } else if (frame.type === "caption" && frame.room_id === roomId) {
      onCaption(frame);
    }
  }
  ctx.rt.addEventListener("frame", onFrame);

  async function toggleCaptions() {
    toggle.disabled = true;
    try {
      const reply = await post(`/rooms/${encodeURIComponent(roomId)}/captions`, { on: !on });
      setOn(reply && typeof reply.captions === "boolean" ? reply.captions : !on);
    } catch (err) {
      ctx.toast(err.message, "error");
    } finally {
      toggle.disabled = false;
    }
  }

  render();
  return {
    destroy() { ctx.rt.removeEventListener("frame", onFrame); },
  };
}

/** Your consent to captions of what you say on stage (edit profile); null if not offered. */
export function captionsConsent(p) {
  if (typeof p.captions !== "boolean") return null; // the server doesn't do captions, or not your profile
  const box = h("input", { type: "checkbox", id: "edit-captions", name: "captions", class: "switch", role: "switch",
    checked: p.captions, "aria-describedby": "edit-captions-hint" });
  return h("div", { class: "field" },
    h("label", { class: "notify-toggle", for: "edit-captions" }, box, "Caption me when I speak"),
    h("p", { id: "edit-captions-hint", class: "field-hint" },
      "When a host turns on live captions, what you say on stage is transcribed on this server and kept with the room's replay."));
}

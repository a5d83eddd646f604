// Recording in a room: the REC badge, the notice before a recorded room's audio starts, the
// host's start/stop control, "Clip last 30 s", and the replay link once the room ends.

import { get, post } from "./api.js";
import { h, replace, icon } from "./dom.js";

const ACK_KEY = "podium.recordingSeen.";

/** A label in full, or short on narrow screens (as the room's controls). */
export function both(long, short) {
  return [h("span", { class: "label-long" }, long), h("span", { class: "label-short" }, short)];
}

/** The badge shown in a recorded room's header and on its hallway card. */
export function recBadge() {
  return h("span", { class: "rec-badge", title: "This room is being recorded" },
    h("span", { class: "rec-dot", "aria-hidden": "true" }), "REC");
}

/** The "Record this room" choice in the start-a-room dialog (its form field is `record`). */
export function recordOption() {
  return h("label", { class: "choice record-choice", for: "room-record" },
    h("input", { type: "checkbox", id: "room-record", name: "record", value: "1" }),
    h("span", { class: "choice-text" }, h("strong", null, "Record this room"),
      h("span", { class: "small muted" }, "Everyone sees a REC badge. You can stop at any time, trim the start, and choose who hears the replay.")));
}

/** The room page's recording parts. `page` is the room view's element. */
export function roomRecording(ctx, roomId, page, tools) {
  const headTop = page.querySelector(".room-head-top");
  const badge = recBadge();
  badge.hidden = true;
  headTop?.querySelector(".live-dot")?.after(badge);
  const status = h("span", { class: "sr-status offscreen", role: "status" });
  const toggle = h("button", { type: "button", class: "btn btn-ghost btn-sm rec-toggle", hidden: true, onclick: toggleRecording });
  const clip = h("button", { type: "button", class: "btn btn-secondary btn-sm clip-live", hidden: true, onclick: clipLast },
    icon("scissors"), both("Clip last 30 s", "Clip 30 s"));
  const clipped = h("span", { class: "small clip-done", hidden: true });
  tools.append(toggle, clip, clipped, status);
  let recording = false;
  let wasRecorded = false;
  let isHost = false;
  let inRoom = false;
  let noticeClose = null;

  function update(on, announce, reason) {
    const changed = on !== recording;
    recording = on;
    wasRecorded = wasRecorded || on;
    badge.hidden = !on;
    toggle.hidden = !isHost || !inRoom;
    replace(toggle, icon("record", on ? "rec-icon is-on" : "rec-icon"),
      on ? both("Stop recording", "Stop rec") : both("Start recording", "Record"));
    toggle.setAttribute("aria-label", on ? "Stop recording" : "Start recording");
    clip.hidden = !on || !inRoom;
    if (changed && announce) {
      status.textContent = on ? "Recording started" : "Recording stopped";
      // The server stops a recording itself when its disk fills up: the room goes on.
      if (reason === "disk_full") ctx.toast("Recording stopped: the server ran out of space. The room goes on.", "error");
      else if (!isHost) ctx.toast(on ? "The host started recording this room" : "Recording stopped");
    }
  }

  function onFrame(e) {
    const frame = e.detail;
    if (frame.type === "snapshot" && frame.room && frame.room.room_id === roomId) {
      isHost = frame.room.host_id === ctx.me.id;
      inRoom = Boolean(frame.room.me);
      update(Boolean(frame.room.recording), false);
      if (frame.room.status === "ended") afterEnd();
    } else if (frame.type === "event" && frame.room_id === roomId && frame.event) {
      const event = frame.event;
      if (event.type === "recording_changed") update(Boolean(event.recording), true, event.reason);
      else if (event.type === "room_ended") afterEnd();
    }
  }
  ctx.rt.addEventListener("frame", onFrame);

  async function toggleRecording() {
    toggle.disabled = true;
    try {
      const reply = await post(`/rooms/${encodeURIComponent(roomId)}/recording`, { on: !recording });
      update(reply && typeof reply.recording === "boolean" ? reply.recording : !recording, true);
      ctx.toast(recording ? "Recording: everyone sees the REC badge" : "Recording stopped", "success");
    } catch (err) {
      ctx.toast(err.message, "error");
    } finally {
      toggle.disabled = false;
    }
  }

  async function clipLast() {
    clip.disabled = true;
    try {
      const made = await post(`/rooms/${encodeURIComponent(roomId)}/clips`, {});
      const href = made.page_url || `/clips/${encodeURIComponent(made.id)}`;
      // A new tab: following the link here would leave the room.
      replace(clipped, icon("check"), "Clip saved. ", h("a", { href, target: "_blank", rel: "noopener" }, "Open it (new tab)"));
      clipped.hidden = false;
      status.textContent = "Clip saved";
    } catch (err) {
      ctx.toast(err.message, "error");
    } finally {
      clip.disabled = false;
    }
  }

  /** Once the room view shows its "ended" notice, offer the replay there. */
  function afterEnd() {
    if (!wasRecorded) return;
    setTimeout(async () => {
      const notice = page.querySelector(".notice");
      if (!notice || notice.querySelector(".replay-link")) return;
      try {
        const replay = await get(`/rooms/${encodeURIComponent(roomId)}/replay`);
        if (!page.isConnected || notice.querySelector(".replay-link")) return;
        notice.append(h("a", { href: `/replays/${encodeURIComponent(replay.id)}`, class: "btn btn-secondary replay-link" },
          icon("replay"), "Listen to the replay"));
      } catch { /* no replay (deleted, or not for us) */ }
    }, 0);
  }

  return {
    /**
     * Before the audio connects: in a recorded room, say so and wait until it's seen.
     * Resolves false if the person chose to leave instead.
     */
    async beforeAudio(room) {
      if (!room.recording || room.host_id === ctx.me.id || sessionStorage.getItem(ACK_KEY + roomId)) return true;
      const choice = await ctx.dialog("This room is being recorded", (close) => {
        noticeClose = close;
        const go = h("button", { type: "button", class: "btn btn-primary", onclick: () => close("listen") }, icon("speaker"), "Listen");
        setTimeout(() => go.focus(), 0);
        return h("div", { class: "dialog-body invite-prompt rec-notice" },
          h("span", { class: "prompt-icon rec-prompt", "aria-hidden": "true" }, icon("record")),
          h("h2", null, "This room is being recorded"),
          h("p", { class: "muted" }, "The host is recording what's said on stage. Listening isn't recorded; if you join the stage, your voice will be in the replay."),
          h("div", { class: "dialog-actions" },
            h("button", { type: "button", class: "btn btn-ghost", onclick: () => close("leave") }, "Leave"), go));
      }, { className: "dialog-sm" });
      noticeClose = null;
      if (choice === "leave") {
        ctx.navigate("/");
        return false;
      }
      if (choice === "destroyed") return false;
      try { sessionStorage.setItem(ACK_KEY + roomId, "1"); } catch { /* private mode: ask again next time */ }
      return true;
    },
    destroy() {
      ctx.rt.removeEventListener("frame", onFrame);
      if (noticeClose) noticeClose("destroyed");
    },
  };
}

// A room's audio: connecting (and reconnecting) the one peer connection, the microphone
// following your role, muting, and what the audio is doing ("Joining audio…", "Tap to listen").

import { h, replace, icon } from "./dom.js";

const AUDIO_TEXT = {
  connecting: "Joining audio…",
  waiting: "Joining audio… many people are arriving",
  failed: "Audio lost — reconnecting…",
};
const WAITING_AFTER_MS = 3000;
const RETRY_AFTER_MS = 1000;
// A join storm is admitted in turn: wait for the answer longer than for other commands.
const OFFER_TIMEOUT_MS = 90000;

export function roomMedia(session, { beforeAudio = async () => true } = {}) {
  const { ctx, rt, media } = session;
  let started = false;
  let waitingTimer = null;

  // What the audio connection is doing: a storm of arrivals is admitted in turn, so
  // "joining" can last a few seconds; silence must never look like a quiet room.
  const statusEl = h("span", { class: "audio-state", role: "status", "aria-live": "polite" });
  const gateEl = h("div", { class: "listen-gate", hidden: true });

  function showAudio(state) {
    clearTimeout(waitingTimer);
    const text = AUDIO_TEXT[state];
    statusEl.textContent = text || "";
    statusEl.hidden = !text;
    statusEl.className = `audio-state is-${state}`;
    // The server admits audio connections in turn: say why it takes a while.
    if (state === "connecting") waitingTimer = setTimeout(() => showAudio("waiting"), WAITING_AFTER_MS);
  }

  const gone = () => session.left || session.destroyed;

  function onMediaState(e) {
    showAudio(e.detail);
    if (e.detail === "failed" && !gone() && session.room && session.room.status === "live") {
      setTimeout(() => { if (!gone() && rt.status === "open") connectAudio(); }, RETRY_AFTER_MS);
    }
  }

  function onAutoplay(e) {
    gateEl.hidden = !e.detail;
    if (e.detail) {
      const tap = h("button", { type: "button", class: "btn btn-primary btn-lg" }, icon("speaker"), "Tap to listen");
      tap.addEventListener("click", () => media.play());
      replace(gateEl, h("p", null, "Your browser paused the sound until you tap."), tap);
    }
  }

  function onHello(e) {
    const { sameSession, reconnect } = e.detail;
    if (!reconnect || gone()) return;
    // A new session may be another node (the one we were on is gone, and our audio with it).
    if (started && (!sameSession || media.state === "failed" || media.state === "closed")) {
      connectAudio();
    }
  }

  // After the session's own "hello" listener, so a rejoin is sent before the new offer.
  rt.addEventListener("hello", onHello);
  media.addEventListener("state", onMediaState);
  media.addEventListener("autoplay", onAutoplay);
  showAudio(media.state);

  async function start(room) {
    started = true;
    if (!(await beforeAudio(room)) || session.left) return; // a recorded room says so first
    if (room.me && room.me.role !== "listener") {
      try {
        await media.startMic();
        media.setMuted(room.me.muted);
      } catch (err) {
        ctx.toast(micMessage(err), "error");
      }
    }
    connectAudio();
  }

  async function connectAudio() {
    try {
      await media.connect((sdp) => rt.send("rtc_offer", { sdp }, OFFER_TIMEOUT_MS));
    } catch (err) {
      if (!gone()) ctx.toast(`Audio could not connect: ${err.message}`, "error");
    }
  }

  /** The microphone follows your role; say what changed. */
  async function syncRole(me, before) {
    const wasOnStage = before && before.role !== "listener";
    const onStage = me.role !== "listener";
    if (onStage && !wasOnStage && before) {
      if (!media.mic) {
        try { await media.startMic(); } catch (err) { ctx.toast(micMessage(err), "error"); }
      }
      ctx.toast(me.role === "moderator" ? "You're a moderator now" : "You're on stage", "success");
    } else if (!onStage && wasOnStage) {
      await media.stopMic();
      ctx.toast("You're back in the audience");
    } else if (before && before.role === "speaker" && me.role === "moderator") {
      ctx.toast("You're a moderator now", "success");
    }
    media.setMuted(me.muted);
    if (before && !before.muted && me.muted && onStage) ctx.toast("You're muted");
  }

  return {
    statusEl,
    gateEl,

    snapshot(room) {
      if (!started && room.me && room.status === "live") start(room);
    },

    render(room, before) {
      syncRole(room.me, before);
    },

    /** Mute or unmute yourself: at once locally; the server confirms with mute_changed. */
    async toggleMute() {
      const muted = !session.room.me.muted;
      media.setMuted(muted);
      const ok = await session.command("set_muted", { muted });
      if (ok === null && session.room && session.room.me) media.setMuted(session.room.me.muted);
    },

    /** Hang up; audio starts again only with the next live snapshot. */
    close() {
      started = false;
      return media.close();
    },

    destroy() {
      clearTimeout(waitingTimer);
      rt.removeEventListener("hello", onHello);
      media.removeEventListener("state", onMediaState);
      media.removeEventListener("autoplay", onAutoplay);
    },
  };
}

/** What to tell someone whose microphone did not start. */
export function micMessage(err) {
  if (err && (err.name === "NotAllowedError" || err.name === "SecurityError")) {
    return "Microphone access was blocked. Allow it in your browser to speak.";
  }
  if (err && err.name === "NotFoundError") return "No microphone was found.";
  return `The microphone could not start${err && err.message ? `: ${err.message}` : "."}`;
}

// The audio player shared by replays and clips: play/pause, a seek slider, speeds, and the
// timeline of who spoke when. Times are ms from the recording's start; `offset` is where the
// audio file's time 0 sits on that scale (a clip starts mid-recording).

import { h, replace, icon } from "./dom.js";

const SPEEDS = [1, 1.5, 2];
export const HUE_COUNT = 12; // as avatar(): a speaker's colour matches their picture's

/** 75_000 -> "1:15"; 3_723_000 -> "1:02:03". */
export function formatTime(ms) {
  const total = Math.max(0, Math.floor((Number(ms) || 0) / 1000));
  const s = total % 60;
  const m = Math.floor(total / 60) % 60;
  const hours = Math.floor(total / 3600);
  const pad = (n) => String(n).padStart(2, "0");
  return hours ? `${hours}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** "1:15", "75", "1:02:03" -> ms; NaN if not a time. */
export function parseClock(text) {
  const parts = String(text).trim().split(":");
  if (!parts.length || parts.length > 3 || parts.some((p) => !/^\d+(\.\d+)?$/.test(p))) return NaN;
  return Math.round(parts.reduce((acc, p) => acc * 60 + Number(p), 0) * 1000);
}

export function hueClass(userId) {
  return `hue-${Number(userId || 0) % HUE_COUNT}`;
}

/**
 * Speaking segments merged into turns: consecutive segments by the same person are one turn,
 * so "next speaker" moves to someone else rather than to the same voice after a breath.
 */
export function turns(timeline) {
  const sorted = [...(timeline || [])].sort((a, b) => a.start_ms - b.start_ms);
  const out = [];
  for (const seg of sorted) {
    const last = out[out.length - 1];
    if (last && last.user_id === seg.user_id) last.end_ms = Math.max(last.end_ms, seg.end_ms);
    else out.push({ ...seg });
  }
  return out;
}

const NEAR_MS = 250; // a seek lands a little past a turn's start: that still counts as "at" it

/** The start of the first turn after `ms` (by someone else), or null. */
export function nextTurnStart(list, ms) {
  const current = turnIndexAt(list, ms);
  for (let i = current + 1; i < list.length; i++) {
    if (list[i].start_ms > ms + NEAR_MS) return list[i].start_ms;
  }
  return null;
}

/** Back to the start of this turn, or to the one before when already near its start. */
export function previousTurnStart(list, ms) {
  const current = turnIndexAt(list, ms);
  if (current < 0) return null;
  if (ms - list[current].start_ms > 2000) return list[current].start_ms;
  return current > 0 ? list[current - 1].start_ms : list[current].start_ms;
}

/** The index of the last turn started at or before `ms` (within NEAR_MS), or -1. */
function turnIndexAt(list, ms) {
  let found = -1;
  for (let i = 0; i < list.length && list[i].start_ms <= ms + NEAR_MS; i++) found = i;
  return found;
}

/**
 * The transport: play/pause, seek slider (keyboard accessible), elapsed/total, speed.
 * `range()` gives {from, to} in recording ms; `audio` plays file time (recording ms - offset).
 */
export function transport(audio, { offset = 0, range, label = "Position" }) {
  const play = h("button", { type: "button", class: "btn btn-primary btn-icon play-btn", "aria-label": "Play" });
  const slider = h("input", { type: "range", class: "seek", min: 0, max: 1000, step: 1, value: 0, "aria-label": label });
  const elapsed = h("span", { class: "mono small time-now" }, "0:00");
  const total = h("span", { class: "mono small muted time-total" }, "0:00");
  const speeds = h("div", { class: "speeds", role: "group", "aria-label": "Playback speed" });
  let dragging = false;

  const now = () => audio.currentTime * 1000 + offset;
  function seek(ms) {
    const { from, to } = range();
    const clamped = Math.min(Math.max(ms, from), Math.max(from, to));
    audio.currentTime = (clamped - offset) / 1000;
    update();
  }
  function update() {
    const { from, to } = range();
    const span = Math.max(1, to - from);
    if (!dragging) slider.value = String(Math.round(((now() - from) / span) * 1000));
    slider.setAttribute("aria-valuetext", `${formatTime(now() - from)} of ${formatTime(span)}`);
    elapsed.textContent = formatTime(now() - from);
    total.textContent = formatTime(span);
    const playing = !audio.paused && !audio.ended;
    replace(play, icon(playing ? "pause" : "play"));
    play.setAttribute("aria-label", playing ? "Pause" : "Play");
  }
  function renderSpeeds() {
    replace(speeds, SPEEDS.map((rate) => h("button", {
      type: "button", class: ["speed", audio.playbackRate === rate && "is-active"],
      "aria-pressed": String(audio.playbackRate === rate), "aria-label": `Speed ${rate}×`,
      onclick: () => { audio.playbackRate = rate; audio.defaultPlaybackRate = rate; renderSpeeds(); },
    }, `${rate}×`)));
  }

  play.addEventListener("click", () => {
    if (audio.paused || audio.ended) {
      if (now() < range().from || now() >= range().to) seek(range().from);
      audio.play().catch(() => {});
    } else audio.pause();
  });
  slider.addEventListener("input", () => {
    dragging = true;
    const { from, to } = range();
    elapsed.textContent = formatTime((Number(slider.value) / 1000) * (to - from));
  });
  slider.addEventListener("change", () => {
    dragging = false;
    const { from, to } = range();
    seek(from + (Number(slider.value) / 1000) * (to - from));
  });
  for (const type of ["timeupdate", "play", "pause", "ended", "loadedmetadata", "durationchange", "seeked"]) {
    audio.addEventListener(type, update);
  }
  // Don't play past the end of the range (a clip's, or the recording's).
  audio.addEventListener("timeupdate", () => { if (now() >= range().to && !audio.paused) audio.pause(); });
  renderSpeeds();
  update();

  const el = h("div", { class: "transport" }, play,
    h("div", { class: "seek-wrap" }, slider, h("div", { class: "times" }, elapsed, total)), speeds);
  return { el, seek, update, now };
}

/**
 * Who spoke when: one lane per speaker, a coloured block per turn. Blocks are for the mouse;
 * keyboard users have the slider and the next/previous speaker buttons (so they're not tab stops).
 */
export function speakerTimeline(timeline, speakers, { range, onSeek }) {
  const lanes = new Map();
  for (const seg of timeline || []) {
    if (!lanes.has(seg.user_id)) lanes.set(seg.user_id, { name: seg.name, segs: [] });
    lanes.get(seg.user_id).segs.push(seg);
  }
  const byId = new Map((speakers || []).map((s) => [s.id ?? s.user_id, s]));
  const head = h("div", { class: "tl-head" });
  const rows = h("div", { class: "tl-lanes" });
  const el = h("div", { class: "timeline", role: "group", "aria-label": "Who spoke when" },
    rows, h("div", { class: "tl-overlay", "aria-hidden": "true" }, head));

  function render() {
    const { from, to } = range();
    const span = Math.max(1, to - from);
    const pct = (ms) => (Math.min(Math.max(ms - from, 0), span) / span) * 100;
    replace(rows, [...lanes].map(([userId, lane]) => {
      const who = byId.get(userId);
      const name = (who && who.display_name) || lane.name || "Someone";
      const total = lane.segs.reduce((sum, s) => sum + Math.max(0, Math.min(s.end_ms, to) - Math.max(s.start_ms, from)), 0);
      return h("div", { class: ["tl-lane", hueClass(userId)], dataset: { userId } },
        h("span", { class: "tl-name", title: name }, name, h("span", { class: "offscreen" }, `, spoke for ${formatTime(total)}`)),
        h("div", { class: "tl-track" }, lane.segs.filter((s) => s.end_ms > from && s.start_ms < to).map((s) => {
          const seg = h("button", {
            type: "button", class: "tl-seg", tabindex: "-1", "aria-hidden": "true",
            title: `${name}, ${formatTime(s.start_ms - from)}–${formatTime(s.end_ms - from)}`,
            dataset: { start: s.start_ms }, onclick: () => onSeek(Math.max(s.start_ms, from)),
          });
          // Through the CSSOM: the page's CSP forbids style attributes.
          seg.style.left = `${pct(s.start_ms)}%`;
          seg.style.width = `max(3px, ${pct(s.end_ms) - pct(s.start_ms)}%)`;
          return seg;
        })));
    }));
    if (!lanes.size) replace(rows, h("p", { class: "muted small" }, "Nobody spoke in this recording."));
  }
  return {
    el,
    render,
    /** Move the playhead (recording ms). */
    at(ms) {
      const { from, to } = range();
      head.style.left = `${(Math.min(Math.max(ms - from, 0), Math.max(1, to - from)) / Math.max(1, to - from)) * 100}%`;
    },
  };
}

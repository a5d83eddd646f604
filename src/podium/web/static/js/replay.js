// A replay (/replays/{id}): the player, who spoke when, chapters, the transcript beside it,
// clips from a range, and the host's controls (trim, who may listen, delete).

import { get, post } from "./api.js";
import { h, replace, icon, avatar } from "./dom.js";
import { profileHref } from "./follow.js";
import { parseVtt, cueAt } from "./vtt.js";
import { formatTime, parseClock, transport, speakerTimeline, turns, nextTurnStart, previousTurnStart } from "./player.js";
import { replayHostControls } from "./replay_host.js";
import { recBadge } from "./recording.js";

const CLIP_MAX_MS = 60_000;
const USER_SCROLL_QUIET_MS = 5000; // after the reader scrolls the transcript, leave it alone this long

export function replayView(ctx, replayId) {
  const body = h("div", { class: "replay-body" }, h("p", { class: "muted" }, "Loading…"));
  const el = h("section", { class: "page replay-page" }, body);
  let destroyed = false;
  let audio = null;

  async function load() {
    try {
      const replay = await get(`/replays/${encodeURIComponent(replayId)}`);
      if (!destroyed) render(replay);
    } catch (err) {
      if (destroyed) return;
      const title = err.status === 404 ? "Replay not found" : err.status === 403 ? "This replay is private" : "Can't open this replay";
      replace(body, h("div", { class: "card notice" }, h("h1", null, title),
        h("p", { class: "muted" }, err.message), h("a", { href: "/", class: "btn btn-primary" }, "Back to the hallway")));
    }
  }

  function render(replay, resumeAt = Number(new URLSearchParams(location.search).get("t"))) {
    document.title = `${replay.title} · Replay · Podium`;
    const isHost = Boolean(replay.host && ctx.me && replay.host.id === ctx.me.id);
    const startAt = resumeAt;
    if (audio) stopAudio();
    audio = h("audio", { preload: "metadata", src: replay.audio_url, class: "replay-audio" });
    // The recording's own length, or the file's while it is still being written.
    const range = () => {
      const fileMs = Number.isFinite(audio.duration) ? audio.duration * 1000 : 0;
      const to = replay.duration_ms > 0 ? replay.duration_ms : fileMs;
      return { from: Math.min(replay.trim_start_ms || 0, to), to };
    };
    // Names as the accounts have them now (the timeline keeps what the room called them).
    const names = new Map((replay.speakers || []).map((s) => [s.id, s.display_name]));
    const speakerTurns = turns(replay.timeline).map((t) => ({ ...t, name: names.get(t.user_id) || t.name }));
    // The server serves the audio from the trimmed start: the file's 0 is trim_start_ms.
    const player = transport(audio, { offset: replay.trim_start_ms || 0, range, label: "Position in the replay" });
    const timeline = speakerTimeline(replay.timeline, replay.speakers, { range, onSeek: (ms) => player.seek(ms) });
    const nowSpeaking = h("p", { class: "now-speaking small", "aria-live": "polite" });
    const prev = h("button", { type: "button", class: "btn btn-ghost btn-sm", onclick: () => skip(-1) },
      icon("skipBack"), "Previous speaker");
    const next = h("button", { type: "button", class: "btn btn-ghost btn-sm", onclick: () => skip(1) },
      "Next speaker", icon("skipForward"));
    const download = h("a", { class: "btn btn-ghost btn-sm", href: withDownload(replay.audio_url), download: "" },
      icon("download"), "Download");
    const transcript = transcriptPanel(replay, (ms) => { player.seek(ms); audio.play().catch(() => {}); });
    const chapters = chapterList(replay, range, (ms) => player.seek(ms));

    function skip(direction) {
      const now = player.now();
      const to = direction > 0 ? nextTurnStart(speakerTurns, now) : previousTurnStart(speakerTurns, now);
      if (to === null) return ctx.toast(direction > 0 ? "Nobody speaks after this" : "Nobody spoke before this");
      player.seek(to);
    }

    function tick() {
      const now = player.now();
      timeline.at(now);
      transcript.at(now);
      chapters.at(now);
      const turn = speakerTurns.find((t) => t.start_ms <= now && now < t.end_ms);
      const text = turn ? `Speaking: ${turn.name}` : "";
      if (nowSpeaking.textContent !== text) nowSpeaking.textContent = text;
      prev.disabled = previousTurnStart(speakerTurns, now) === null;
      next.disabled = nextTurnStart(speakerTurns, now) === null;
    }
    for (const type of ["timeupdate", "seeked", "seeking", "loadedmetadata", "durationchange"]) audio.addEventListener(type, tick);
    audio.addEventListener("loadedmetadata", () => {
      timeline.render();
      const wanted = Number.isFinite(startAt) && startAt > 0 ? startAt : range().from;
      if (player.now() < range().from || wanted !== range().from) player.seek(wanted);
      tick();
    }, { once: true });
    audio.addEventListener("error", () => {
      replace(nowSpeaking, h("span", { class: "danger-text" }, "The audio could not be loaded."));
    });

    const head = h("div", { class: "card replay-head" },
      h("div", { class: "replay-kicker" },
        h("span", { class: "badge badge-open" }, icon("replay"), "Replay"),
        replay.recording || !replay.ended_at ? recBadge() : null,
        h("span", { class: "small muted" }, whenText(replay))),
      h("h1", { class: "replay-title", tabindex: "-1" }, replay.title),
      h("p", { class: "small muted replay-host" }, "Hosted by ",
        personLink(replay.host)),
      replay.speakers && replay.speakers.length
        ? h("ul", { class: "speaker-chips", "aria-label": "Speakers" }, replay.speakers.map((s) =>
          h("li", null, speakerChip(s))))
        : null);
    const playerCard = h("section", { class: "card replay-player", "aria-label": "Player" },
      audio, player.el,
      h("div", { class: "skip-row" }, prev, nowSpeaking, next),
      timeline.el,
      h("div", { class: "player-foot" }, download));
    const main = h("div", { class: "replay-main" }, head, playerCard, chapters.el,
      clipMaker(ctx, replay, player, range, audio), isHost ? replayHostControls(ctx, replay, player, range, (next) => render(next, player.now())) : null);
    replace(body, main, transcript.el);
    timeline.render();
    tick();
  }

  function stopAudio() {
    audio.pause();
    audio.removeAttribute("src");
    audio.load(); // lets go of the connection
  }

  load();
  return {
    el,
    title: "Replay",
    focus: () => el.querySelector("h1")?.focus({ preventScroll: true }),
    destroy() {
      destroyed = true;
      if (audio) stopAudio();
    },
  };
}

/** A link to someone's profile (a deleted account has no username: just the name). */
export function personLink(p) {
  if (!p) return "someone";
  return p.username ? h("a", { href: profileHref(p.username) }, p.display_name) : p.display_name;
}

export function speakerChip(p) {
  const inner = [avatar(p, "sm"), p.display_name];
  return p.username ? h("a", { href: profileHref(p.username), class: "speaker-chip" }, inner) : h("span", { class: "speaker-chip" }, inner);
}

/** An ISO 8601 time (as the replay API gives) in epoch seconds, as timeAgo() takes. */
export function epochSeconds(iso) {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms / 1000 : 0;
}

export function withDownload(url) {
  return `${url}${url.includes("?") ? "&" : "?"}download=1`;
}

function whenText(replay) {
  const parts = [];
  if (replay.started_at) {
    parts.push(new Date(replay.started_at).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }));
  }
  if (replay.duration_ms) parts.push(formatTime(replay.duration_ms - (replay.trim_start_ms || 0)));
  return parts.join(" · ");
}

/** The transcript beside the player: the current line highlighted and kept in view. */
function transcriptPanel(replay, onSeek) {
  const list = h("ol", { class: "cues", "aria-label": "Transcript lines" });
  const status = h("p", { class: "muted small" }, replay.transcript_url ? "Loading the transcript…" : "No transcript for this replay.");
  const scroller = h("div", { class: "cue-scroll", tabindex: "0", "aria-label": "Transcript, scrollable" }, status, list);
  const el = h("aside", { class: "card replay-side", "aria-labelledby": "transcript-h" },
    h("h2", { id: "transcript-h", class: "section-title" }, "Transcript"), scroller);
  let cues = [];
  let current = -1;
  let userScrolledAt = 0;
  const from = replay.trim_start_ms || 0;
  for (const type of ["wheel", "touchmove", "keydown"]) {
    scroller.addEventListener(type, () => { userScrolledAt = Date.now(); }, { passive: true });
  }

  if (replay.transcript_url) {
    fetch(replay.transcript_url, { credentials: "same-origin", headers: { Accept: "text/vtt" } })
      .then((r) => (r.ok ? r.text() : Promise.reject(new Error(`The server answered ${r.status}.`))))
      .then((text) => {
        cues = parseVtt(text).filter((c) => c.end > from);
        status.textContent = cues.length ? "" : "Nobody said anything the captions caught.";
        status.hidden = Boolean(cues.length);
        replace(list, cues.map((cue, i) => h("li", { class: "cue", dataset: { index: i, start: cue.start, end: cue.end } },
          h("button", { type: "button", class: "cue-btn", onclick: () => onSeek(Math.max(cue.start, from)) },
            h("span", { class: "cue-meta" }, h("span", { class: "mono" }, formatTime(cue.start - from)),
              cue.speaker ? h("span", { class: "cue-speaker" }, cue.speaker) : null),
            h("span", { class: "cue-text" }, cue.text)))));
        current = -1;
      })
      .catch((err) => { status.textContent = `The transcript could not be loaded: ${err.message}`; });
  }

  return {
    el,
    at(ms) {
      const index = cueAt(cues, ms);
      if (index === current) return;
      const old = list.children[current];
      if (old) { old.classList.remove("is-current"); old.removeAttribute("aria-current"); }
      current = index;
      const line = list.children[index];
      if (!line) return;
      line.classList.add("is-current");
      line.setAttribute("aria-current", "true");
      if (Date.now() - userScrolledAt > USER_SCROLL_QUIET_MS) {
        // Scroll the panel only, never the page.
        const top = line.offsetTop - scroller.offsetTop - scroller.clientHeight / 3;
        scroller.scrollTo({ top: Math.max(0, top), behavior: "smooth" });
      }
    },
  };
}

/** Chapters (the stage changes): click one to go there. */
function chapterList(replay, range, onSeek) {
  const { from } = range();
  const all = [...(replay.chapters || [])].sort((a, b) => a.start_ms - b.start_ms);
  // A chapter that began before the trimmed start still holds the first part of what's left.
  const shown = all.filter((c, i) => !all[i + 1] || all[i + 1].start_ms > from);
  const list = h("ol", { class: "chapters" }, shown.map((c) => h("li", null,
    h("button", { type: "button", class: "chapter", dataset: { start: c.start_ms }, onclick: () => onSeek(Math.max(c.start_ms, from)) },
      h("span", { class: "mono small muted" }, formatTime(Math.max(c.start_ms, from) - from)), h("span", null, c.title)))));
  const el = h("section", { class: "card section", "aria-labelledby": "chapters-h", hidden: !shown.length },
    h("h2", { id: "chapters-h", class: "section-title" }, "Chapters", h("span", { class: "section-count" }, String(shown.length))), list);
  let current = null;
  return {
    el,
    at(ms) {
      let found = null;
      for (const b of list.querySelectorAll(".chapter")) if (Number(b.dataset.start) <= ms || found === null) found = b;
      if (found === current) return;
      if (current) current.removeAttribute("aria-current");
      current = found;
      if (current) current.setAttribute("aria-current", "true");
    },
  };
}

/** "Make a clip": a range of at most a minute, from the current position. */
function clipMaker(ctx, replay, player, range, audio) {
  // Until the listener sets the times, they follow where the player goes: start here, 30 s on.
  let touched = false;
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const start = h("input", { id: "clip-start", class: "input mono clock", inputmode: "numeric", value: "0:00", "aria-describedby": "clip-hint" });
  const end = h("input", { id: "clip-end", class: "input mono clock", inputmode: "numeric", value: "0:30", "aria-describedby": "clip-hint" });
  const title = h("input", { id: "clip-title", class: "input", maxlength: 100, placeholder: "What's in it?", autocomplete: "off" });
  const rel = (ms) => formatTime(ms - range().from);
  const setFromNow = (input, add = 0) => { input.value = rel(Math.min(player.now() + add, range().to)); };
  for (const input of [start, end]) input.addEventListener("input", () => { touched = true; });
  audio.addEventListener("seeked", () => { if (!touched) { setFromNow(start); setFromNow(end, 30_000); } });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, icon("scissors"), "Make the clip");
  const form = h("form", { class: "clip-form", novalidate: true },
    h("div", { class: "field-row clip-times" },
      h("div", { class: "field" }, h("label", { for: "clip-start" }, "Start"),
        h("div", { class: "clock-row" }, start, h("button", { type: "button", class: "btn btn-ghost btn-sm", "aria-label": "Set the start to the current position",
          onclick: () => { touched = true; setFromNow(start); setFromNow(end, 30_000); } }, "Now"))),
      h("div", { class: "field" }, h("label", { for: "clip-end" }, "End"),
        h("div", { class: "clock-row" }, end, h("button", { type: "button", class: "btn btn-ghost btn-sm", "aria-label": "Set the end to the current position",
          onclick: () => { touched = true; setFromNow(end); } }, "Now")))),
    h("p", { id: "clip-hint", class: "field-hint" }, "Times from the start of the replay, as m:ss. A clip is at most a minute long."),
    h("div", { class: "field" }, h("label", { for: "clip-title" }, "Title ", h("span", { class: "muted" }, "(optional)")), title),
    error, h("div", { class: "dialog-actions" }, submit));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const from = range().from;
    const a = parseClock(start.value) + from;
    const b = parseClock(end.value) + from;
    const problem = !Number.isFinite(a) || !Number.isFinite(b) ? "Write the times as m:ss, for example 1:05."
      : b <= a ? "The end must come after the start."
        : b - a > CLIP_MAX_MS ? "A clip is at most a minute long."
          : b > range().to + 500 ? `The replay ends at ${rel(range().to)}.` : "";
    error.textContent = problem;
    error.hidden = !problem;
    if (problem) return;
    submit.disabled = true;
    try {
      const body = { start_ms: a, end_ms: Math.min(b, range().to) };
      if (title.value.trim()) body.title = title.value.trim();
      const clip = await post(`/replays/${encodeURIComponent(replay.id)}/clips`, body);
      ctx.toast("Clip made", "success");
      ctx.navigate(clip.page_url || `/clips/${encodeURIComponent(clip.id)}`);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  return h("section", { class: "card section", "aria-labelledby": "clip-h" },
    h("h2", { id: "clip-h", class: "section-title" }, icon("scissors"), "Make a clip"), form);
}

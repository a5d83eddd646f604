// WebVTT transcripts: parsed here (the browser's <track> API hides the `<v Speaker>` voice tag).

const TIME = /^(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})$/;

/** "01:02.500" or "1:01:02.500" as milliseconds; NaN when it isn't a timestamp. */
export function parseTime(text) {
  const m = TIME.exec(text.trim());
  if (!m) return NaN;
  return ((Number(m[1] || 0) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]);
}

const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&nbsp;": "\u00a0", "&lrm;": "\u200e", "&rlm;": "\u200f" };

/** A cue's payload as plain text: tags dropped, entities decoded (never parsed as HTML). */
function plain(text) {
  return text.replace(/<[^>]*>/g, "").replace(/&(?:amp|lt|gt|nbsp|lrm|rlm);/g, (e) => ENTITIES[e]).trim();
}

/**
 * Cues in time order: [{start, end, speaker, text}] with times in ms. A cue whose payload starts
 * with `<v Name>` is labelled by that speaker (a class, as in `<v.loud Name>`, is allowed).
 * Malformed blocks are skipped rather than failing the whole transcript.
 */
export function parseVtt(source) {
  const text = String(source || "").replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  if (!/^WEBVTT(?:[ \t\n]|$)/.test(text)) return [];
  const cues = [];
  for (const block of text.split(/\n{2,}/).slice(1)) {
    const lines = block.split("\n").filter((line) => line.length);
    const at = lines.findIndex((line) => line.includes("-->"));
    if (at < 0 || /^(NOTE|STYLE|REGION)\b/.test(lines[0])) continue;
    const [from, rest] = lines[at].split("-->");
    const start = parseTime(from);
    const end = parseTime(rest.trim().split(/[ \t]/)[0]);
    if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) continue;
    const payload = lines.slice(at + 1).join("\n");
    const voice = /^\s*<v(?:\.[^ \t>]*)?[ \t]+([^>]*)>/.exec(payload);
    const words = plain(payload);
    if (!words) continue;
    cues.push({ start, end, speaker: voice ? plain(voice[1]) : "", text: words });
  }
  cues.sort((a, b) => a.start - b.start || a.end - b.end);
  return cues;
}

/** The index of the cue playing at `ms` (the latest one started), or -1. */
export function cueAt(cues, ms) {
  let found = -1;
  for (let i = 0; i < cues.length && cues[i].start <= ms; i++) {
    if (cues[i].end > ms) found = i;
  }
  return found;
}

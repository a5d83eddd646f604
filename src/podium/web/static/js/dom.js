// Building DOM safely: every string becomes a text node (textContent), never HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * h("button", {class: "btn", onclick: fn, "aria-label": "Mute"}, "text", childNode, [more])
 * Attributes: `class`, `dataset` (object), `on*` (listeners), booleans (set when true),
 * anything else through setAttribute. Children: strings/numbers (text), nodes, arrays, null.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

function applyAttrs(el, attrs) {
  if (!attrs) return;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
}

export function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

// Icons: 24x24 stroke paths (drawn with createElementNS; no markup strings).
const ICONS = {
  mic: ["M12 3a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3z", "M19 11a7 7 0 0 1-14 0", "M12 18v3"],
  micOff: ["M15 9.3V6a3 3 0 0 0-5.7-1.3", "M9 9v3a3 3 0 0 0 5.1 2.1", "M19 11a7 7 0 0 1-1.2 3.9",
    "M5 11a7 7 0 0 0 11 5.7", "M12 18v3", "M3 3l18 18"],
  hand: ["M8 13V5.5a1.5 1.5 0 0 1 3 0V12", "M11 11.5v-8a1.5 1.5 0 0 1 3 0V12",
    "M14 11.5V5.5a1.5 1.5 0 0 1 3 0V13", "M17 9.5a1.5 1.5 0 0 1 3 0V15a7 7 0 0 1-7 7h-1a7 7 0 0 1-5.6-2.8L3.5 15.4a1.6 1.6 0 0 1 2.5-2L8 15"],
  leave: ["M15 4h3a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-3", "M10 17l-5-5 5-5", "M5 12h11"],
  link: ["M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1", "M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"],
  plus: ["M12 5v14", "M5 12h14"],
  star: ["M12 3l2.6 5.6 6 .7-4.5 4.1 1.2 6-5.3-3-5.3 3 1.2-6L3.4 9.3l6-.7z"],
  users: ["M16 21v-2a4 4 0 0 0-4-4H6a4 4 0 0 0-4 4v2", "M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z",
    "M22 21v-2a4 4 0 0 0-3-3.9", "M16 3.1a4 4 0 0 1 0 7.8"],
  power: ["M12 3v9", "M18.4 6.6a9 9 0 1 1-12.8 0"],
  x: ["M6 6l12 12", "M18 6L6 18"],
  copy: ["M9 9h10a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H9a1 1 0 0 1-1-1V10a1 1 0 0 1 1-1z", "M5 15H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1h10a1 1 0 0 1 1 1v1"],
  speaker: ["M11 5L6 9H3v6h3l5 4z", "M15.5 8.5a5 5 0 0 1 0 7", "M18.5 5.5a9 9 0 0 1 0 13"],
  lock: ["M6 11h12v10H6z", "M8 11V7a4 4 0 0 1 8 0v4"],
  ticket: ["M3 8a2 2 0 0 0 2-2h14a2 2 0 0 0 2 2v2a2 2 0 0 0 0 4v2a2 2 0 0 0-2 2H5a2 2 0 0 0-2-2v-2a2 2 0 0 0 0-4z", "M13 6v2", "M13 11v2", "M13 16v2"],
  more: ["M5 12h.01", "M12 12h.01", "M19 12h.01"],
  arrowDown: ["M12 5v14", "M19 12l-7 7-7-7"],
  bell: ["M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9", "M10.3 21a1.94 1.94 0 0 0 3.4 0"],
  search: ["M11 19a8 8 0 1 0 0-16 8 8 0 0 0 0 16z", "M21 21l-4.3-4.3"],
  calendar: ["M5 5h14a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2z", "M16 3v4", "M8 3v4", "M3 11h18"],
  send: ["M22 2L11 13", "M22 2l-7 20-4-9-9-4z"],
  download: ["M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4", "M7 10l5 5 5-5", "M12 15V3"],
  edit: ["M12 20h9", "M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4z"],
  check: ["M20 6L9 17l-5-5"],
  userPlus: ["M16 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2", "M8.5 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z", "M20 8v6", "M23 11h-6"],
  play: ["M7 4.5v15l12-7.5z"],
  pause: ["M8 5v14", "M16 5v14"],
  skipBack: ["M19 5L9 12l10 7z", "M5 5v14"],
  skipForward: ["M5 5l10 7-10 7z", "M19 5v14"],
  scissors: ["M6 9a3 3 0 1 0 0-6 3 3 0 0 0 0 6z", "M6 21a3 3 0 1 0 0-6 3 3 0 0 0 0 6z", "M20 4L8.1 15.9", "M14.5 14.5L20 20", "M8.1 8.1L12 12"],
  trash: ["M3 6h18", "M8 6V4h8v2", "M19 6l-1 14a2 2 0 0 1-2 2H8a2 2 0 0 1-2-2L5 6", "M10 11v6", "M14 11v6"],
  record: ["M12 18a6 6 0 1 0 0-12 6 6 0 0 0 0 12z"],
  captions: ["M4 5h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2z", "M10 10.5a2 2 0 1 0 0 3", "M17 10.5a2 2 0 1 0 0 3"],
  replay: ["M3 12a9 9 0 1 0 3-6.7", "M3 4v5h5", "M10 9l5 3-5 3z"],
  wifiOff: ["M2 8.8a15 15 0 0 1 4.2-2.6", "M10.7 5a15 15 0 0 1 11.3 3.8", "M5 12.6a10 10 0 0 1 5.2-2.5",
    "M16.8 11a10 10 0 0 1 2.2 1.6", "M8.5 16.1a5 5 0 0 1 7 0", "M12 20h.01", "M3 3l18 18"],
};

export function icon(name, extraClass) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "icon" + (extraClass ? " " + extraClass : ""));
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of ICONS[name] || []) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

// Avatars: initials on a colour picked from the user id.
const HUES = [262, 200, 160, 24, 330, 290, 190, 12, 140, 220, 45, 350];

export function initials(name) {
  const words = String(name || "?").trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : [words[0] || "?"];
  return letters.map((w) => Array.from(w)[0] || "").join("").toUpperCase() || "?";
}

export function avatar(user, size = "md") {
  const id = Number(user.user_id ?? user.id ?? 0);
  const el = h("span", { class: `avatar avatar-${size} hue-${id % HUES.length}`, "aria-hidden": "true" },
    initials(user.display_name || user.username));
  if (user.avatar_url) {
    // The server's URL (same origin, re-encoded WebP): the picture covers the initials.
    const img = h("img", { class: "avatar-img", src: user.avatar_url, alt: "", loading: "lazy", decoding: "async" });
    img.addEventListener("error", () => img.remove());
    el.append(img);
  }
  return el;
}

export function formatCount(n) {
  return new Intl.NumberFormat().format(n);
}

export function plural(n, one, many) {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

export function timeAgo(seconds) {
  const diff = Date.now() / 1000 - seconds;
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const abs = Math.abs(diff);
  if (abs < 60) return rtf.format(-Math.round(diff), "second");
  if (abs < 3600) return rtf.format(-Math.round(diff / 60), "minute");
  if (abs < 86400) return rtf.format(-Math.round(diff / 3600), "hour");
  return rtf.format(-Math.round(diff / 86400), "day");
}

/** Copy text; resolves true on success. Falls back to a selected text field. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const field = h("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true" });
    field.value = text;
    document.body.append(field);
    field.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    field.remove();
    return ok;
  }
}

// A clip (/clips/{id}): a short cut of a room with its own audio file and page.

import { api, get } from "./api.js";
import { h, replace, icon, copyText, timeAgo } from "./dom.js";
import { formatTime, transport } from "./player.js";
import { withDownload, personLink, speakerChip, epochSeconds } from "./replay.js";

export function clipView(ctx, clipId) {
  const body = h("div", { class: "clip-body" }, h("p", { class: "muted" }, "Loading…"));
  const el = h("section", { class: "page clip-page" }, body);
  let destroyed = false;
  let audio = null;

  async function load() {
    try {
      const clip = await get(`/clips/${encodeURIComponent(clipId)}`);
      if (!destroyed) render(clip);
    } catch (err) {
      if (destroyed) return;
      replace(body, h("div", { class: "card notice" },
        h("h1", null, err.status === 404 ? "Clip not found" : "Can't open this clip"),
        h("p", { class: "muted" }, err.message), h("a", { href: "/", class: "btn btn-primary" }, "Back to the hallway")));
    }
  }

  function render(clip) {
    const title = clip.title || "A clip";
    document.title = `${title} · Clip · Podium`;
    audio = h("audio", { preload: "metadata", src: clip.audio_url });
    // The clip's file starts at start_ms of the recording.
    const range = () => ({ from: clip.start_ms, to: clip.end_ms });
    const player = transport(audio, { offset: clip.start_ms, range, label: "Position in the clip" });
    const speakers = clip.speakers || [];
    const replayLink = clip.replay_id
      ? h("a", { class: "btn btn-secondary btn-sm", href: `/replays/${encodeURIComponent(clip.replay_id)}?t=${clip.start_ms}` },
        icon("replay"), "Hear it in the replay")
      : null;
    const share = h("button", { type: "button", class: "btn btn-ghost btn-sm", onclick: copyLink }, icon("link"), "Copy link");
    const download = h("a", { class: "btn btn-ghost btn-sm", href: withDownload(clip.audio_url), download: "" }, icon("download"), "Download");
    const remove = h("button", { type: "button", class: "btn btn-ghost btn-sm danger-text", hidden: true, onclick: () => del(remove) },
      icon("trash"), "Delete clip");
    mayDelete(ctx, clip).then((yes) => { remove.hidden = !yes; });

    async function copyLink() {
      const url = `${location.origin}${clip.page_url || `/clips/${encodeURIComponent(clip.id)}`}`;
      if (await copyText(url)) ctx.toast("Clip link copied", "success");
      else ctx.toast(url);
    }

    async function del(button) {
      const ok = await ctx.dialog("Delete this clip?", (close) => h("div", { class: "dialog-body" },
        h("h2", null, "Delete this clip?"),
        h("p", { class: "muted" }, "Its page and audio are deleted for everyone. The replay stays."),
        h("div", { class: "dialog-actions" },
          h("button", { type: "button", class: "btn btn-ghost", onclick: () => close(false) }, "Cancel"),
          h("button", { type: "button", class: "btn btn-danger", onclick: () => close(true) }, "Delete clip"))), { className: "dialog-sm" });
      if (!ok) return;
      try {
        await api("DELETE", `/clips/${encodeURIComponent(clip.id)}`);
        ctx.toast("Clip deleted", "success");
        ctx.navigate(`/u/${encodeURIComponent(ctx.me.username)}`);
      } catch (err) {
        if (err.status === 403) button.hidden = true; // the server says no: don't offer it again
        ctx.toast(err.message, "error");
      }
    }

    replace(body, h("article", { class: "card clip-card", "aria-labelledby": "clip-title" },
      h("div", { class: "replay-kicker" },
        h("span", { class: "badge badge-open" }, icon("scissors"), "Clip"),
        h("span", { class: "small muted" }, `${formatTime(clip.duration_ms ?? clip.end_ms - clip.start_ms)} · made ${timeAgo(epochSeconds(clip.created_at))}`)),
      h("h1", { id: "clip-title", class: "replay-title", tabindex: "-1" }, title),
      audio, player.el,
      speakers.length
        ? h("div", { class: "clip-people" }, h("h2", { class: "small muted clip-label" }, "Speakers"),
          h("ul", { class: "speaker-chips", "aria-label": "Speakers" }, speakers.map((s) =>
            h("li", null, speakerChip(s)))))
        : h("p", { class: "muted small" }, "Nobody spoke in this clip."),
      clip.creator
        ? h("p", { class: "small muted" }, "Clipped by ", personLink(clip.creator),
          ` at ${formatTime(clip.start_ms)} of the recording`)
        : null,
      h("div", { class: "player-foot" }, replayLink, share, download, remove)));
    audio.addEventListener("loadedmetadata", () => player.update());
    audio.addEventListener("error", () => ctx.toast("The clip's audio could not be loaded.", "error"));
  }

  load();
  return {
    el,
    title: "Clip",
    focus: () => el.querySelector("h1")?.focus({ preventScroll: true }),
    destroy() {
      destroyed = true;
      if (audio) { audio.pause(); audio.removeAttribute("src"); audio.load(); }
    },
  };
}

/**
 * Offer delete to those the server allows (the clip's creator, anyone heard in it, the
 * replay's host, admins). The server decides: a 403 hides the button.
 */
async function mayDelete(ctx, clip) {
  const me = ctx.me && ctx.me.id;
  if (!me) return false;
  if (ctx.me.is_admin || (clip.creator && clip.creator.id === me) || (clip.speakers || []).some((s) => s.id === me)) return true;
  if (!clip.replay_id) return false;
  try {
    const replay = await get(`/replays/${encodeURIComponent(clip.replay_id)}`);
    return Boolean(replay.host && replay.host.id === me);
  } catch {
    return false;
  }
}

// The host's controls on a replay: title, where it starts (trim), who may listen, delete.

import { api } from "./api.js";
import { h, icon } from "./dom.js";
import { formatTime, parseClock } from "./player.js";

export const ACCESS = [
  ["members", "Everyone who could join the room"],
  ["followers", "Your followers"],
  ["host", "Only you"],
];

export function replayHostControls(ctx, replay, player, range, onChanged) {
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const title = h("input", { id: "rh-title", class: "input", maxlength: 100, required: true, value: replay.title, autocomplete: "off" });
  const trim = h("input", { id: "rh-trim", class: "input mono clock", inputmode: "numeric", value: formatTime(replay.trim_start_ms || 0),
    "aria-describedby": "rh-trim-hint" });
  const access = h("select", { id: "rh-access", class: "input" },
    ACCESS.map(([value, text]) => h("option", { value, selected: replay.access === value }, text)));
  const save = h("button", { type: "submit", class: "btn btn-primary" }, "Save changes");
  const remove = h("button", { type: "button", class: "btn btn-ghost danger-text" }, icon("trash"), "Delete replay");
  const form = h("form", { class: "host-form", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "rh-title" }, "Title"), title),
    h("div", { class: "field-row" },
      h("div", { class: "field" }, h("label", { for: "rh-trim" }, "Start the replay at"),
        h("div", { class: "clock-row" }, trim,
          h("button", { type: "button", class: "btn btn-ghost btn-sm", "aria-label": "Start the replay at the current position",
            onclick: () => { trim.value = formatTime(player.now()); } }, "Now")),
        h("p", { id: "rh-trim-hint", class: "field-hint" }, "From the very start of the recording (m:ss). Listeners don't hear what's before it.")),
      h("div", { class: "field" }, h("label", { for: "rh-access" }, "Who can listen"), access)),
    error,
    h("div", { class: "dialog-actions host-actions" }, remove, save));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const trimMs = parseClock(trim.value);
    const body = {};
    const problem = !title.value.trim() ? "Give the replay a title."
      : !Number.isFinite(trimMs) ? "Write the start as m:ss, for example 0:45."
        : replay.duration_ms && trimMs >= replay.duration_ms ? `The recording is only ${formatTime(replay.duration_ms)} long.` : "";
    error.textContent = problem;
    error.hidden = !problem;
    if (problem) return;
    if (title.value.trim() !== replay.title) body.title = title.value.trim();
    if (trimMs !== (replay.trim_start_ms || 0)) body.trim_start_ms = trimMs;
    if (access.value !== replay.access) body.access = access.value;
    if (!Object.keys(body).length) return ctx.toast("Nothing to save");
    save.disabled = true;
    try {
      const next = await api("PATCH", `/replays/${encodeURIComponent(replay.id)}`, body);
      ctx.toast("Replay saved", "success");
      onChanged(next);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      save.disabled = false;
    }
  });

  remove.addEventListener("click", async () => {
    const ok = await ctx.dialog("Delete this replay?", (close) => h("div", { class: "dialog-body" },
      h("h2", null, "Delete this replay?"),
      h("p", { class: "muted" }, "The recording, its transcript and every clip made from it are deleted for good."),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn btn-ghost", onclick: () => close(false) }, "Cancel"),
        h("button", { type: "button", class: "btn btn-danger", onclick: () => close(true) }, "Delete replay"))), { className: "dialog-sm" });
    if (!ok) return;
    try {
      await api("DELETE", `/replays/${encodeURIComponent(replay.id)}`);
      ctx.toast("Replay deleted", "success");
      ctx.navigate(`/u/${encodeURIComponent(ctx.me.username)}`);
    } catch (err) {
      ctx.toast(err.message, "error");
    }
  });

  return h("section", { class: "card section host-controls", "aria-labelledby": "rh-h" },
    h("h2", { id: "rh-h", class: "section-title" }, "Host controls"), form);
}

export function accessLabel(value) {
  const found = ACCESS.find(([v]) => v === value);
  return found ? found[1] : value;
}

// Moderation in the browser: remove/ban, revoke moderator, hand-raise policy, block and report,
// and the "people you blocked are on stage" warning. See docs/moderation.md.
import { api, post } from "./api.js";
import { h, replace, icon } from "./dom.js";

export const CATEGORIES = [
  ["spam", "Spam"], ["harassment", "Harassment"], ["hate", "Hate"],
  ["impersonation", "Impersonation"], ["other", "Something else"],
];
const DURATIONS = [["15", "15 minutes"], ["60", "1 hour"], ["1440", "1 day"], ["", "For good"]];
export const POLICIES = [["everyone", "Everyone"], ["followed", "People followed by the stage"], ["nobody", "Nobody"]];

/** Extra member-menu entries: [text, icon, fn, danger]. `command` sends a WebSocket command. */
export function moderationActions(ctx, room, m, command) {
  const actions = [];
  if (m.user_id === ctx.me.id) return actions;
  const mod = room.me && room.me.role === "moderator";
  const isHost = m.user_id === room.host_id;
  if (mod && !isHost) {
    if (m.role === "moderator") {
      actions.push(["Revoke moderator", "star", () => command("revoke_moderator", { user_id: m.user_id })]);
    }
    actions.push(["Remove from room…", "leave", () => removeDialog(ctx, m, command), true]);
  }
  actions.push(...memberSafetyActions(ctx, m, room.room_id));
  return actions;
}

/** Block/unblock and report, for a member's menu anywhere (rooms, profiles). */
export function memberSafetyActions(ctx, m, roomId = null) {
  const username = m.username;
  if (!username || username === ctx.me.username) return [];
  return [
    ["Block", "lock", () => blockDialog(ctx, m), true],
    ["Report…", "send", () => reportDialog(ctx, m, roomId)],
  ];
}

async function removeDialog(ctx, m, command) {
  const select = h("select", { class: "input", "aria-label": "Keep them out for" },
    DURATIONS.map(([v, t]) => h("option", { value: v }, t)));
  const ok = await ctx.dialog(`Remove ${m.display_name}`, (close) => h("div", { class: "dialog-body" },
    h("h2", null, `Remove ${m.display_name} from this room?`),
    h("p", { class: "muted" }, "They leave at once and cannot come back for:"),
    select,
    h("div", { class: "dialog-actions" },
      h("button", { type: "button", class: "btn btn-ghost", onclick: () => close(false) }, "Cancel"),
      h("button", { type: "button", class: "btn btn-danger", onclick: () => close(true) }, "Remove"))));
  if (!ok) return;
  const fields = { user_id: m.user_id };
  if (select.value) fields.minutes = Number(select.value);
  if (await command("remove_member", fields) !== null) ctx.toast(`${m.display_name} was removed`, "success");
}

export async function blockDialog(ctx, m, unblock = false) {
  const name = m.display_name || m.username;
  if (!unblock) {
    const ok = await ctx.dialog(`Block ${name}`, (close) => h("div", { class: "dialog-body" },
      h("h2", null, `Block ${name}?`),
      h("p", { class: "muted" }, "They won't be able to follow or ping you, or join rooms you moderate. "
        + "You won't see rooms they host, and follows between you end."),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn btn-ghost", onclick: () => close(false) }, "Cancel"),
        h("button", { type: "button", class: "btn btn-danger", onclick: () => close(true) }, "Block"))));
    if (!ok) return null;
  }
  try {
    const reply = await api(unblock ? "DELETE" : "POST", `/users/${encodeURIComponent(m.username)}/block`);
    ctx.toast(unblock ? `Unblocked ${name}` : `Blocked ${name}`, "success");
    return reply;
  } catch (err) {
    ctx.toast(err.message, "error");
    return null;
  }
}

export async function reportDialog(ctx, m, roomId = null) {
  const name = m.display_name || m.username;
  const category = h("select", { class: "input", name: "category", "aria-label": "What's wrong" },
    CATEGORIES.map(([v, t]) => h("option", { value: v }, t)));
  const text = h("textarea", { class: "input", name: "text", rows: "4", maxlength: "1000", required: true,
    "aria-label": "What happened", placeholder: "What happened?" });
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  await ctx.dialog(`Report ${name}`, (close) => {
    const form = h("form", { class: "dialog-body" },
      h("h2", null, `Report ${name}`),
      h("label", { class: "field" }, h("span", null, "What's wrong"), category),
      h("label", { class: "field" }, h("span", null, "What happened"), text),
      error,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn btn-ghost", onclick: () => close() }, "Cancel"),
        h("button", { type: "submit", class: "btn btn-primary" }, "Send report")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const body = { username: m.username, category: category.value, text: text.value };
        if (roomId) body.room_id = roomId;
        await post("/reports", body);
        ctx.toast("Thanks: an admin will look at your report", "success");
        close();
      } catch (err) {
        error.hidden = false;
        error.textContent = err.message;
      }
    });
    return form;
  });
}

/** Moderators: who may raise a hand. */
export function handPolicyControl(room, command) {
  const select = h("select", { class: "input input-sm", "aria-label": "Who may raise a hand", dataset: { fk: "policy" } },
    POLICIES.map(([v, t]) => h("option", { value: v, selected: room.hand_policy === v }, t)));
  select.addEventListener("change", () => command("set_hand_policy", { policy: select.value }));
  return h("label", { class: "ctl ctl-select" }, icon("hand"), h("span", { class: "ctl-label" }, "Hands:"), select);
}

/** The warning a listener sees while people they blocked are on stage (or nothing). */
export function renderBlockedWarning(el, room) {
  const ids = new Set(room.blocked_on_stage || []);
  const names = (room.stage || []).filter((m) => ids.has(m.user_id)).map((m) => m.display_name);
  el.hidden = names.length === 0;
  if (names.length) {
    replace(el, icon("lock"), h("span", null,
      `${names.length === 1 ? "Someone" : "People"} you blocked ${names.length === 1 ? "is" : "are"} on stage: ${names.join(", ")}`));
  }
}

export function blockedWarningEl() {
  return h("div", { class: "card notice-warning blocked-warning", role: "status", hidden: true });
}

/** Block and report buttons for a profile page. */
export function safetyButtons(ctx, p, roomId = null) {
  let blocked = false;
  const blockBtn = h("button", { type: "button", class: "btn btn-ghost btn-sm" }, icon("lock"), "Block");
  blockBtn.addEventListener("click", async () => {
    const reply = await blockDialog(ctx, p, blocked);
    if (reply) {
      blocked = reply.blocked;
      replace(blockBtn, icon("lock"), blocked ? "Unblock" : "Block");
    }
  });
  const reportBtn = h("button", { type: "button", class: "btn btn-ghost btn-sm", onclick: () => reportDialog(ctx, p, roomId) },
    icon("send"), "Report");
  return [blockBtn, reportBtn];
}

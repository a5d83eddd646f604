// Acting on people in a room: the raised-hands panel (moderators), inviting to speak, and the
// menu a stage tile or an audience tile opens. The remove/ban, block and report dialogs
// themselves are in moderation.js.

import { h, replace, clear, icon, avatar, formatCount } from "./dom.js";
import { closeButton } from "./hallway.js";
import { openProfileCard } from "./profile.js";
import { moderationActions } from "./moderation.js";

/** `toggleMute()`: mute or unmute yourself (from the room's media part). */
export function roomModeration(session, { toggleMute }) {
  const { ctx } = session;
  const command = session.command;
  const el = h("section", { class: "card section hands", "aria-labelledby": "hands-h", hidden: true });
  // Invitations sent from this page, shown at once before the server's event arrives.
  const invitedHands = new Set();
  const isInvited = (x) => Boolean(x.invited) || invitedHands.has(x.user_id);
  let handsKey = null;

  function renderHands() {
    const room = session.room;
    const mod = session.amModerator();
    const hands = (mod && room.hands) || [];
    const key = mod ? hands.map((x) => `${x.user_id}:${isInvited(x)}`).join(",") : "-";
    if (key === handsKey) return;
    handsKey = key;
    el.hidden = !mod;
    if (!mod) return clear(el);
    const focusKey = document.activeElement && el.contains(document.activeElement) ? document.activeElement.dataset.fk : null;
    replace(el,
      h("h2", { id: "hands-h", class: "section-title" }, icon("hand"), "Raised hands", h("span", { class: "section-count" }, formatCount(hands.length))),
      hands.length
        ? h("ul", { class: "hand-list" }, hands.map((x) => {
          const invited = isInvited(x);
          return h("li", { class: "hand-row", dataset: { userId: x.user_id } },
            avatar(x, "sm"),
            h("div", { class: "row-main" }, h("button", { type: "button", class: "link-btn strong", "aria-label": `${x.display_name}'s profile`,
              onclick: () => openProfileCard(ctx, x) }, x.display_name), h("span", { class: "small muted" }, `@${x.username}`)),
            h("div", { class: "row-actions" },
              h("button", { type: "button", class: "btn btn-ghost btn-sm", dataset: { fk: `lower-${x.user_id}` },
                "aria-label": `Lower ${x.display_name}'s hand`, onclick: () => command("lower_hand", { user_id: x.user_id }) }, "Dismiss"),
              h("button", { type: "button", class: "btn btn-primary btn-sm", disabled: invited, dataset: { fk: `invite-${x.user_id}` },
                "aria-label": `Invite ${x.display_name} to speak`, onclick: () => inviteToSpeak(x) }, invited ? "Invited" : "Invite to speak")));
        }))
        : h("p", { class: "muted small" }, "No hands raised. Listeners can raise a hand to ask to speak."));
    if (focusKey) el.querySelector(`[data-fk="${focusKey}"]`)?.focus();
  }

  async function inviteToSpeak(x) {
    invitedHands.add(x.user_id);
    handsKey = null;
    renderHands();
    const ok = await command("invite_to_speak", { user_id: x.user_id });
    if (ok === null) { invitedHands.delete(x.user_id); handsKey = null; renderHands(); } else ctx.toast(`Invited ${x.display_name} to speak`);
  }

  function memberMenu(label, actions) {
    return ctx.dialog(label, (close) => h("div", { class: "dialog-body menu" },
      h("div", { class: "dialog-head" }, h("h2", null, label), closeButton(close)),
      h("div", { class: "menu-actions" }, actions.map(([text, iconName, fn, danger]) =>
        h("button", { type: "button", class: ["menu-item", danger && "is-danger"], onclick: () => { close(); fn(); } },
          icon(iconName), text)))), { className: "dialog-sm" });
  }

  /** A stage tile's menu: yourself (mute, step down) or, as a moderator, someone on stage. */
  function openMemberMenu(m) {
    const room = session.room;
    const actions = [];
    const isMe = m.user_id === ctx.me.id;
    const isHost = m.user_id === room.host_id;
    if (isMe) {
      actions.push([room.me.muted ? "Unmute" : "Mute", room.me.muted ? "mic" : "micOff", toggleMute]);
      if (!isHost) actions.push(["Step down to the audience", "arrowDown", () => command("step_down")]);
    } else if (session.amModerator()) {
      if (!m.muted) actions.push(["Mute", "micOff", () => command("mute", { user_id: m.user_id })]);
      if (m.role === "speaker") actions.push(["Make moderator", "star", () => command("make_moderator", { user_id: m.user_id })]);
      if (!isHost || ctx.me.id === room.host_id) {
        actions.push(["Move to audience", "arrowDown", () => command("move_to_audience", { user_id: m.user_id }), true]);
      }
    }
    actions.push(...moderationActions(ctx, room, m, command));
    actions.push(["View profile", "users", () => openProfileCard(ctx, m)]);
    memberMenu(m.display_name, actions);
  }

  /** An audience tile's menu for moderators; everyone else sees the profile. */
  function openAudienceMenu(member) {
    const room = session.room;
    if (!session.amModerator() || member.user_id === ctx.me.id) return openProfileCard(ctx, member);
    const actions = [["Invite to speak", "mic", () => inviteToSpeak(member)]];
    if ((room.hands || []).some((x) => x.user_id === member.user_id)) {
      actions.push(["Dismiss raised hand", "hand", () => command("lower_hand", { user_id: member.user_id })]);
    }
    actions.push(...moderationActions(ctx, room, member, command));
    actions.push(["View profile", "users", () => openProfileCard(ctx, member)]);
    memberMenu(member.display_name, actions);
  }

  return {
    el,
    render: renderHands,
    openMemberMenu,
    openAudienceMenu,

    /** Brings the raised hands into view (the controls bar's "Hands" button). */
    showHands() {
      el.scrollIntoView({ behavior: "smooth", block: "center" });
      el.querySelector("button")?.focus();
    },
  };
}

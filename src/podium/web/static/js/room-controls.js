// A room's controls bar: leave, ping someone, raise your hand or mute, and for moderators the
// raised hands, who may raise a hand, and ending the room.

import { h, replace, icon } from "./dom.js";
import { pingDialog } from "./ping.js";
import { handPolicyControl } from "./moderation.js";

/** `toggleMute()`, `showHands()`, `leave()`: what the buttons do that other parts own. */
export function roomControls(session, { toggleMute, showHands, leave }) {
  const { ctx, roomId } = session;
  const command = session.command;
  const el = h("div", { class: "controls", role: "toolbar", "aria-label": "Room controls" });
  let key = "";

  function render(room) {
    const me = room.me;
    const mod = session.amModerator();
    const isHost = ctx.me.id === room.host_id;
    const hands = mod && room.hands ? room.hands.length : 0;
    const next = [me.role, me.muted, me.hand_raised, mod, isHost, hands, room.hand_policy].join("|");
    if (next === key) return;
    key = next;
    const focusKey = document.activeElement && el.contains(document.activeElement) ? document.activeElement.dataset.fk : null;
    const buttons = [
      h("button", { type: "button", class: "ctl", dataset: { fk: "leave" }, onclick: leave },
        icon("leave"), label("Leave quietly", "Leave")),
    ];
    buttons.push(h("button", { type: "button", class: "ctl", dataset: { fk: "ping" }, "aria-label": "Ping someone",
      onclick: () => pingDialog(ctx, roomId) }, icon("send"), label("Ping someone", "Ping")));
    if (me.role === "listener") {
      buttons.push(h("button", { type: "button", class: ["ctl", me.hand_raised && "is-active"], dataset: { fk: "hand" },
        "aria-pressed": String(me.hand_raised), onclick: toggleHand },
      icon("hand"), h("span", { class: "ctl-label" }, me.hand_raised ? "Lower hand" : "Raise hand")));
    } else {
      buttons.push(h("button", { type: "button", class: ["ctl", "ctl-mic", me.muted && "is-muted"], dataset: { fk: "mute" },
        "aria-pressed": String(me.muted), onclick: toggleMute },
      icon(me.muted ? "micOff" : "mic"), h("span", { class: "ctl-label" }, me.muted ? "Unmute" : "Mute")));
    }
    if (mod) {
      buttons.push(h("button", { type: "button", class: "ctl", dataset: { fk: "hands" },
        "aria-label": `Raised hands: ${hands}`, onclick: showHands },
      icon("hand"), h("span", { class: "ctl-label" }, "Hands"), hands ? h("span", { class: "ctl-count", "aria-hidden": "true" }, String(hands)) : null));
    }
    if (mod) buttons.push(handPolicyControl(room, command));
    if (isHost || mod) {
      buttons.push(h("button", { type: "button", class: "ctl ctl-danger", dataset: { fk: "end" }, onclick: endRoom },
        icon("power"), label("End room", "End")));
    }
    replace(el, buttons);
    if (focusKey) el.querySelector(`[data-fk="${focusKey}"]`)?.focus();
  }

  function toggleHand() {
    command(session.room.me.hand_raised ? "lower_hand" : "raise_hand");
  }

  async function endRoom() {
    const ok = await ctx.dialog("End this room?", (close) => h("div", { class: "dialog-body" },
      h("h2", null, "End this room for everyone?"),
      h("p", { class: "muted" }, "Everyone on stage and in the audience will be sent back to the hallway."),
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn btn-ghost", onclick: () => close(false) }, "Cancel"),
        h("button", { type: "button", class: "btn btn-danger", onclick: () => close(true) }, "End room"))));
    if (ok) command("end_room");
  }

  return { el, render };
}

/** A control's label: the long form, or the short one on narrow screens. */
function label(long, short) {
  return h("span", { class: "ctl-label" }, h("span", { class: "label-long" }, long),
    h("span", { class: "label-short" }, short));
}

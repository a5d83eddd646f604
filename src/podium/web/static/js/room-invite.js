// Being invited to speak: the prompt that opens while a moderator's invitation is pending.
// The microphone is asked for only when you accept.

import { h, icon } from "./dom.js";
import { micMessage } from "./room-media.js";

export function roomInvite(session) {
  const { ctx, rt, media } = session;
  let closePrompt = null; // the open prompt's close function

  function open() {
    let result = null;
    const promise = ctx.dialog("Invitation to speak", (close) => {
      closePrompt = () => close("dismissed");
      const error = h("p", { class: "form-error", role: "alert", hidden: true });
      const accept = h("button", { type: "button", class: "btn btn-primary" }, icon("mic"), "Join the stage");
      const decline = h("button", { type: "button", class: "btn btn-ghost" }, "Not now");
      accept.addEventListener("click", async () => {
        accept.disabled = true;
        error.hidden = true;
        try {
          await media.startMic(); // the microphone is asked for only now
        } catch (err) {
          error.textContent = micMessage(err);
          error.hidden = false;
          accept.disabled = false;
          return;
        }
        try {
          await rt.send("accept_invite");
          result = "accepted";
          close("accepted");
        } catch (err) {
          await media.stopMic();
          error.textContent = err.message;
          error.hidden = false;
          accept.disabled = false;
        }
      });
      decline.addEventListener("click", () => close("declined"));
      setTimeout(() => accept.focus(), 0);
      return h("div", { class: "dialog-body invite-prompt" },
        h("span", { class: "prompt-icon", "aria-hidden": "true" }, icon("mic")),
        h("h2", null, "You're invited to speak"),
        h("p", { class: "muted" }, "A moderator asked you onto the stage. Your browser will ask for the microphone."),
        error,
        h("div", { class: "dialog-actions" }, decline, accept));
    }, { className: "dialog-sm" });
    promise.then((value) => {
      closePrompt = null;
      if (value === "declined" || (value === undefined && result === null)) {
        const room = session.room;
        if (room && room.me && room.me.invited) session.command("decline_invite");
      }
    });
  }

  function stop() {
    if (closePrompt) closePrompt();
  }

  return {
    render(room) {
      if (room.me.invited && !closePrompt) open();
      if (!room.me.invited) stop();
    },
    stop,
  };
}

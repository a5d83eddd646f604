// A room page: its parts wired together. Each part is a module with one job:
//   room-session.js     the room's state from the server: join, snapshot, events, commands
//   room-head.js        title, description, kind, link, and badges (the audio status)
//   room-media.js       audio: the connection, the microphone following your role, mute
//   room-invite.js      the prompt when a moderator invites you to speak
//   room-stage.js       who is on stage and who is speaking
//   room-moderation.js  raised hands, inviting to speak, the members' menus
//   room-audience.js    the audience (virtualised)
//   room-controls.js    the controls bar
//   room-notices.js     what replaces the room when it ends or you are sent away
//
// A part is an object with any of: `el`; render(room, before) on every change while you are in
// the live room (`before`: your previous `me`); snapshot(room), speaking(room),
// audienceChanged() and blocked(room) for those updates; stop() when the page stops showing the
// room (close its dialogs); destroy() when the page goes. To add one: import its module, make
// it below, add it to `parts`, and place its `el` in the layout (a badge: `head.badge(x.el)`).

import { h, replace } from "./dom.js";
import { renderBlockedWarning, blockedWarningEl } from "./moderation.js";
import { roomSession } from "./room-session.js";
import { roomHead } from "./room-head.js";
import { roomMedia } from "./room-media.js";
import { roomInvite } from "./room-invite.js";
import { roomStage } from "./room-stage.js";
import { roomModeration } from "./room-moderation.js";
import { roomAudience } from "./room-audience.js";
import { roomControls } from "./room-controls.js";
import { roomAddons } from "./room_addons.js";
import { endedNotice, bannedNotice, removedNotice, problemNotice } from "./room-notices.js";

export function roomView(ctx, roomId) {
  const session = roomSession(ctx, roomId, {
    changed,
    snapshot: () => each("snapshot", session.room),
    speaking: () => each("speaking", session.room),
    audienceChanged: () => each("audienceChanged"),
    blocked: () => each("blocked", session.room),
    removed: (reason) => showNotice(bannedNotice(reason), { leave: true }),
    failed: (message) => showNotice(problemNotice(message), { leave: true, keepMedia: true }),
  });
  const head = roomHead(session);
  let addons = null; // recording, clips, captions (issue #12): made once the page exists
  const media = roomMedia(session, { beforeAudio: (room) => (addons ? addons.beforeAudio(room) : true) });
  const invite = roomInvite(session);
  const moderation = roomModeration(session, { toggleMute: media.toggleMute });
  const stage = roomStage(session, { openMenu: moderation.openMemberMenu });
  const blocked = blockedWarning();
  const audience = roomAudience(session, { onPick: moderation.openAudienceMenu });
  const controls = roomControls(session, { toggleMute: media.toggleMute, showHands: moderation.showHands, leave });
  // Told of every change, in this order (the microphone follows your role before the page does).
  const parts = [media, invite, head, stage, blocked, moderation, audience, controls];

  head.badge(media.statusEl);
  const body = h("div", { class: "room-body" }, head.el, blocked.el, media.gateEl, stage.el, moderation.el, audience.el);
  const el = h("section", { class: "room-page" }, body, h("div", { class: "controls-bar" }, controls.el));
  addons = roomAddons(ctx, roomId, el);

  function each(hook, ...args) {
    for (const part of parts) part[hook]?.(...args);
  }

  function changed(before) {
    const room = session.room;
    if (room.status === "ended") return showNotice(endedNotice(room.title), { leave: true });
    if (!room.me) return showNotice(removedNotice()); // not `leave`: the page can still rejoin
    each("render", room, before);
  }

  function showNotice(notice, { leave = false, keepMedia = false } = {}) {
    if (leave) session.left = true;
    each("stop");
    if (!keepMedia) media.close();
    replace(el, notice.el);
    notice.focus();
  }

  async function leave() {
    session.left = true;
    each("stop");
    ctx.rt.send("leave").catch(() => {});
    await media.close();
    ctx.navigate("/");
  }

  session.join();

  return {
    el,
    title: "Room",
    focus: head.focus,
    async destroy() {
      session.destroy();
      addons.destroy();
      each("destroy");
      each("stop");
      if (!session.left) {
        session.left = true;
        ctx.rt.send("leave").catch(() => {});
        await media.close();
      }
    },
  };
}

/** The "people you blocked are on stage" warning (moderation.js draws it). */
function blockedWarning() {
  const el = blockedWarningEl();
  const render = (room) => renderBlockedWarning(el, room);
  return { el, render, blocked: render };
}

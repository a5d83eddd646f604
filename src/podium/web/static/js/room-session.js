// A room's state as the server tells it: join (and join again after a reconnect), the snapshot,
// then events applied in order. The parts of the room page read `session.room` and send their
// commands through `session.command`.

import { applyEvent } from "./reducer.js";

const SNAPSHOT_WAIT_MS = 1500;

/**
 * `hooks`, each called once `session.room` is up to date:
 *   changed(before)    the room or your place in it changed (`before`: your previous `me`)
 *   snapshot()         a whole snapshot arrived (after `changed`)
 *   speaking()         only who is speaking changed
 *   audienceChanged()  the audience changed (before `changed`)
 *   blocked()          who of the people you blocked is on stage changed
 *   removed()          a moderator removed you
 *   failed(message)    the room could not be joined at all
 */
export function roomSession(ctx, roomId, hooks) {
  const rt = ctx.rt;
  let snapshotTimer = null;

  const session = {
    ctx,
    roomId,
    rt,
    media: ctx.media,
    room: null,
    left: false, // we left or were sent away: nothing joins or connects again
    destroyed: false, // the page is gone

    /** Sends a command; a refusal is shown as a toast and resolves to null. */
    async command(type, fields = {}) {
      try {
        return await rt.send(type, fields);
      } catch (err) {
        ctx.toast(err.message, "error");
        return null;
      }
    },

    amModerator() {
      const room = session.room;
      return Boolean(room && room.me && room.me.role === "moderator");
    },

    async join() {
      try {
        await rt.send("join", { room_id: roomId });
      } catch (err) {
        if (session.destroyed) return;
        if (rt.status !== "open") return; // the reconnect will try again
        if (!session.room) hooks.failed(err.message);
        else ctx.toast(err.message, "error");
      }
    },

    destroy() {
      session.destroyed = true;
      clearTimeout(snapshotTimer);
      rt.removeEventListener("frame", onFrame);
      rt.removeEventListener("hello", onHello);
      ctx.roomState = null;
    },
  };

  function onFrame(e) {
    const frame = e.detail;
    if (frame.type === "snapshot" && frame.room && frame.room.room_id === roomId) {
      clearTimeout(snapshotTimer);
      const before = session.room && session.room.me;
      session.room = frame.room;
      ctx.roomState = session.room; // read by the debug hook and notifications
      hooks.changed(before ? { ...before } : null);
      hooks.snapshot();
      return;
    }
    const room = session.room;
    if (!room || frame.room_id !== roomId) return;
    if (frame.type === "blocked_on_stage") {
      room.blocked_on_stage = frame.user_ids;
      hooks.blocked();
    } else if (frame.type === "event" && frame.rev > room.rev) {
      const before = room.me ? { ...room.me } : null;
      const event = frame.event;
      applyEvent(room, event, ctx.me.id);
      room.rev = frame.rev;
      if (event.type === "member_left" && event.user_id === ctx.me.id) room.me = null;
      if (event.type === "member_removed" && event.user_id === ctx.me.id) return hooks.removed(event.reason);
      if (event.type === "speaking") return hooks.speaking();
      if (event.type === "audience_changed") hooks.audienceChanged();
      hooks.changed(before);
    }
  }

  function onHello(e) {
    const { resumed, sameSession, reconnect } = e.detail;
    if (!reconnect || session.left || session.destroyed || resumed) return;
    clearTimeout(snapshotTimer);
    if (sameSession) snapshotTimer = setTimeout(session.join, SNAPSHOT_WAIT_MS); // a snapshot should follow
    else session.join();
  }

  rt.addEventListener("frame", onFrame);
  rt.addEventListener("hello", onHello);
  return session;
}

// Keeps a room snapshot current from the events that follow it.
// A port of src/podium/client/reducer.py: keep the two in step.

const AUDIENCE_KEEP = 200; // the first listeners kept locally; the rest are paged from the server

function stageSort(room) {
  room.stage.sort((a, b) =>
    (a.role !== "moderator") - (b.role !== "moderator")
    || (a.stage_since || 0) - (b.stage_since || 0)
    || a.user_id - b.user_id);
}

function remove(room, userId) {
  room.stage = room.stage.filter((m) => m.user_id !== userId);
  const before = room.audience.length;
  room.audience = room.audience.filter((m) => m.user_id !== userId);
  if (room.audience.length !== before) room.audience_count = Math.max(0, room.audience_count - 1);
}

function member(event) {
  const { type, ...rest } = event;
  return rest;
}

function dropHand(room, userId) {
  if (room.hands) room.hands = room.hands.filter((h) => h.user_id !== userId);
}

function appendListener(room, m) {
  if (room.audience.length < AUDIENCE_KEEP) room.audience.push(m);
}

/** Update `room` in place. Unknown event types are ignored (forward compatibility). */
export function applyEvent(room, event, me) {
  const kind = event.type;
  const userId = event.user_id;
  switch (kind) {
    case "member_joined":
      remove(room, userId);
      if (event.role === "listener") {
        appendListener(room, member(event));
        room.audience_count += 1;
      } else {
        room.stage.push(member(event));
        stageSort(room);
      }
      break;
    case "member_left":
    case "member_removed":
      remove(room, userId);
      dropHand(room, userId);
      if (room.speaking) room.speaking = room.speaking.filter((u) => u !== userId);
      break;
    case "audience_changed": {
      const left = new Set(event.left);
      room.audience = room.audience.filter((m) => !left.has(m.user_id));
      const known = new Set(room.audience.map((m) => m.user_id));
      for (const m of event.joined) if (!known.has(m.user_id)) appendListener(room, m);
      room.audience_count = event.count;
      for (const u of left) dropHand(room, u);
      break;
    }
    case "role_changed":
      roleChanged(room, event, me);
      break;
    case "mute_changed":
      for (const m of room.stage) if (m.user_id === userId) m.muted = event.muted;
      if (userId === me && room.me) room.me.muted = event.muted;
      break;
    case "hand_raised":
    case "hand_lowered":
      hand(room, event, me);
      break;
    case "speak_invited":
    case "invite_declined": {
      const invited = event.type === "speak_invited";
      for (const h of room.hands || []) if (h.user_id === userId) h.invited = invited;
      if (userId === me && room.me) room.me.invited = invited;
      break;
    }
    case "hand_policy_changed":
      room.hand_policy = event.policy;
      break;
    case "captions_changed":
      room.captions = event.captions;
      break;
    // "caption" events are transient lines of live captions, not snapshot state.
    case "recording_changed":
      room.recording = event.recording;
      break;
    case "speaking":
      room.speaking = event.user_ids;
      break;
    case "room_ended":
      room.status = "ended";
      break;
    default:
      break;
  }
}

function roleChanged(room, event, me) {
  const userId = event.user_id;
  remove(room, userId);
  const m = member(event);
  if (event.role === "listener") {
    appendListener(room, m);
    room.audience_count += 1;
  } else {
    room.stage.push(m);
    stageSort(room);
    dropHand(room, userId);
  }
  if (userId === me && room.me) {
    Object.assign(room.me, {
      role: event.role, muted: event.muted, invited: false,
      hand_raised: event.role !== "listener" ? false : room.me.hand_raised,
    });
  }
}

function hand(room, event, me) {
  const userId = event.user_id;
  const raised = event.type === "hand_raised";
  if (userId === me && room.me) room.me.hand_raised = raised;
  if (!room.hands) return;
  dropHand(room, userId);
  if (raised) {
    room.hands.push({ user_id: userId, username: event.username, display_name: event.display_name,
      at: event.at, invited: Boolean(event.invited) });
  }
}

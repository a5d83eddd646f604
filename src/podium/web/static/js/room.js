// A room: the stage, the audience, raised hands, and the controls for your role.

import { get } from "./api.js";
import { h, append, replace, clear, icon, avatar, copyText, formatCount, plural } from "./dom.js";
import { applyEvent } from "./reducer.js";
import { closeButton } from "./hallway.js";
import { openProfileCard } from "./profile.js";
import { pingDialog } from "./ping.js";
import { moderationActions, handPolicyControl, renderBlockedWarning, blockedWarningEl } from "./moderation.js";
import { roomAddons } from "./room_addons.js";

const ROLE_LABEL = { moderator: "Moderator", speaker: "Speaker", listener: "Listener" };
const SNAPSHOT_WAIT_MS = 1500;

export function roomView(ctx, roomId) {
  const rt = ctx.rt;
  const media = ctx.media;
  let room = null;
  let destroyed = false;
  let left = false;
  let mediaStarted = false;
  let snapshotTimer = null;
  let invitePrompt = null; // the open invitation dialog's close function
  // Moderators: invitations sent from this page, shown at once before the server's event arrives.
  const invitedHands = new Set();
  const isInvited = (x) => Boolean(x.invited) || invitedHands.has(x.user_id);

  // -- layout ------------------------------------------------------------------------------
  const titleEl = h("h1", { class: "room-title", tabindex: "-1" }, "Joining…");
  const descEl = h("p", { class: "room-desc" });
  const kindEl = h("span", { class: "room-kind" });
  const shareButton = h("button", { type: "button", class: "btn btn-secondary btn-sm", "aria-label": "Copy room link" },
    icon("link"), h("span", null, "Copy link"));
  shareButton.addEventListener("click", copyLink);
  // What the audio connection is doing: a storm of arrivals is admitted in turn, so
  // "joining" can last a few seconds; silence must never look like a quiet room.
  const audioEl = h("span", { class: "audio-state", role: "status", "aria-live": "polite" });
  const head = h("header", { class: "room-head card" },
    h("div", { class: "room-head-top" }, h("span", { class: "live-dot" }, "Live"), kindEl, audioEl,
      shareButton),
    titleEl, descEl);
  const listenEl = h("div", { class: "listen-gate", hidden: true });
  const stageList = h("ul", { class: "stage-grid", "aria-label": "On stage" });
  const stageCount = h("span", { class: "section-count" });
  const stageEl = h("section", { class: "card section", "aria-labelledby": "stage-h" },
    h("h2", { id: "stage-h", class: "section-title" }, "On stage", stageCount), stageList);
  const handsEl = h("section", { class: "card section hands", "aria-labelledby": "hands-h", hidden: true });
  const audienceCount = h("span", { class: "section-count" });
  const audience = audienceList(ctx, roomId, (member) => openAudienceMenu(member));
  const audienceEl = h("section", { class: "card section", "aria-labelledby": "aud-h" },
    h("h2", { id: "aud-h", class: "section-title" }, "Listeners", audienceCount), audience.el);
  const controls = h("div", { class: "controls", role: "toolbar", "aria-label": "Room controls" });
  const blockedEl = blockedWarningEl();
  const body = h("div", { class: "room-body" }, head, blockedEl, listenEl, stageEl, handsEl, audienceEl);
  const el = h("section", { class: "room-page" }, body, h("div", { class: "controls-bar" }, controls));
  const addons = roomAddons(ctx, roomId, el); // recording, clips, captions (issue #12)

  // -- realtime ----------------------------------------------------------------------------
  function onFrame(e) {
    const frame = e.detail;
    if (frame.type === "snapshot" && frame.room && frame.room.room_id === roomId) {
      clearTimeout(snapshotTimer);
      const before = room && room.me;
      room = frame.room;
      afterChange(before ? { ...before } : null);
      if (!mediaStarted && room.me && room.status === "live") startMedia();
      return;
    }
    if (frame.type === "blocked_on_stage" && room && frame.room_id === roomId) {
      room.blocked_on_stage = frame.user_ids;
      return renderBlockedWarning(blockedEl, room);
    }
    if (frame.type === "event" && room && frame.room_id === roomId) {
      if (frame.rev <= room.rev) return;
      const before = room.me ? { ...room.me } : null;
      const event = frame.event;
      applyEvent(room, event, ctx.me.id);
      room.rev = frame.rev;
      if (event.type === "member_left" && event.user_id === ctx.me.id) {
        room.me = null;
      }
      if (event.type === "member_removed" && event.user_id === ctx.me.id) return showBanned();
      if (event.type === "speaking") return renderStage();
      if (event.type === "audience_changed") audience.stale();
      afterChange(before);
    }
  }

  function onHello(e) {
    const { resumed, sameSession, reconnect } = e.detail;
    if (!reconnect || left || destroyed) return;
    if (!resumed) {
      clearTimeout(snapshotTimer);
      if (sameSession) snapshotTimer = setTimeout(join, SNAPSHOT_WAIT_MS); // a snapshot should follow
      else join();
    }
    // A new session may be another node (the one we were on is gone, and our audio with it).
    if (mediaStarted && (!sameSession || media.state === "failed" || media.state === "closed")) {
      connectAudio();
    }
  }

  const AUDIO_TEXT = {
    connecting: "Joining audio…",
    waiting: "Joining audio… many people are arriving",
    failed: "Audio lost — reconnecting…",
  };
  let waitingTimer = null;

  function showAudio(state) {
    clearTimeout(waitingTimer);
    const text = AUDIO_TEXT[state];
    audioEl.textContent = text || "";
    audioEl.hidden = !text;
    audioEl.className = `audio-state is-${state}`;
    // The server admits audio connections in turn: say why it takes a while.
    if (state === "connecting") waitingTimer = setTimeout(() => showAudio("waiting"), 3000);
  }

  function onMediaState(e) {
    showAudio(e.detail);
    if (e.detail === "failed" && !left && !destroyed && room && room.status === "live") {
      setTimeout(() => { if (!left && !destroyed && rt.status === "open") connectAudio(); }, 1000);
    }
  }
  showAudio(media.state);

  function onAutoplay(e) {
    listenEl.hidden = !e.detail;
    if (e.detail) {
      const tap = h("button", { type: "button", class: "btn btn-primary btn-lg" }, icon("speaker"), "Tap to listen");
      tap.addEventListener("click", () => media.play());
      replace(listenEl, h("p", null, "Your browser paused the sound until you tap."), tap);
    }
  }

  rt.addEventListener("frame", onFrame);
  rt.addEventListener("hello", onHello);
  media.addEventListener("state", onMediaState);
  media.addEventListener("autoplay", onAutoplay);

  async function join() {
    try {
      await rt.send("join", { room_id: roomId });
    } catch (err) {
      if (destroyed) return;
      if (rt.status !== "open") return; // the reconnect will try again
      if (!room) showProblem(err.message);
      else ctx.toast(err.message, "error");
    }
  }

  // -- media -------------------------------------------------------------------------------
  async function startMedia() {
    mediaStarted = true;
    if (!(await addons.beforeAudio(room)) || destroyed) return; // a recorded room says so first
    if (room.me && room.me.role !== "listener") {
      try {
        await media.startMic();
        media.setMuted(room.me.muted);
      } catch (err) {
        ctx.toast(micMessage(err), "error");
      }
    }
    connectAudio();
  }

  async function connectAudio() {
    try {
      // A join storm is admitted in turn: wait for the answer longer than for other commands.
      await media.connect((sdp) => rt.send("rtc_offer", { sdp }, 90000));
    } catch (err) {
      if (!destroyed && !left) ctx.toast(`Audio could not connect: ${err.message}`, "error");
    }
  }

  async function syncRole(before) {
    const me = room && room.me;
    if (!me) return;
    const wasOnStage = before && before.role !== "listener";
    const onStage = me.role !== "listener";
    if (onStage && !wasOnStage && before) {
      if (!media.mic) {
        try { await media.startMic(); } catch (err) { ctx.toast(micMessage(err), "error"); }
      }
      ctx.toast(me.role === "moderator" ? "You're a moderator now" : "You're on stage", "success");
    } else if (!onStage && wasOnStage) {
      await media.stopMic();
      ctx.toast("You're back in the audience");
    } else if (before && before.role === "speaker" && me.role === "moderator") {
      ctx.toast("You're a moderator now", "success");
    }
    media.setMuted(me.muted);
    if (before && !before.muted && me.muted && onStage) ctx.toast("You're muted");
  }

  // -- rendering ---------------------------------------------------------------------------
  function afterChange(before) {
    ctx.roomState = room;
    if (!room) return;
    if (room.status === "ended") return showEnded();
    if (!room.me) return showRemoved();
    syncRole(before);
    if (room.me.invited && !invitePrompt) openInvitePrompt();
    if (!room.me.invited && invitePrompt) invitePrompt();
    render();
  }

  function render() {
    if (titleEl.textContent !== room.title) {
      titleEl.textContent = room.title;
      document.title = `${room.title} · Podium`;
    }
    descEl.textContent = room.description || "";
    descEl.hidden = !room.description;
    replace(kindEl, room.kind === "closed" ? [icon("lock"), "Closed room"] : room.kind === "social" ? [icon("users"), "Social room"] : "Open room");
    renderStage();
    renderBlockedWarning(blockedEl, room);
    renderHands();
    audienceCount.textContent = formatCount(room.audience_count);
    audience.update(room, amModerator());
    renderControls();
  }

  function amModerator() {
    return Boolean(room && room.me && room.me.role === "moderator");
  }

  const tiles = new Map();
  function renderStage() {
    if (!room) return;
    ctx.roomState = room;
    stageCount.textContent = formatCount(room.stage.length);
    const speaking = new Set(room.speaking || []);
    const mod = amModerator();
    const seen = new Set();
    const order = [];
    for (const m of room.stage) {
      seen.add(m.user_id);
      const key = [m.display_name, m.username, m.role, m.muted, mod, m.user_id === room.host_id].join("|");
      let tile = tiles.get(m.user_id);
      if (!tile || tile.key !== key) {
        const fresh = stageTile(m, mod);
        if (tile) tile.el.replaceWith(fresh);
        tile = { el: fresh, key };
        tiles.set(m.user_id, tile);
      }
      tile.el.classList.toggle("is-speaking", speaking.has(m.user_id) && !m.muted);
      order.push(tile.el);
    }
    for (const [id, tile] of tiles) {
      if (!seen.has(id)) { tile.el.remove(); tiles.delete(id); }
    }
    const current = Array.from(stageList.children);
    if (current.length !== order.length || current.some((node, i) => node !== order[i])) {
      const focused = document.activeElement;
      append(stageList, order);
      if (focused && stageList.contains(focused)) focused.focus();
    }
  }

  function stageTile(m, mod) {
    const isHost = m.user_id === room.host_id;
    const isMe = m.user_id === ctx.me.id;
    const roleText = isHost ? "Host" : ROLE_LABEL[m.role];
    const inner = [
      h("span", { class: "avatar-wrap" },
        h("span", { class: "speak-ring", "aria-hidden": "true" }),
        avatar(m, "lg"),
        m.muted ? h("span", { class: "mute-badge", title: "Muted" }, icon("micOff")) : null,
        m.role === "moderator" ? h("span", { class: "mod-badge", title: "Moderator" }, icon("star")) : null),
      h("span", { class: "member-name" }, isMe ? `${m.display_name} (you)` : m.display_name),
      h("span", { class: "member-role" }, roleText),
    ];
    const label = `${m.display_name}${isMe ? " (you)" : ""}, ${roleText}${m.muted ? ", muted" : ""}`;
    const interactive = isMe || (mod && (!isHost || ctx.me.id === room.host_id));
    const body = interactive
      ? h("button", { type: "button", class: "member-btn", "aria-label": `${label}. Options`, "aria-haspopup": "dialog",
        onclick: () => openMemberMenu(m) }, inner)
      : h("button", { type: "button", class: "member-btn", "aria-label": `${label}. Profile`, "aria-haspopup": "dialog",
        onclick: () => openProfileCard(ctx, m) }, inner);
    return h("li", { class: ["member", m.muted && "is-muted", m.role === "moderator" && "is-mod"], dataset: { userId: m.user_id } }, body);
  }

  let handsKey = null;
  function renderHands() {
    const mod = amModerator();
    const hands = (mod && room.hands) || [];
    const key = mod ? hands.map((x) => `${x.user_id}:${isInvited(x)}`).join(",") : "-";
    if (key === handsKey) return;
    handsKey = key;
    handsEl.hidden = !mod;
    if (!mod) return clear(handsEl);
    const focusKey = document.activeElement && handsEl.contains(document.activeElement) ? document.activeElement.dataset.fk : null;
    replace(handsEl,
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
    if (focusKey) handsEl.querySelector(`[data-fk="${focusKey}"]`)?.focus();
  }

  let controlsKey = "";
  function renderControls() {
    const me = room.me;
    const mod = amModerator();
    const isHost = ctx.me.id === room.host_id;
    const hands = mod && room.hands ? room.hands.length : 0;
    const key = [me.role, me.muted, me.hand_raised, mod, isHost, hands, room.hand_policy].join("|");
    if (key === controlsKey) return;
    controlsKey = key;
    const focusKey = document.activeElement && controls.contains(document.activeElement) ? document.activeElement.dataset.fk : null;
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
        "aria-label": `Raised hands: ${hands}`, onclick: () => { handsEl.scrollIntoView({ behavior: "smooth", block: "center" }); handsEl.querySelector("button")?.focus(); } },
      icon("hand"), h("span", { class: "ctl-label" }, "Hands"), hands ? h("span", { class: "ctl-count", "aria-hidden": "true" }, String(hands)) : null));
    }
    if (mod) buttons.push(handPolicyControl(room, command));
    if (isHost || mod) {
      buttons.push(h("button", { type: "button", class: "ctl ctl-danger", dataset: { fk: "end" }, onclick: endRoom },
        icon("power"), label("End room", "End")));
    }
    replace(controls, buttons);
    if (focusKey) controls.querySelector(`[data-fk="${focusKey}"]`)?.focus();
  }

  // -- actions -----------------------------------------------------------------------------
  async function command(type, fields = {}) {
    try {
      return await rt.send(type, fields);
    } catch (err) {
      ctx.toast(err.message, "error");
      return null;
    }
  }

  function toggleHand() {
    command(room.me.hand_raised ? "lower_hand" : "raise_hand");
  }

  async function toggleMute() {
    const muted = !room.me.muted;
    media.setMuted(muted); // at once locally; the server confirms with mute_changed
    const ok = await command("set_muted", { muted });
    if (ok === null && room && room.me) media.setMuted(room.me.muted);
  }

  async function inviteToSpeak(x) {
    invitedHands.add(x.user_id);
    handsKey = null;
    renderHands();
    const ok = await command("invite_to_speak", { user_id: x.user_id });
    if (ok === null) { invitedHands.delete(x.user_id); handsKey = null; renderHands(); } else ctx.toast(`Invited ${x.display_name} to speak`);
  }

  async function copyLink() {
    const url = `${location.origin}/room/${encodeURIComponent(roomId)}`;
    if (await copyText(url)) ctx.toast("Room link copied", "success");
    else ctx.toast(url);
  }

  async function leave() {
    left = true;
    if (invitePrompt) invitePrompt();
    rt.send("leave").catch(() => {});
    await media.close();
    ctx.navigate("/");
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

  function openInvitePrompt() {
    let result = null;
    const promise = ctx.dialog("Invitation to speak", (close) => {
      invitePrompt = () => close("dismissed");
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
      invitePrompt = null;
      if (value === "declined" || (value === undefined && result === null)) {
        if (room && room.me && room.me.invited) command("decline_invite");
      }
    });
  }

  function memberMenu(label, actions) {
    return ctx.dialog(label, (close) => h("div", { class: "dialog-body menu" },
      h("div", { class: "dialog-head" }, h("h2", null, label), closeButton(close)),
      h("div", { class: "menu-actions" }, actions.map(([text, iconName, fn, danger]) =>
        h("button", { type: "button", class: ["menu-item", danger && "is-danger"], onclick: () => { close(); fn(); } },
          icon(iconName), text)))), { className: "dialog-sm" });
  }

  function openMemberMenu(m) {
    const actions = [];
    const isMe = m.user_id === ctx.me.id;
    const isHost = m.user_id === room.host_id;
    if (isMe) {
      actions.push([room.me.muted ? "Unmute" : "Mute", room.me.muted ? "mic" : "micOff", toggleMute]);
      if (!isHost) actions.push(["Step down to the audience", "arrowDown", () => command("step_down")]);
    } else if (amModerator()) {
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

  function openAudienceMenu(member) {
    if (!amModerator() || member.user_id === ctx.me.id) return openProfileCard(ctx, member);
    const actions = [["Invite to speak", "mic", () => inviteToSpeak(member)]];
    if ((room.hands || []).some((x) => x.user_id === member.user_id)) {
      actions.push(["Dismiss raised hand", "hand", () => command("lower_hand", { user_id: member.user_id })]);
    }
    actions.push(...moderationActions(ctx, room, member, command));
    actions.push(["View profile", "users", () => openProfileCard(ctx, member)]);
    memberMenu(member.display_name, actions);
  }

  // -- other states ------------------------------------------------------------------------
  function showEnded() {
    left = true;
    if (invitePrompt) invitePrompt();
    media.close();
    const back = h("a", { href: "/", class: "btn btn-primary" }, "Back to the hallway");
    replace(el, h("div", { class: "card notice" },
      h("span", { class: "empty-icon", "aria-hidden": "true" }, icon("power")),
      h("h1", null, "This room has ended"),
      h("p", { class: "muted" }, room.title), back));
    back.focus();
  }

  function showBanned() {
    left = true;
    media.close();
    mediaStarted = false;
    replace(el, h("div", { class: "card notice" },
      h("h1", null, "A moderator removed you from this room"),
      h("p", { class: "muted" }, "You can't rejoin it for now."),
      h("div", { class: "dialog-actions center" }, h("a", { href: "/", class: "btn btn-primary" }, "Back to the hallway"))));
  }

  function showRemoved() {
    media.close();
    mediaStarted = false;
    const again = h("button", { type: "button", class: "btn btn-primary" }, "Rejoin");
    again.addEventListener("click", () => { location.reload(); });
    replace(el, h("div", { class: "card notice" },
      h("h1", null, "You're no longer in this room"),
      h("p", { class: "muted" }, "You were away for too long."),
      h("div", { class: "dialog-actions center" }, h("a", { href: "/", class: "btn btn-ghost" }, "Hallway"), again)));
  }

  function showProblem(message) {
    left = true;
    replace(el, h("div", { class: "card notice" },
      h("h1", null, "Can't open this room"),
      h("p", { class: "muted" }, message),
      h("a", { href: "/", class: "btn btn-primary" }, "Back to the hallway")));
  }

  join();

  return {
    el,
    title: "Room",
    focus: () => titleEl.focus({ preventScroll: true }),
    async destroy() {
      destroyed = true;
      clearTimeout(snapshotTimer);
      clearTimeout(waitingTimer);
      rt.removeEventListener("frame", onFrame);
      rt.removeEventListener("hello", onHello);
      media.removeEventListener("state", onMediaState);
      media.removeEventListener("autoplay", onAutoplay);
      audience.destroy();
      addons.destroy();
      if (invitePrompt) invitePrompt();
      ctx.roomState = null;
      if (!left) {
        left = true;
        rt.send("leave").catch(() => {});
        await media.close();
      }
    },
  };
}

/** A control's label: the long form, or the short one on narrow screens. */
function label(long, short) {
  return h("span", { class: "ctl-label" }, h("span", { class: "label-long" }, long),
    h("span", { class: "label-short" }, short));
}

function micMessage(err) {
  if (err && (err.name === "NotAllowedError" || err.name === "SecurityError")) {
    return "Microphone access was blocked. Allow it in your browser to speak.";
  }
  if (err && err.name === "NotFoundError") return "No microphone was found.";
  return `The microphone could not start${err && err.message ? `: ${err.message}` : "."}`;
}

// ------------------------------------------------------------------------------- audience

const TILE_W = 92;
const ROW_H = 96;
const PAGE = 100;
const OVERSCAN = 2;

/**
 * The audience as a virtualised grid: only the rows in view exist in the DOM. Small rooms use
 * the snapshot's list; large ones fetch pages from /rooms/{id}/audience as they scroll into view.
 */
function audienceList(ctx, roomId, onPick) {
  const spacer = h("div", { class: "aud-spacer", role: "list", "aria-label": "Listeners" });
  const scroller = h("div", { class: "aud-scroll", tabindex: "0", "aria-label": "Listeners, scrollable" }, spacer);
  const empty = h("p", { class: "muted small aud-empty", hidden: true }, "Nobody in the audience yet.");
  const el = h("div", { class: "aud" }, scroller, empty);
  let room = null;
  let moderator = false;
  let cols = 1;
  const pages = new Map();
  const loading = new Set();
  let generation = 0;
  let staleTimer = null;
  let lastFetch = 0;
  let frame = 0;

  function local() {
    return room && room.audience.length >= room.audience_count;
  }

  function memberAt(i) {
    if (local()) return room.audience[i];
    const page = pages.get(Math.floor(i / PAGE));
    return page ? page.members[i % PAGE] : undefined;
  }

  async function fetchPage(p) {
    const key = `${generation}:${p}`;
    if (loading.has(key)) return;
    loading.add(key);
    const gen = generation;
    try {
      const data = await get(`/rooms/${encodeURIComponent(roomId)}/audience?offset=${p * PAGE}&limit=${PAGE}`);
      pages.set(p, { gen, members: data.members });
      if (room && typeof data.count === "number" && gen === generation) room.audience_count = data.count;
      schedule();
    } catch { /* retried on the next scroll or change */ } finally {
      loading.delete(key);
    }
  }

  function schedule() {
    if (frame) return;
    frame = requestAnimationFrame(() => { frame = 0; draw(); });
  }

  function draw() {
    if (!room) return;
    const count = room.audience_count;
    empty.hidden = count > 0;
    scroller.hidden = count === 0;
    const width = scroller.clientWidth || 320;
    cols = Math.max(1, Math.floor(width / TILE_W));
    const rows = Math.ceil(count / cols);
    spacer.style.height = `${rows * ROW_H}px`;
    const top = scroller.scrollTop;
    const viewH = scroller.clientHeight || ROW_H * 4;
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(rows - 1, Math.ceil((top + viewH) / ROW_H) + OVERSCAN);
    const start = first * cols;
    const end = Math.min(count, (last + 1) * cols);
    if (!local()) {
      for (let p = Math.floor(start / PAGE); p <= Math.floor(Math.max(start, end - 1) / PAGE); p++) {
        const page = pages.get(p);
        if (!page || page.gen !== generation) fetchPage(p);
      }
    }
    const focusedId = document.activeElement && spacer.contains(document.activeElement)
      ? document.activeElement.dataset.userId : null;
    const nodes = [];
    const tileW = width / cols;
    for (let i = start; i < end; i++) {
      const m = memberAt(i);
      const style = { left: (i % cols) * tileW, top: Math.floor(i / cols) * ROW_H, width: tileW };
      nodes.push(m ? audienceTile(m, i, count, style) : placeholderTile(i, count, style));
    }
    replace(spacer, nodes);
    if (focusedId) spacer.querySelector(`[data-user-id="${focusedId}"]`)?.focus();
  }

  function audienceTile(m, i, count, pos) {
    const isMe = m.user_id === ctx.me.id;
    const raised = room.hands && room.hands.some((x) => x.user_id === m.user_id);
    const inner = [avatar(m, "md"), h("span", { class: "aud-name" }, isMe ? "You" : firstName(m.display_name)),
      raised ? h("span", { class: "hand-badge", title: "Hand raised" }, icon("hand")) : null];
    const label = `${m.display_name}${isMe ? " (you)" : ""}${raised ? ", hand raised" : ""}`;
    const item = !isMe
      ? h("button", { type: "button", class: "aud-tile", "aria-label": `${label}. ${moderator ? "Options" : "Profile"}`, dataset: { userId: m.user_id },
        onclick: () => onPick(m) }, inner)
      : h("div", { class: "aud-tile", title: m.display_name, "aria-label": label, dataset: { userId: m.user_id } }, inner);
    return position(h("div", { class: "aud-cell", role: "listitem", "aria-setsize": count, "aria-posinset": i + 1 }, item), pos);
  }

  function placeholderTile(i, count, pos) {
    return position(h("div", { class: "aud-cell", role: "listitem", "aria-setsize": count, "aria-posinset": i + 1 },
      h("div", { class: "aud-tile is-loading", "aria-label": "Loading" }, h("span", { class: "avatar avatar-md sk" }), h("span", { class: "sk sk-name" }))), pos);
  }

  function position(node, { left, top, width }) {
    node.style.transform = `translate(${left}px, ${top}px)`;
    node.style.width = `${width}px`;
    return node;
  }

  const onScroll = () => schedule();
  scroller.addEventListener("scroll", onScroll, { passive: true });
  const resize = new ResizeObserver(() => schedule());
  resize.observe(scroller);

  return {
    el,
    update(next, mod) {
      room = next;
      moderator = mod;
      schedule();
    },
    /** The audience changed: refresh fetched pages, at most once a second. */
    stale() {
      if (local()) return;
      clearTimeout(staleTimer);
      const wait = Math.max(0, 1000 - (Date.now() - lastFetch));
      staleTimer = setTimeout(() => { lastFetch = Date.now(); generation += 1; schedule(); }, wait);
    },
    destroy() {
      clearTimeout(staleTimer);
      if (frame) cancelAnimationFrame(frame);
      resize.disconnect();
    },
  };
}

function firstName(name) {
  return String(name).trim().split(/\s+/)[0] || name;
}

export { plural };

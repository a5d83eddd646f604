// What issue #12 adds to a room page (recording, clips, live captions), kept out of room.js:
// room.js makes one call and asks beforeAudio() before connecting the audio.

import { h } from "./dom.js";
import { roomRecording } from "./recording.js";
import { roomCaptions } from "./captions.js";

/** `page` is the room view's element, with its `.room-head` card already built. */
export function roomAddons(ctx, roomId, page) {
  const tools = h("div", { class: "room-tools", role: "group", "aria-label": "Recording and captions" });
  page.querySelector(".room-head")?.append(tools);
  const recording = roomRecording(ctx, roomId, page, tools);
  const captions = roomCaptions(ctx, roomId, page, tools);
  // The row shows only when one of its controls does.
  const fit = () => {
    const empty = ![...tools.children].some((c) => !c.hidden && !c.classList.contains("offscreen"));
    if (tools.hidden !== empty) tools.hidden = empty; // only on change: setting it is itself a mutation
  };
  const watch = new MutationObserver(fit);
  watch.observe(tools, { subtree: true, attributes: true, attributeFilter: ["hidden"], childList: true });
  fit();
  return {
    beforeAudio: (room) => recording.beforeAudio(room),
    destroy() {
      watch.disconnect();
      recording.destroy();
      captions.destroy();
    },
  };
}

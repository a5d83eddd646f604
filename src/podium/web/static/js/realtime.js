// One WebSocket to the server, numbered frames, resume after a drop.
//
// Frames: `hello` first, then numbered frames (`snapshot`, `event`, hallway updates), and
// unnumbered `reply`/`error` (matching a request `id`) and `ping` (answered with `pong`).

const BACKOFF = [250, 500, 1000, 2000, 4000, 8000];

export class Realtime extends EventTarget {
  constructor() {
    super();
    this.ws = null;
    this.session = null;
    this.lastSeq = 0;
    this.user = null;
    this.status = "idle"; // idle | connecting | open | reconnecting | closed
    this.nextId = 0;
    this.pending = new Map();
    this.attempt = 0;
    this.retryTimer = null;
    this.stopped = false;
    this.connectedOnce = false;
    // The room whose events we follow and the last revision seen: another node of the server
    // can resume us from that room's history when the one we were on is gone.
    this.roomId = null;
    this.roomRev = 0;
    // The newest notification id known: a node that resumes us elsewhere replays those after.
    this.notes = 0;
  }

  url() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let url = `${proto}//${location.host}/api/v1/ws`;
    if (this.session) {
      url += `?resume=${encodeURIComponent(this.session)}&last_seq=${this.lastSeq}`;
      if (this.roomId) url += `&room=${encodeURIComponent(this.roomId)}&rev=${this.roomRev}`;
      url += `&notes=${this.notes}`;
    }
    return url;
  }

  /** Open the socket; resolves at the first `hello`. */
  start() {
    this.stopped = false;
    if (this.ws) return this.ready;
    this.ready = new Promise((resolve) => { this.resolveReady = resolve; });
    this.open();
    return this.ready;
  }

  open() {
    clearTimeout(this.retryTimer);
    this.setStatus(this.connectedOnce ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.addEventListener("message", (e) => this.onMessage(ws, e.data));
    ws.addEventListener("close", (e) => this.onClose(ws, e));
  }

  onClose(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.failPending("The connection closed.");
    if (this.stopped) {
      this.setStatus("closed");
      return;
    }
    if (event.code === 4001) {
      this.setStatus("closed");
      this.dispatchEvent(new CustomEvent("signedout"));
      return;
    }
    this.setStatus("reconnecting");
    this.scheduleRetry();
  }

  scheduleRetry() {
    const delay = BACKOFF[Math.min(this.attempt, BACKOFF.length - 1)];
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  /** Reconnect now (e.g. when the browser says it is back online). */
  retryNow() {
    if (this.status === "reconnecting" && !this.ws) {
      this.attempt = 0;
      this.open();
    }
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
    this.session = null;
    this.lastSeq = 0;
    this.connectedOnce = false;
    this.setStatus("closed");
  }

  /** Close the socket as a network failure would (used by tests and the debug hook). */
  drop() {
    if (this.ws) this.ws.close(4100, "dropped");
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: status }));
  }

  onMessage(ws, text) {
    if (ws !== this.ws) return;
    let frame;
    try { frame = JSON.parse(text); } catch { return; }
    const type = frame.type;
    if (type === "hello") {
      const wasConnected = this.connectedOnce;
      const sameSession = this.session === frame.session;
      this.session = frame.session;
      this.user = frame.user;
      this.notes = Math.max(this.notes, Number(frame.notes) || 0);
      if (!frame.resumed) this.lastSeq = frame.seq;
      this.attempt = 0;
      this.connectedOnce = true;
      this.setStatus("open");
      this.dispatchEvent(new CustomEvent("hello", {
        detail: {
          resumed: frame.resumed, moved: Boolean(frame.moved), sameSession,
          reconnect: wasConnected, user: frame.user,
        },
      }));
      this.resolveReady?.();
      return;
    }
    if ((type === "reply" || type === "error") && this.pending.has(frame.id)) {
      const { resolve, reject } = this.pending.get(frame.id);
      this.pending.delete(frame.id);
      if (type === "reply") resolve(frame.data);
      else reject(Object.assign(new Error(frame.message || "Something went wrong."), { code: frame.error }));
      return;
    }
    if (type === "ping") {
      this.sendRaw({ type: "pong" });
      return;
    }
    if (type === "error") {
      this.dispatchEvent(new CustomEvent("servererror", { detail: frame }));
      return;
    }
    if (typeof frame.seq === "number") {
      if (frame.seq <= this.lastSeq) return; // already seen
      this.lastSeq = frame.seq;
      this.followRoom(frame);
      this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
    }
  }

  followRoom(frame) {
    if (frame.type === "notification" && frame.notification) {
      this.notes = Math.max(this.notes, Number(frame.notification.id) || 0);
    } else if (frame.type === "snapshot" && frame.room) {
      this.roomId = frame.room.room_id;
      this.roomRev = frame.room.rev;
    } else if (frame.type === "event" && frame.room_id === this.roomId && frame.rev > this.roomRev) {
      this.roomRev = frame.rev;
      const ev = frame.event || {};
      if (ev.type === "room_ended" || (ev.type === "member_removed" && ev.user_id === this.user?.id)) {
        this.roomId = null;
      }
    }
  }

  sendRaw(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  /** Send a command; resolves with the reply's data, rejects with the server's message. */
  async send(type, fields = {}, timeoutMs = 20000) {
    if (this.status !== "open") {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.removeEventListener("hello", onHello);
          reject(new Error("Not connected. Trying again…"));
        }, timeoutMs);
        const onHello = () => { clearTimeout(timer); resolve(); };
        this.addEventListener("hello", onHello, { once: true });
      });
    }
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) reject(new Error("The server did not answer in time."));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      if (!this.sendRaw({ id, type, ...fields })) {
        this.pending.delete(id);
        clearTimeout(timer);
        reject(new Error("Not connected. Trying again…"));
      }
    });
  }

  failPending(message) {
    for (const { reject } of this.pending.values()) reject(new Error(message));
    this.pending.clear();
  }
}

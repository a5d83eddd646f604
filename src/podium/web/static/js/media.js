// Audio: ONE RTCPeerConnection per participant to the server.
//
// The browser offers one `sendrecv` audio transceiver even as a listener, so going on stage
// needs no renegotiation: the microphone track is put in with `sender.replaceTrack`.
// The server decides who is heard; muting here also disables the local track.

const GATHER_TIMEOUT_MS = 3000;

function testOptions() {
  return (typeof window !== "undefined" && window.PODIUM_TEST) || {};
}

export class Media extends EventTarget {
  constructor() {
    super();
    this.pc = null;
    this.sender = null;
    this.mic = null;
    this.muted = false;
    this.audio = null;
    this.remoteStream = null;
    this.ctx = null;
    this.analyser = null;
    this.blocked = false;
    this.generation = 0;
    this.state = "idle"; // idle | connecting | connected | failed | closed
  }

  /** Connect audio for the room; `offer(sdp)` sends the offer and resolves with the answer. */
  async connect(offer) {
    this.closePeer();
    const generation = ++this.generation;
    const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle" });
    this.pc = pc;
    this.setState("connecting");
    const transceiver = pc.addTransceiver("audio", { direction: "sendrecv" });
    this.sender = transceiver.sender;
    if (this.mic) {
      await this.sender.replaceTrack(this.mic);
    }
    pc.addEventListener("track", (e) => this.onTrack(e));
    pc.addEventListener("connectionstatechange", () => {
      if (pc !== this.pc) return;
      const s = pc.connectionState;
      if (s === "connected") this.setState("connected");
      else if (s === "failed" || s === "closed") this.setState("failed");
    });
    const desc = await pc.createOffer();
    await pc.setLocalDescription(desc);
    await this.gathered(pc);
    if (generation !== this.generation) return;
    const answer = await offer(pc.localDescription.sdp);
    if (generation !== this.generation) return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  }

  gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (pc.iceGatheringState === "complete") {
          pc.removeEventListener("icegatheringstatechange", done);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
      pc.addEventListener("icegatheringstatechange", done);
    });
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  onTrack(event) {
    const stream = event.streams[0] || new MediaStream([event.track]);
    this.remoteStream = stream;
    if (!this.audio) {
      this.audio = document.createElement("audio");
      this.audio.autoplay = true;
      this.audio.className = "offscreen";
      this.audio.setAttribute("aria-hidden", "true");
      document.body.append(this.audio);
    }
    this.audio.srcObject = stream;
    this.play();
    this.attachAnalyser(stream);
  }

  /** Start playback; if the browser blocks autoplay, ask for one tap. */
  async play() {
    if (!this.audio) return;
    try {
      await this.audio.play();
      if (this.ctx && this.ctx.state === "suspended") await this.ctx.resume();
      this.setBlocked(false);
    } catch (err) {
      if (err && err.name === "NotAllowedError") this.setBlocked(true);
    }
  }

  setBlocked(blocked) {
    if (blocked === this.blocked) return;
    this.blocked = blocked;
    this.dispatchEvent(new CustomEvent("autoplay", { detail: blocked }));
  }

  attachAnalyser(stream) {
    try {
      if (!this.ctx) this.ctx = new AudioContext();
      if (this.source) this.source.disconnect();
      this.source = this.ctx.createMediaStreamSource(stream);
      if (!this.analyser) {
        this.analyser = this.ctx.createAnalyser();
        this.analyser.fftSize = 8192;
        this.analyser.smoothingTimeConstant = 0.2;
        // Keep the analyser in a rendered graph without playing anything twice.
        const sink = this.ctx.createGain();
        sink.gain.value = 0;
        this.analyser.connect(sink);
        sink.connect(this.ctx.destination);
      }
      this.source.connect(this.analyser);
      if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
    } catch {
      // Analysis is only for levels and tests: playback works without it.
    }
  }

  /** The strongest frequency in what we receive, in Hz; null when (nearly) silent. */
  dominantFrequency(minDb = -75) {
    const a = this.analyser;
    if (!a || !this.ctx) return null;
    const bins = new Float32Array(a.frequencyBinCount);
    a.getFloatFrequencyData(bins);
    let best = -1;
    let bestDb = -Infinity;
    const binHz = this.ctx.sampleRate / a.fftSize;
    const lo = Math.floor(50 / binHz);
    for (let i = Math.max(1, lo); i < bins.length - 1; i++) {
      if (bins[i] > bestDb) { bestDb = bins[i]; best = i; }
    }
    if (best < 0 || bestDb < minDb) return null;
    // Parabolic interpolation around the peak (on dB values) for sub-bin accuracy.
    const [l, c, r] = [bins[best - 1], bins[best], bins[best + 1]];
    const denom = l - 2 * c + r;
    const shift = denom !== 0 ? 0.5 * (l - r) / denom : 0;
    return (best + shift) * binHz;
  }

  /** RMS level of what we receive, 0..1. */
  level() {
    const a = this.analyser;
    if (!a) return 0;
    const data = new Float32Array(a.fftSize);
    a.getFloatTimeDomainData(data);
    let sum = 0;
    for (const v of data) sum += v * v;
    return Math.sqrt(sum / data.length);
  }

  /** Turn the microphone on (asks permission now) and send it. */
  async startMic() {
    if (!this.mic || this.mic.readyState === "ended") {
      const raw = testOptions().rawMic;
      const constraints = raw
        ? { audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } }
        : { audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } };
      const stream = await navigator.mediaDevices.getUserMedia(constraints);
      this.mic = stream.getAudioTracks()[0];
    }
    this.mic.enabled = !this.muted;
    if (this.sender) await this.sender.replaceTrack(this.mic);
  }

  /** Stop sending and release the microphone. */
  async stopMic() {
    if (this.sender) {
      try { await this.sender.replaceTrack(null); } catch { /* closed */ }
    }
    if (this.mic) this.mic.stop();
    this.mic = null;
  }

  setMuted(muted) {
    this.muted = muted;
    if (this.mic) this.mic.enabled = !muted;
  }

  closePeer() {
    this.generation += 1;
    if (this.pc) {
      try { this.pc.close(); } catch { /* already closed */ }
    }
    this.pc = null;
    this.sender = null;
  }

  /** Leave: close the connection, release the microphone, stop playback. */
  async close() {
    this.closePeer();
    await this.stopMic();
    if (this.audio) {
      this.audio.srcObject = null;
      this.audio.remove();
      this.audio = null;
    }
    if (this.source) { this.source.disconnect(); this.source = null; }
    this.remoteStream = null;
    this.setBlocked(false);
    this.setState("closed");
  }
}

"""Mouth-to-ear delay and PESQ through Podium's engine vs a direct peer-to-peer path.

One speaker peer and one decoding listener peer (both aiortc, in this process). Paths:

* ``p2p``: speaker -> listener directly (one loopback hop): the baseline;
* ``podium``: speaker -> bench_server.py (the engine under test, pinned to core 0) -> listener.

Delay: the speaker sends a 5 ms click at the start of every 25th 20 ms frame (every 500 ms)
and logs when each frame left its track; the listener logs when each decoded frame arrived.
delay = arrival of the RTP packet holding a click onset - send time of that click's frame.
Both ends are in one process (one monotonic clock). The p2p figure is the client-side part
(encode, packetize, SRTP, loopback; no client jitter buffer); "added by the server" =
podium - p2p.

PESQ (ITU-T P.862.2 wide band, ``pesq`` package): the speech clip is sent once, the decoded
RTP packets are decoded in timestamp order (gaps stay silent: no packet loss concealment,
see ``Recorder``), resampled to 16 kHz, aligned by cross-correlation and scored. With loss,
each rate is run ``--trials`` times (3) with seeded drop patterns, the same seeds on both
paths, and the mean is reported (one run's score moves by ±0.3 with the pattern). Loss is
injected in-process on RTP only (this kernel has no ``sch_netem``): each loopback hop drops
a packet with probability p, like ``netem loss p`` on ``lo`` would (p2p: 1 hop, podium: 2).

Browser-like ends (both off by default, so figures stay comparable with earlier runs):
``--speaker-fec`` makes the speaker send what Chromium sends when the answer says
``useinbandfec=1`` and loss is reported (libopus, mono, FEC on, the encoder's expected loss
set from what the receiver reports say: the injected loss, or Podium's floor; 32 kbps, or
the answer's ``maxaveragebitrate``, as Chromium takes it);
``--listener-conceal`` makes the listener decode like NetEq: a single missing packet is
rebuilt from the next one's FEC data, anything else missing is concealed by libopus (PLC)
(``benchlib/opusdec.py``). Each applies to both paths.

Prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamTrack  # noqa: E402
from av import CodecContext  # noqa: E402
from av.audio.frame import AudioFrame  # noqa: E402
from av.packet import Packet  # noqa: E402
from benchlib.audio import FRAME, Samples, click_train, load48, to_16k  # noqa: E402
from benchlib.listener import SilentTrack, is_rtp  # noqa: E402
from benchlib.procstat import percentile  # noqa: E402
from benchlib.signalling import podium_request  # noqa: E402

from podium.media import ice  # noqa: E402
from podium.media.mixer import to_mono  # noqa: E402

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
SOCKET = "/tmp/podium-quality.sock"
CLICK_EVERY = 25  # frames: 500 ms


class ClipTrack(MediaStreamTrack):
    """Silent until ``play()``; then the clip once (then silence), paced at 20 ms.

    Logs each frame's send time.
    """

    kind = "audio"

    def __init__(self, clip: Samples, fec: bool = False, loss: float = 0.0) -> None:
        super().__init__()
        self.clip = clip
        self.encoder = browser_encoder(loss) if fec else None
        self.index = 0
        self.sent_at: list[float] = []
        self.start: float | None = None
        self.armed = asyncio.Event()

    def play(self) -> None:
        self.armed.set()

    async def recv(self) -> AudioFrame | Packet:
        await self.armed.wait()
        loop = asyncio.get_running_loop()
        if self.start is None:
            self.start = loop.time()
        due = self.start + self.index * 0.02
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        chunk = self.clip[self.index * FRAME : (self.index + 1) * FRAME]
        if chunk.size < FRAME:
            chunk = np.concatenate([chunk, np.zeros(FRAME - chunk.size, dtype=np.int16)])
        frame = AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self.index * FRAME
        frame.time_base = Fraction(1, 48000)
        self.sent_at.append(time.monotonic())
        self.index += 1
        if self.encoder is not None:  # pre-encoded: aiortc's sender sends it as it is
            packets = self.encoder.encode(frame)
            if packets:
                packet = packets[-1]
                packet.pts, packet.time_base = frame.pts, frame.time_base
                return packet
        return frame


def _reported_loss_floor() -> float:
    """What Podium's receiver reports claim at least (0 for an engine without the setting)."""
    try:
        from podium.config import Settings

        settings = Settings(secret_key="bench")
        passthrough = getattr(settings, "media_passthrough", False)
        return settings.media_expected_loss_percent / 100 if passthrough else 0.0
    except Exception:
        return 0.0


REPORTED_LOSS_FLOOR = _reported_loss_floor()


def browser_encoder(loss: float, bitrate: int = 32000) -> Any:
    """libopus as Chromium runs it with ``useinbandfec=1`` and ``loss`` reported; at 32 kbps,
    Chromium's default for mono, or the answer's ``maxaveragebitrate``, which it follows."""
    codec = CodecContext.create("libopus", "w")
    codec.bit_rate = bitrate
    codec.format = "s16"
    codec.layout = "mono"
    codec.sample_rate = 48000
    codec.time_base = Fraction(1, 48000)
    codec.options = {"application": "voip", "fec": "1", "packet_loss": str(round(loss * 100))}
    return codec


class Recorder:
    """Keeps every received RTP packet (after SRTP) with its arrival time; decodes later.

    aiortc's own receive path is bypassed on purpose: its audio jitter buffer (capacity 16,
    prefetch 4) adds 80 ms and, after a single lost packet, discards runs of up to ~13
    frames (measured: 245 of 351 frames out at 5 % loss), which would be scored against
    the server. Here packets are decoded in RTP-timestamp order with libopus, a lost packet
    leaves 20 ms of silence (no concealment), and delay uses each packet's arrival time.
    """

    def __init__(self, conceal: bool = False) -> None:
        self.conceal = conceal
        self.packets: list[tuple[float, int, bytes]] = []  # (arrival, rtp timestamp, payload)

    def attach(self, pc: RTCPeerConnection) -> None:
        async def handle(packet: Any, arrival_time_ms: int) -> None:
            self.packets.append((time.monotonic(), packet.timestamp, packet.payload))

        for receiver in pc.getReceivers():
            setattr(receiver, "_handle_rtp_packet", handle)  # noqa: B010

    def clear(self) -> None:
        self.packets.clear()

    def decoded(self) -> list[tuple[float, int, Samples]]:
        """(arrival, timestamp relative to the first packet, mono samples), arrival order."""
        if not self.packets:
            return []
        decoder = CodecContext.create("libopus", "r")
        first = self.packets[0][1]
        out = []
        for arrival, ts, payload in self.packets:
            for frame in decoder.decode(Packet(payload)):
                samples = to_mono(frame.to_ndarray(), len(frame.layout.channels))
                out.append((arrival, (ts - first) & 0xFFFFFFFF, samples))
        return out

    def timeline(self) -> Samples:
        if self.conceal:
            from benchlib.opusdec import ConcealingDecoder

            if not self.packets:
                return np.zeros(0, dtype=np.int16)
            first = self.packets[0][1]
            return ConcealingDecoder().timeline(
                [((ts - first) & 0xFFFFFFFF, payload) for _, ts, payload in self.packets]
            )
        frames = self.decoded()
        if not frames:
            return np.zeros(0, dtype=np.int16)
        end = max(ts + s.size for _, ts, s in frames)
        out = np.zeros(end, dtype=np.int16)
        for _, ts, s in frames:
            out[ts : ts + s.size] = s
        return out


def _pair_protocols(pc: RTCPeerConnection) -> list[Any]:
    dtls = pc.getTransceivers()[0].sender.transport
    return list(dtls.transport._connection._protocols)


def drop_incoming(pc: RTCPeerConnection, p: float, rng: random.Random) -> None:
    for protocol in _pair_protocols(pc):
        original = protocol.datagram_received

        def receive(data: bytes, addr: Any, original: Any = original) -> None:
            if is_rtp(data) and rng.random() < p:
                return
            original(data, addr)

        protocol.datagram_received = receive


def drop_outgoing(pc: RTCPeerConnection, p: float, rng: random.Random) -> None:
    for protocol in _pair_protocols(pc):
        original = protocol.send_data

        async def send(data: bytes, addr: Any, original: Any = original) -> None:
            if is_rtp(data) and rng.random() < p:
                return
            await original(data, addr)

        protocol.send_data = send


async def _wait_connected(*pcs: RTCPeerConnection, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while any(pc.connectionState != "connected" for pc in pcs):  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def session(
    path: str,
    clip: Samples,
    seconds: float,
    loss: float,
    browser: tuple[bool, bool] = (False, False),
    seed: int = 0,
) -> tuple[ClipTrack, Recorder]:
    """Connect speaker and listener over ``path``, play ``clip`` once, record ``seconds``."""
    # Chromium sizes its FEC from the loss our receiver reports tell it: the real loss of
    # its one hop (p2p), or at least media_expected_loss_percent from Podium while it
    # forwards the speaker's packets (host.ReportedStatistics; a test checks the reports).
    reported = loss if path == "p2p" else max(loss, REPORTED_LOSS_FLOOR)
    track = ClipTrack(clip, fec=browser[0], loss=reported)
    recorder = Recorder(conceal=browser[1])
    speaker = RTCPeerConnection(ice.rtc_configuration([]))
    listener = RTCPeerConnection(ice.rtc_configuration([]))
    speaker.addTransceiver(track, direction="sendrecv")  # silent until play()
    try:
        if path == "p2p":
            with ice.host_addresses([HOST]):
                await speaker.setLocalDescription(await speaker.createOffer())
                await listener.setRemoteDescription(speaker.localDescription)
                await listener.setLocalDescription(await listener.createAnswer())
            await speaker.setRemoteDescription(listener.localDescription)
        else:
            listener.addTransceiver(SilentTrack(), direction="sendrecv")
            for uid, pc in ((1, speaker), (2, listener)):
                with ice.host_addresses([HOST]):
                    await pc.setLocalDescription(await pc.createOffer())
                reply = await podium_request(
                    SOCKET,
                    {"op": "connect", "room": "q", "uid": uid, "sdp": pc.localDescription.sdp},
                )
                await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
                asked = re.search(r"maxaveragebitrate=(\d+)", reply["sdp"])
                if pc is speaker and asked and track.encoder is not None:
                    track.encoder = browser_encoder(reported, int(asked.group(1)))
        await _wait_connected(speaker, listener)
        recorder.attach(listener)
        if loss:
            # One seeded generator per hop: trial k drops the same way on every path.
            drop_outgoing(speaker, loss, random.Random(seed))  # hop 1
            if path != "p2p":
                drop_incoming(listener, loss, random.Random(seed + 1000))  # hop 2
        await asyncio.sleep(1.0)  # let the path settle before the clip starts
        recorder.clear()
        track.play()
        await asyncio.sleep(seconds)
    finally:
        await speaker.close()
        await listener.close()
        if path != "p2p":
            for uid in (1, 2):
                await podium_request(SOCKET, {"op": "disconnect", "room": "q", "uid": uid})
    return track, recorder


def click_delays(track: ClipTrack, recorder: Recorder) -> dict[str, Any]:
    sends = [t for i, t in enumerate(track.sent_at) if i % CLICK_EVERY == 0]
    delays: list[float] = []
    quiet = True
    for arrived, _, samples in recorder.decoded():
        loud = int(np.max(np.abs(samples))) > 3000 if samples.size else False
        if loud and quiet:
            before = [s for s in sends if s <= arrived]
            if before and arrived - before[-1] < 0.45:
                delays.append((arrived - before[-1]) * 1000)
        quiet = not loud
    return {
        "sent": len(sends),
        "matched": len(delays),
        "p50_ms": percentile(delays, 50),
        "p95_ms": percentile(delays, 95),
        "all_ms": [round(d, 1) for d in delays],
    }


def pesq_score(reference48: Samples, recorder: Recorder) -> float:
    from pesq import pesq
    from scipy.signal import correlate

    ref = to_16k(reference48)
    deg = to_16k(recorder.timeline())
    if deg.size < ref.size // 2:
        return float("nan")
    corr = correlate(deg, ref, mode="full", method="fft")
    lag = int(np.argmax(corr)) - (ref.size - 1)
    deg = deg[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag), deg])
    deg = np.concatenate([deg, np.zeros(max(0, ref.size - deg.size))])[: ref.size]
    return float(pesq(16000, ref.astype(np.float32), deg.astype(np.float32), "wb"))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    clicks = click_train(args.delay_seconds)
    speech = load48(args.wav)
    speech = np.concatenate([np.zeros(FRAME * 10, dtype=np.int16), speech])
    result: dict[str, Any] = {"delay": {}, "pesq": {}, "pesq_trials": {},
                              "loss_injection": "in-process, RTP only",
                              "speaker_fec": args.speaker_fec,
                              "listener_conceal": args.listener_conceal}  # fmt: skip
    for path in ("p2p", "podium"):
        track, rec = await session(path, clicks, args.delay_seconds + 0.5, 0.0)
        result["delay"][path] = click_delays(track, rec)
        print(f"delay {path}: {result['delay'][path]['p50_ms']:.1f} ms p50", file=sys.stderr)
        scores: dict[str, float] = {}
        for loss in args.losses:
            runs = []
            for trial in range(args.trials if loss else 1):
                track, rec = await session(
                    path,
                    speech,
                    speech.size / 48000 + 1.0,
                    loss,
                    (args.speaker_fec, args.listener_conceal),
                    seed=trial,
                )
                runs.append(round(pesq_score(speech, rec), 3))
            key = f"{loss:.0%}"
            scores[key] = round(sum(runs) / len(runs), 3)  # the mean over the trials
            result["pesq_trials"].setdefault(path, {})[key] = runs
            print(f"pesq {path} loss {key}: {scores[key]} {runs}", file=sys.stderr)
        result["pesq"][path] = scores
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--engine", default="podium.media.embedded.EmbeddedEngine")
    parser.add_argument("--wav", required=True, help="speech clip (any rate, 16-bit)")
    parser.add_argument("--log-dir", default="/tmp")
    parser.add_argument("--delay-seconds", type=float, default=15.0)
    parser.add_argument("--losses", default="0,0.02,0.05")
    parser.add_argument("--speaker-fec", action="store_true", help="speaker sends Opus FEC")
    parser.add_argument("--listener-conceal", action="store_true", help="listener FEC + PLC")
    parser.add_argument(
        "--trials", type=int, default=3, help="runs per loss rate > 0 (seeds 0..N-1; mean kept)"
    )
    args = parser.parse_args()
    args.losses = [float(x) for x in args.losses.split(",")]
    err = open(os.path.join(args.log_dir, "quality-server.err"), "w")  # noqa: SIM115
    server = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, str(HERE / "bench_server.py"), "--engine",
         args.engine, "--speakers", "1", "--room", "q", "--socket", SOCKET],
        stdout=subprocess.PIPE, stderr=err,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        server.stdout.readline()  # {"event": "ready"}
        result = asyncio.run(run(args))
    finally:
        server.terminate()
        server.wait(10)
        err.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""``ClientPeer``: the client side of one Podium audio connection (Python client and bot).

One sendrecv audio transceiver, offered even without anything to play, so a listener who is
promoted to the stage can start sending without renegotiating. The outgoing audio comes from
a switchable source (``play_file`` / ``stop_playing``); everything received is recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
import wave
from enum import Enum
from fractions import Fraction
from typing import Any

import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.audio.frame import AudioFrame
from av.frame import Frame
from av.packet import Packet

from podium.media import ice
from podium.media.analysis import read_wav
from podium.media.engine import MediaEngineError, SessionDescription
from podium.media.mixer import FRAME_SAMPLES, SAMPLE_RATE, Samples, to_mono
from podium.media.opus import OpusStream

log = logging.getLogger(__name__)

_TIME_BASE = Fraction(1, SAMPLE_RATE)
_RESYNC_SECONDS = 0.1  # further behind than this (e.g. after idling) = jump, don't burst
# What a browser sends when our answer says useinbandfec=1 and some loss is reported: Opus
# with in-band FEC, so the server rebuilds a single lost packet from the next one.
UPLINK_BITRATE = 48_000
UPLINK_EXPECTED_LOSS = 10


class ClientState(Enum):
    NEW = "new"
    OFFERED = "offered"
    ANSWERED = "answered"
    CLOSED = "closed"


# aiortc's sender keeps its encoder in this (name-mangled) attribute and only creates one when
# it is None; aiortc is pinned, and tests/media/test_media_canary.py checks the name.
SENDER_ENCODER_ATTRIBUTE = "_RTCRtpSender__encoder"


class FecOpusEncoder:
    """Stands in for aiortc's Opus encoder on our sender: the same interface, with in-band FEC.

    Giving aiortc frames (not pre-encoded packets) keeps the audio-level header extension it
    computes from each frame, which Janus's AudioBridge needs to tell who is talking.
    """

    def __init__(self) -> None:
        self._stream = OpusStream(UPLINK_BITRATE, expected_loss=UPLINK_EXPECTED_LOSS)

    def encode(self, frame: Frame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        assert isinstance(frame, AudioFrame) and frame.pts is not None
        samples = frame.to_ndarray().reshape(-1).astype(np.int16, copy=False)
        packet = self._stream.encode(samples, frame.pts)
        return ([bytes(packet)], frame.pts) if packet is not None else ([], 0)

    def pack(self, packet: Packet[Any]) -> tuple[list[bytes], int]:
        return [bytes(packet)], int(packet.pts or 0)


class _SourceTrack(MediaStreamTrack):
    """Outgoing audio: paced 20 ms frames from the current clip; nothing while idle.

    Sending nothing while idle keeps a listener's client cheap (no Opus encoding). Frames are
    encoded by ``FecOpusEncoder`` inside aiortc's sender (aiortc's own encoder has no FEC).
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._clip: Samples | None = None
        self._loop_clip = True
        self._pos = 0
        self._pts = 0
        self._origin: float | None = None  # loop time of pts 0
        self._wake = asyncio.Event()

    def play(self, clip: Samples, loop: bool) -> None:
        self._clip, self._loop_clip, self._pos = clip, loop, 0
        self._wake.set()

    def clear(self) -> None:
        self._clip = None

    def stop(self) -> None:
        super().stop()
        self._wake.set()

    async def recv(self) -> Frame | Packet[Any]:
        while self._clip is None:
            if self.readyState != "live":
                raise MediaStreamError
            self._wake.clear()
            await self._wake.wait()
        if self.readyState != "live":
            raise MediaStreamError
        await self._pace()
        pts = self._pts
        self._pts += FRAME_SAMPLES
        frame = AudioFrame.from_ndarray(
            self._next_chunk().reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, pts, _TIME_BASE
        return frame

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._origin is None:
            self._origin = now
        due = self._origin + self._pts / SAMPLE_RATE
        if now - due > _RESYNC_SECONDS:
            # Resume after idling: move pts to "now" so RTP timestamps show the real gap.
            frames_behind = int((now - due) * SAMPLE_RATE) // FRAME_SAMPLES
            self._pts += frames_behind * FRAME_SAMPLES
            due = self._origin + self._pts / SAMPLE_RATE
        if due > now:
            await asyncio.sleep(due - now)

    def _next_chunk(self) -> Samples:
        clip = self._clip
        if clip is None or clip.size == 0:
            return np.zeros(FRAME_SAMPLES, dtype=np.int16)
        chunk = clip[self._pos : self._pos + FRAME_SAMPLES]
        self._pos += chunk.size
        while chunk.size < FRAME_SAMPLES:
            if not self._loop_clip:
                self._clip = None  # one-shot clip finished: back to sending nothing
                pad = np.zeros(FRAME_SAMPLES - chunk.size, dtype=np.int16)
                return np.concatenate([chunk, pad])
            take = clip[: FRAME_SAMPLES - chunk.size]
            chunk = np.concatenate([chunk, take])
            self._pos = take.size
        return chunk


class ClientPeer:
    """One client connection: ``create_offer`` -> (signalling) -> ``accept_answer``."""

    def __init__(
        self,
        ice_hosts: list[str] | None = None,
        stun_urls: list[str] | None = None,
        *,
        decode_audio: bool = True,
    ) -> None:
        """``decode_audio=False`` makes a load-testing listener: received RTP packets are
        counted (``packets_received``, ``first_audio_at``) but never decoded or recorded, so
        one process can simulate many listeners without starving on per-peer decoder threads.
        """
        self._decode = decode_audio
        self._rtp_packets = 0
        self._hosts = ice.validate_hosts(ice_hosts or [])
        self._pc = RTCPeerConnection(ice.rtc_configuration(stun_urls or []))
        self._source = _SourceTrack()
        self._state = ClientState.NEW
        self._changed = asyncio.Event()
        self._recorder: asyncio.Task[None] | None = None
        self._chunks: list[Samples] = []
        self.frames_received = 0
        self.first_audio_at: float | None = None
        self._pc.add_listener("track", self._on_track)
        self._pc.add_listener("connectionstatechange", self._changed.set)

    @property
    def connection_state(self) -> str:
        return str(self._pc.connectionState)

    async def create_offer(self) -> SessionDescription:
        if self._state is not ClientState.NEW:
            raise MediaEngineError(f"cannot create an offer in state {self._state.value}")
        sender = self._pc.addTransceiver(self._source, direction="sendrecv").sender
        if not hasattr(sender, SENDER_ENCODER_ATTRIBUTE):
            raise RuntimeError("aiortc's sender changed: see SENDER_ENCODER_ATTRIBUTE")
        setattr(sender, SENDER_ENCODER_ATTRIBUTE, FecOpusEncoder())
        offer = await self._pc.createOffer()
        with ice.host_addresses(self._hosts):
            await self._pc.setLocalDescription(offer)  # gathers all candidates (no trickle)
        self._state = ClientState.OFFERED
        local = self._pc.localDescription
        return SessionDescription(sdp=local.sdp, type=local.type)

    async def accept_answer(self, answer: SessionDescription) -> None:
        if self._state is not ClientState.OFFERED:
            raise MediaEngineError(f"cannot accept an answer in state {self._state.value}")
        if answer.type != "answer":
            raise MediaEngineError(f"expected an SDP answer, got {answer.type!r}")
        try:
            await self._pc.setRemoteDescription(
                RTCSessionDescription(sdp=answer.sdp, type="answer")
            )
        except Exception as exc:
            raise MediaEngineError(f"bad SDP answer: {exc}") from exc
        self._state = ClientState.ANSWERED

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109 (brief's API)
        """Return once connected; ``TimeoutError`` on timeout, ``MediaEngineError`` on failure."""
        async with asyncio.timeout(timeout):
            while self._pc.connectionState != "connected":
                if self._pc.connectionState in ("failed", "closed"):
                    raise MediaEngineError(f"connection {self._pc.connectionState}")
                self._changed.clear()
                await self._changed.wait()

    def play_file(self, path: str, loop: bool = True) -> None:
        """Send this WAV file from the next frame on (replaces whatever was playing)."""
        self._source.play(read_wav(path), loop)

    def stop_playing(self) -> None:
        self._source.clear()

    def recorded(self) -> Samples:
        """Everything received so far, mono int16 at 48 kHz."""
        if not self._chunks:
            return np.zeros(0, dtype=np.int16)
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]  # compact, so repeated calls stay cheap
        return self._chunks[0].copy()

    def save_recording(self, path: str) -> None:
        with wave.open(path, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(self.recorded().tobytes())

    async def packets_received(self) -> int:
        """RTP packets received on the audio track (from aiortc's inbound stats)."""
        if not self._decode:
            return self._rtp_packets
        report = await self._pc.getStats()
        return sum(
            int(getattr(s, "packetsReceived", 0))
            for s in report.values()
            if getattr(s, "type", "") == "inbound-rtp"
        )

    async def close(self) -> None:
        if self._state is ClientState.CLOSED:
            return
        self._state = ClientState.CLOSED
        self._source.stop()
        if self._recorder is not None:
            self._recorder.cancel()
            await asyncio.gather(self._recorder, return_exceptions=True)
        await self._pc.close()

    # Recording starts the moment the remote track appears, whatever it carries.
    def _on_track(self, track: Any) -> None:
        if not self._decode:
            self._count_only()
            return
        if track.kind == "audio" and self._recorder is None:
            self._recorder = asyncio.create_task(self._record(track))

    def _count_only(self) -> None:
        # aiortc has no public "don't decode" switch, and ``receiver._enabled = False`` also
        # drops the stats; so replace the receiver's private RTP handler with a counter.
        async def count(packet: Any, arrival_time_ms: int) -> None:
            if self.first_audio_at is None:
                self.first_audio_at = time.monotonic()
            self._rtp_packets += 1

        for receiver in self._pc.getReceivers():
            setattr(receiver, "_handle_rtp_packet", count)  # noqa: B010 (method override)

    async def _record(self, track: Any) -> None:
        try:
            while True:
                frame = await track.recv()
                if not isinstance(frame, AudioFrame):
                    continue
                if self.first_audio_at is None:
                    self.first_audio_at = time.monotonic()
                self._chunks.append(to_mono(frame.to_ndarray(), len(frame.layout.channels)))
                self.frames_received += 1
        except MediaStreamError:
            pass

"""``LegacyEngine``: Podium's first in-process aiortc engine, kept as a benchmark baseline.

Not part of the product: nothing under src/ imports it. Every listener packet goes through
aiortc's own ``RTCRtpSender`` (~30 µs each), in one process. ``podium.media.embedded.
EmbeddedEngine`` replaced it; select this one by dotted path to measure the difference
(bench_server.py puts this folder on ``sys.path``)::

    bench_server.py --engine legacy_engine.LegacyEngine
    run_all.sh --engine legacy_engine.LegacyEngine

Per room: every participant has one ``RTCPeerConnection``. Their decoded audio is kept only
while they are in the room's heard set; a 20 ms mixer task sums the heard speakers, encodes
the mix **once** with Opus and hands that same ``av.Packet`` to every listener's outbound
track (aiortc's sender passes a yielded ``Packet`` straight to ``OpusEncoder.pack``, with no
re-encoding). A heard speaker who is talking gets their own mix-minus, encoded separately.
It imports Podium's mixer, ICE and offer checks, so it measures today's versions of those;
tests/media/test_media_legacy.py keeps it working. See shared/reference/media-engines.md for
the costs behind this shape.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.audio.frame import AudioFrame
from av.frame import Frame

from podium.config import Settings
from podium.media import ice, tasks
from podium.media.engine import (
    EngineStats,
    LevelsCallback,
    MediaEngineError,
    NoCaptions,
    PeerGoneCallback,
    RecordingSink,
    SessionDescription,
)
from podium.media.mixer import (
    FRAME_MS,
    SAMPLE_RATE,
    FrameChunker,
    LevelMeter,
    Samples,
    mix_frames,
    to_mono,
)
from podium.media.offer import check_offer
from podium.media.opus import AnyPacket, OpusStream, prefer_opus

log = logging.getLogger(__name__)

FRAME_SECONDS = FRAME_MS / 1000
LEVELS_EVERY_TICKS = 10  # 200 ms: ~5 level reports a second
JITTER_MAX_FRAMES = 3  # a speaker is never more than 60 ms behind in the mix
STALE_SECONDS = 0.1  # frames that waited longer than this are dropped, not mixed late
MAX_LAG_SECONDS = 0.2  # after a longer stall the clock resyncs instead of bursting
_NOBODY: frozenset[int] = frozenset()


class EngineState(Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSED = "closed"


class PeerState(Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    GONE = "gone"  # failed/closed by the remote side; cleanup scheduled
    CLOSED = "closed"  # removed by us (or after GONE cleanup)


class OutboundTrack(MediaStreamTrack):
    """Yields the latest pushed packet; a slow sender skips packets instead of queueing them."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._latest: AnyPacket | None = None
        self._ready = asyncio.Event()

    def push(self, packet: AnyPacket) -> None:
        self._latest = packet
        self._ready.set()

    async def recv(self) -> Frame | AnyPacket:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            await self._ready.wait()
            self._ready.clear()
            if self._latest is not None:
                packet, self._latest = self._latest, None
                return packet

    def stop(self) -> None:
        super().stop()
        self._ready.set()  # wake a pending recv() so it sees the track ended


@dataclass(eq=False)
class _Peer:
    room_id: str
    user_id: int
    pc: RTCPeerConnection
    outbound: OutboundTrack
    state: PeerState = PeerState.CONNECTING
    reader: asyncio.Task[None] | None = None
    jitter: deque[tuple[float, Samples]] = field(
        default_factory=lambda: deque(maxlen=JITTER_MAX_FRAMES)
    )
    chunker: FrameChunker = field(default_factory=FrameChunker)


@dataclass(eq=False)
class _Room:
    room_id: str
    encoder: OpusStream = field(default_factory=OpusStream)
    peers: dict[int, _Peer] = field(default_factory=dict)
    speaker_encoders: dict[int, OpusStream] = field(default_factory=dict)
    meter: LevelMeter = field(default_factory=LevelMeter)
    mixer: asyncio.Task[None] | None = None
    tick: int = 0


class LegacyEngine(NoCaptions):
    """Implements ``podium.media.engine.MediaEngine`` with aiortc in this process."""

    engine_name = "the legacy media engine"

    def __init__(self, settings: Settings) -> None:
        self._hosts = ice.validate_hosts(settings.ice_hosts)
        self._stun = list(settings.stun_urls)
        self._turn = (list(settings.turn_urls), settings.turn_username, settings.turn_password)
        self._state = EngineState.NEW
        self._rooms: dict[str, _Room] = {}
        self._heard: dict[str, frozenset[int]] = {}
        self._aux: set[asyncio.Task[Any]] = set()
        self._on_levels: LevelsCallback | None = None
        self._on_peer_gone: PeerGoneCallback | None = None

    # -- MediaEngine -------------------------------------------------------------------------

    async def start(self) -> None:
        ice.install()
        self._state = EngineState.RUNNING

    async def close(self) -> None:
        self._state = EngineState.CLOSED
        for room_id in list(self._rooms):
            await self.close_room(room_id)
        self._heard.clear()
        pending = list(self._aux)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def start_recording(self, room_id: str, sink: RecordingSink) -> None:
        raise MediaEngineError("The legacy engine (a benchmark baseline) does not record.")

    async def stop_recording(self, room_id: str) -> None:
        return None

    def set_callbacks(self, on_levels: LevelsCallback, on_peer_gone: PeerGoneCallback) -> None:
        self._on_levels = on_levels
        self._on_peer_gone = on_peer_gone

    async def connect(
        self, room_id: str, user_id: int, offer: SessionDescription
    ) -> SessionDescription:
        if self._state is not EngineState.RUNNING:
            raise MediaEngineError("media engine is not running")
        check_offer(offer)
        await self.disconnect(room_id, user_id)  # one peer per user: replace
        room = self._rooms.get(room_id) or self._open_room(room_id)
        peer = self._new_peer(room, user_id)
        try:
            return await self._negotiate(peer, offer)
        except Exception as exc:
            await self._drop_peer(peer)
            if isinstance(exc, MediaEngineError):
                raise
            # aiortc's own message stays in the log: it is not meant for clients.
            log.info("negotiation failed for %s/%s: %r", room_id, user_id, exc)
            raise MediaEngineError(
                "could not negotiate the offer (invalid or unsupported SDP)"
            ) from exc

    async def disconnect(self, room_id: str, user_id: int) -> None:
        room = self._rooms.get(room_id)
        peer = room.peers.get(user_id) if room else None
        if peer is not None:
            await self._drop_peer(peer)

    async def set_heard(self, room_id: str, user_ids: frozenset[int]) -> None:
        old = self._heard.get(room_id, _NOBODY)
        new = frozenset(user_ids)
        # Kept even while the room has no peers, so speakers reconnecting are heard at once.
        self._heard[room_id] = new
        room = self._rooms.get(room_id)
        if room is None:
            return
        for uid in old - new:
            room.speaker_encoders.pop(uid, None)
            peer = room.peers.get(uid)
            if peer is not None:
                peer.jitter.clear()  # nothing queued before the change may leak out
                peer.chunker = FrameChunker()

    async def close_room(self, room_id: str) -> None:
        self._heard.pop(room_id, None)
        room = self._rooms.get(room_id)
        if room is None:
            return
        for peer in list(room.peers.values()):
            await self._drop_peer(peer)
        if self._rooms.get(room_id) is room:
            await self._remove_room(room)

    def stats(self) -> EngineStats:
        tasks = sum(1 for r in self._rooms.values() if r.mixer and not r.mixer.done())
        tasks += sum(
            1
            for r in self._rooms.values()
            for p in r.peers.values()
            if p.reader is not None and not p.reader.done()
        )
        tasks += sum(1 for t in self._aux if not t.done())
        peers = sum(len(r.peers) for r in self._rooms.values())
        return EngineStats(rooms=len(self._rooms), peers=peers, tasks=tasks)

    # -- rooms and peers ---------------------------------------------------------------------

    def _open_room(self, room_id: str) -> _Room:
        room = _Room(room_id)
        self._rooms[room_id] = room
        room.mixer = asyncio.create_task(self._run_mixer(room), name=f"podium-mixer-{room_id}")
        return room

    async def _remove_room(self, room: _Room) -> None:
        if self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]
        if room.mixer is not None:
            room.mixer.cancel()
            await asyncio.gather(room.mixer, return_exceptions=True)

    def _new_peer(self, room: _Room, user_id: int) -> _Peer:
        pc = RTCPeerConnection(ice.rtc_configuration(self._stun, *self._turn))
        peer = _Peer(room.room_id, user_id, pc, OutboundTrack())
        room.peers[user_id] = peer
        pc.add_listener("track", lambda track: self._on_track(peer, track))
        pc.add_listener("connectionstatechange", lambda: self._on_state(peer))
        return peer

    async def _negotiate(self, peer: _Peer, offer: SessionDescription) -> SessionDescription:
        pc = peer.pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        transceivers = pc.getTransceivers()
        if len(transceivers) != 1:
            raise MediaEngineError("the offer must have exactly one audio m-line")
        prefer_opus(transceivers[0])  # the mix is pre-encoded Opus; nothing else can carry it
        pc.addTrack(peer.outbound)
        answer = await pc.createAnswer()
        with ice.host_addresses(self._hosts):
            await pc.setLocalDescription(answer)
        local = pc.localDescription
        if peer.state is not PeerState.CONNECTING and peer.state is not PeerState.CONNECTED:
            raise MediaEngineError("the peer was closed while connecting")
        return SessionDescription(sdp=local.sdp, type=local.type)

    async def _drop_peer(self, peer: _Peer) -> None:
        """Forget and close one peer (idempotent); the room goes when its last peer does."""
        if peer.state is PeerState.CLOSED:
            return
        peer.state = PeerState.CLOSED
        room = self._rooms.get(peer.room_id)
        if room is not None and room.peers.get(peer.user_id) is peer:
            del room.peers[peer.user_id]
            room.speaker_encoders.pop(peer.user_id, None)
        if peer.reader is not None:
            peer.reader.cancel()
            await asyncio.gather(peer.reader, return_exceptions=True)
        peer.outbound.stop()
        await peer.pc.close()
        if room is not None and not room.peers:
            await self._remove_room(room)

    def _on_state(self, peer: _Peer) -> None:
        state = peer.pc.connectionState
        if state == "connected" and peer.state is PeerState.CONNECTING:
            peer.state = PeerState.CONNECTED
        elif state in ("failed", "closed") and peer.state in (
            PeerState.CONNECTING,
            PeerState.CONNECTED,
        ):
            # Only remote-side endings get here: our own closes mark the peer CLOSED first.
            peer.state = PeerState.GONE
            self._spawn(self._peer_gone(peer))

    async def _peer_gone(self, peer: _Peer) -> None:
        log.info("peer %s/%s gone (%s)", peer.room_id, peer.user_id, peer.pc.connectionState)
        await self._drop_peer(peer)
        if self._on_peer_gone is not None:
            self._call(self._on_peer_gone, peer.room_id, peer.user_id)

    # -- incoming audio ----------------------------------------------------------------------

    def _on_track(self, peer: _Peer, track: Any) -> None:
        if track.kind != "audio" or peer.reader is not None or peer.state is PeerState.CLOSED:
            return
        peer.reader = asyncio.create_task(
            self._read(peer, track), name=f"podium-reader-{peer.room_id}-{peer.user_id}"
        )

    async def _read(self, peer: _Peer, track: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame: Frame = await track.recv()
                if peer.user_id in self._heard.get(peer.room_id, _NOBODY):
                    self._accept(peer, frame, loop.time())
                # else: dropped at the server, whatever the client sends
        except MediaStreamError:
            pass

    def _accept(self, peer: _Peer, frame: Frame, now: float) -> None:
        if not isinstance(frame, AudioFrame) or frame.sample_rate != SAMPLE_RATE:
            return  # aiortc's Opus decoder always yields 48 kHz audio frames
        samples = to_mono(frame.to_ndarray(), len(frame.layout.channels))
        for chunk in peer.chunker.push(samples):
            peer.jitter.append((now, chunk))

    # -- the mixer ---------------------------------------------------------------------------

    async def _run_mixer(self, room: _Room) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                self._tick(room, loop.time())
            except Exception:
                log.exception("mixer tick failed in room %s", room.room_id)
            # Absolute schedule: sleeping "20 ms" each time would accumulate drift.
            next_at += FRAME_SECONDS
            delay = next_at - loop.time()
            if delay < -MAX_LAG_SECONDS:
                log.debug("mixer in room %s lagged %.0f ms", room.room_id, -delay * 1000)
                next_at, delay = loop.time(), 0.0
            await asyncio.sleep(max(delay, 0.0))

    def _tick(self, room: _Room, now: float) -> None:
        heard = self._heard.get(room.room_id, _NOBODY)
        frames: dict[int, Samples] = {}
        for uid in heard:
            peer = room.peers.get(uid)
            frame = _take_fresh(peer.jitter, now) if peer is not None else None
            if frame is not None:
                frames[uid] = frame
        result = mix_frames(frames)
        pts = room.tick * (SAMPLE_RATE * FRAME_MS // 1000)
        room.tick += 1
        shared = room.encoder.encode(result.mix, pts)
        for uid, peer in room.peers.items():
            minus = result.minus.get(uid)
            if minus is None:
                packet = shared
            else:
                encoder = room.speaker_encoders.get(uid)
                if encoder is None:
                    encoder = room.speaker_encoders[uid] = OpusStream()
                packet = encoder.encode(minus, pts)
            if packet is not None:
                peer.outbound.push(packet)
        room.meter.add(result.levels)
        if room.tick % LEVELS_EVERY_TICKS == 0:
            present = heard & room.peers.keys()
            levels = room.meter.take(frozenset(present))
            if levels and self._on_levels is not None:
                self._call(self._on_levels, room.room_id, levels)

    # -- callbacks and helper tasks ----------------------------------------------------------

    def _call(self, callback: Any, *args: Any) -> None:
        tasks.call(self._aux, callback, *args)

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        tasks.spawn(self._aux, awaitable, "media engine")


def _take_fresh(jitter: deque[tuple[float, Samples]], now: float) -> Samples | None:
    """Oldest frame that is not stale; stale ones are dropped rather than mixed late."""
    while jitter:
        arrived, frame = jitter.popleft()
        if now - arrived <= STALE_SECONDS:
            return frame
    return None

"""``EmbeddedEngine``: Podium's own media plane (an audio MCU with a fast listener path).

Shape (costs behind it: shared/reference/media-engines.md):

* **Peers live in ``PeerHost``s**: in this process (``media_workers = 0``) or in worker
  processes, one per core by default (``podium.media.workers``). A host keeps aiortc for
  ICE/DTLS/SRTP setup and the speakers' uplink decoding, and sends listener audio itself
  (``podium.media.fastpath``: header pack + libsrtp + ``sendto``, one loop per room).
* **Mixing happens here**, one 20 ms task per room: heard speakers' decoded frames (forwarded
  by the hosts) are summed; the listeners' mix is encoded **once** per packet time
  (``media_listener_ptime_ms``, with Opus in-band FEC) and each heard speaker's mix-minus
  once per 20 ms. Each tick becomes one ``RoomFrame`` per host that has peers in the room.
* Speakers' uplink arrives as raw Opus RTP (taken before aiortc's jitter buffer) and is
  decoded here, one ``podium.media.uplink.Uplink`` per heard speaker: a small adaptive
  jitter buffer, in-band FEC for a single lost packet, libopus PLC for the rest. Browsers
  are asked for FEC and 48 kbps in our answer (``useinbandfec=1;maxaveragebitrate=48000``);
  NACK is not used (see ``opus.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from podium.collector import collector
from podium.config import Settings
from podium.media import ice, tasks
from podium.media.engine import (
    CaptionSink,
    EngineStats,
    LevelsCallback,
    MediaEngineError,
    PeerGoneCallback,
    RecordingSink,
    SessionDescription,
)
from podium.media.host import PeerHost, RoomFrame
from podium.media.mixer import FRAME_MS, FRAME_SAMPLES, LevelMeter, Samples, mix_frames
from podium.media.offer import check_offer
from podium.media.opus import OpusStream
from podium.media.uplink import Uplink
from podium.media.workers import PeerPool, WorkerPool

log = logging.getLogger(__name__)

FRAME_SECONDS = FRAME_MS / 1000
LEVELS_EVERY_TICKS = 10  # 200 ms: ~5 level reports a second
MAX_LAG_SECONDS = 0.2  # after a longer stall the clock resyncs instead of bursting
_NOBODY: frozenset[int] = frozenset()


class EngineState(Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSED = "closed"


@dataclass(eq=False)
class _Member:
    """A participant as the mixer sees it (their peer lives in some ``PeerHost``)."""

    user_id: int
    peer_id: int
    uplink: Uplink | None = None  # while heard and sending

    def reset_audio(self) -> None:
        """Nothing received before a heard-set change may leak out later."""
        if self.uplink is not None:
            self.uplink.close()
            self.uplink = None

    def next_frame(self) -> Samples | None:
        return self.uplink.pull() if self.uplink is not None else None


@dataclass(eq=False)
class _Room:
    room_id: str
    encoder: OpusStream
    members: dict[int, _Member] = field(default_factory=dict)
    speaker_encoders: dict[int, OpusStream] = field(default_factory=dict)
    pending: list[Samples] = field(default_factory=list)  # mix frames not yet encoded
    meter: LevelMeter = field(default_factory=LevelMeter)
    mixer: asyncio.Task[None] | None = None
    tick: int = 0
    forwarding: bool = False  # the last tick forwarded (or passed a gap on)


def worker_count(settings: Settings) -> int:
    """``media_workers``, or (-1) one per core this process may run on (its CPU affinity:
    under ``taskset`` or a cpuset, more workers than cores only compete for the same core)."""
    if settings.media_workers >= 0:
        return settings.media_workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


class EmbeddedEngine:
    """Implements ``podium.media.engine.MediaEngine``."""

    def __init__(self, settings: Settings) -> None:
        hosts = ice.engine_hosts(settings.ice_hosts)
        self._remote = ice.RemoteAddresses.for_hosts(settings.ice_remote_networks, hosts)
        servers = (
            list(settings.stun_urls),
            list(settings.turn_urls),
            settings.turn_username,
            settings.turn_password,
        )
        self._ptime = settings.media_listener_ptime_ms
        self._loss = settings.media_expected_loss_percent
        self._passthrough = settings.media_passthrough
        workers = worker_count(settings)
        self._pool: PeerPool
        # Speakers' clients are told of at least this loss (1/256 units) when their packets
        # are forwarded, so they send FEC for the listeners (host.ReportedStatistics).
        floor = min(255, self._loss * 256 // 100) if self._passthrough else 0
        networks = tuple(settings.ice_remote_networks)
        if workers == 0:
            self._pool = PeerHost(hosts, servers, self._on_rtp, self._on_gone, floor, networks)
        else:
            self._pool = WorkerPool(
                workers, hosts, servers, self._on_rtp, self._on_gone, floor, networks
            )
        self._state = EngineState.NEW
        self._rooms: dict[str, _Room] = {}
        self._heard: dict[str, frozenset[int]] = {}
        # Room -> its recording's sink; kept while the room has no peers (no mixer) too.
        self._recorders: dict[str, RecordingSink] = {}
        self._next_peer_id = 0
        self._aux: set[asyncio.Task[Any]] = set()
        self._on_levels: LevelsCallback | None = None
        self._on_peer_gone: PeerGoneCallback | None = None
        self._captions: dict[str, tuple[CaptionSink, frozenset[int]]] = {}

    @property
    def pool(self) -> PeerPool:
        """Where the peers live (tests look inside)."""
        return self._pool

    # -- MediaEngine -------------------------------------------------------------------------

    async def start(self) -> None:
        ice.install()
        if isinstance(self._pool, WorkerPool):
            await self._pool.start()
        self._state = EngineState.RUNNING

    async def close(self) -> None:
        self._state = EngineState.CLOSED
        for room_id in list(self._rooms):
            await self.close_room(room_id)
        self._heard.clear()
        await self._pool.close()
        pending = list(self._aux)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def set_callbacks(self, on_levels: LevelsCallback, on_peer_gone: PeerGoneCallback) -> None:
        self._on_levels = on_levels
        self._on_peer_gone = on_peer_gone

    @property
    def supports_captions(self) -> bool:
        return True

    def set_caption_sink(
        self, room_id: str, sink: CaptionSink | None, user_ids: frozenset[int] = frozenset()
    ) -> None:
        if sink is None or not user_ids:
            self._captions.pop(room_id, None)
        else:
            self._captions[room_id] = (sink, frozenset(user_ids))

    async def connect(
        self, room_id: str, user_id: int, offer: SessionDescription
    ) -> SessionDescription:
        if self._state is not EngineState.RUNNING:
            raise MediaEngineError("media engine is not running")
        offer = check_offer(offer, self._remote)
        await self.disconnect(room_id, user_id)  # one peer per user: replace
        room = self._rooms.get(room_id) or self._open_room(room_id)
        self._next_peer_id += 1
        member = _Member(user_id, self._next_peer_id)
        room.members[user_id] = member
        heard = self._heard.get(room_id, _NOBODY)
        try:
            sdp = await self._pool.connect(room_id, user_id, member.peer_id, offer.sdp, heard)
        except BaseException:
            await self._forget(room, member)
            raise
        # Read again: the set may have changed while the host negotiated (an invitation
        # accepted, a mute), and a host may have made the room with the old one.
        self._pool.set_heard(room_id, self._heard.get(room_id, _NOBODY), self._shared_samples)
        if room.members.get(user_id) is not member:
            raise MediaEngineError("the peer was closed while connecting")
        return SessionDescription(sdp=sdp, type="answer")

    async def disconnect(self, room_id: str, user_id: int) -> None:
        room = self._rooms.get(room_id)
        member = room.members.get(user_id) if room else None
        if room is not None and member is not None:
            await self._forget(room, member)
            await self._pool.disconnect(room_id, user_id)

    async def set_heard(self, room_id: str, user_ids: frozenset[int]) -> None:
        old = self._heard.get(room_id, _NOBODY)
        new = frozenset(user_ids)
        # Kept even while the room has no peers, so speakers reconnecting are heard at once.
        self._heard[room_id] = new
        room = self._rooms.get(room_id)
        if room is None:
            return
        self._pool.set_heard(room_id, new, self._shared_samples)
        for uid in old - new:
            room.speaker_encoders.pop(uid, None)
            member = room.members.get(uid)
            if member is not None:
                member.reset_audio()

    async def start_recording(self, room_id: str, sink: RecordingSink) -> None:
        self._recorders[room_id] = sink

    async def stop_recording(self, room_id: str) -> None:
        self._recorders.pop(room_id, None)

    async def close_room(self, room_id: str) -> None:
        self._heard.pop(room_id, None)
        self._captions.pop(room_id, None)
        self._recorders.pop(room_id, None)
        room = self._rooms.get(room_id)
        if room is None:
            return
        room.members.clear()
        await self._remove_room(room)
        await self._pool.close_room(room_id)

    def stats(self) -> EngineStats:
        tasks = sum(1 for r in self._rooms.values() if r.mixer and not r.mixer.done())
        tasks += sum(1 for t in self._aux if not t.done())
        tasks += self._pool.counts()[2]
        peers = sum(len(r.members) for r in self._rooms.values())
        return EngineStats(rooms=len(self._rooms), peers=peers, tasks=tasks)

    # -- rooms and members -------------------------------------------------------------------

    @property
    def _shared_samples(self) -> int:
        return FRAME_SAMPLES * self._ptime // FRAME_MS

    def _open_room(self, room_id: str) -> _Room:
        encoder = OpusStream(frame_ms=self._ptime, expected_loss=self._loss)
        room = _Room(room_id, encoder)
        self._rooms[room_id] = room
        room.mixer = asyncio.create_task(self._run_mixer(room), name=f"podium-mixer-{room_id}")
        return room

    async def _forget(self, room: _Room, member: _Member) -> None:
        member.reset_audio()
        if room.members.get(member.user_id) is member:
            del room.members[member.user_id]
            room.speaker_encoders.pop(member.user_id, None)
        if not room.members:
            await self._remove_room(room)

    async def _remove_room(self, room: _Room) -> None:
        if self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]
        if room.mixer is not None:
            room.mixer.cancel()
            await asyncio.gather(room.mixer, return_exceptions=True)

    # -- events from the hosts ---------------------------------------------------------------

    def _on_gone(self, room_id: str, user_id: int, peer_id: int) -> None:
        room = self._rooms.get(room_id)
        member = room.members.get(user_id) if room else None
        if room is None or member is None or member.peer_id != peer_id:
            return  # an old peer of a user who has reconnected since
        self._spawn(self._forget(room, member))
        if self._on_peer_gone is not None:
            self._call(self._on_peer_gone, room_id, user_id)

    def _on_rtp(self, room_id: str, user_id: int, timestamp: int, payload: bytes) -> None:
        room = self._rooms.get(room_id)
        member = room.members.get(user_id) if room else None
        if member is None or user_id not in self._heard.get(room_id, _NOBODY):
            return
        if member.uplink is None:
            member.uplink = Uplink()
        member.uplink.push(timestamp, payload)

    # -- the mixer ---------------------------------------------------------------------------

    async def _run_mixer(self, room: _Room) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                self._tick(room)
            except Exception:
                log.exception("mixer tick failed in room %s", room.room_id)
            collector.tick()  # a collection, if one is due, right after the tick's work
            # Absolute schedule: sleeping "20 ms" each time would accumulate drift.
            next_at += FRAME_SECONDS
            delay = next_at - loop.time()
            if delay < -MAX_LAG_SECONDS:
                log.debug("mixer in room %s lagged %.0f ms", room.room_id, -delay * 1000)
                next_at, delay = loop.time(), 0.0
            await asyncio.sleep(max(delay, 0.0))

    def _tick(self, room: _Room) -> None:
        speakers = self._heard.get(room.room_id, _NOBODY) & room.members.keys()
        frames: dict[int, Samples] = {}
        whole: bytes | None = None
        for uid in speakers:
            frame = room.members[uid].next_frame()
            if frame is not None:
                frames[uid] = frame
                whole = self._forwardable(room.members[uid].uplink, room)
        result = mix_frames(frames)
        pos = room.tick * FRAME_SAMPLES
        room.tick += 1
        # Every heard speaker gets a continuous 20 ms stream: their mix-minus while talking,
        # the plain mix while not (one encoder each, so switching needs no re-sync).
        minus: dict[int, bytes] = {}
        for uid in speakers:
            encoder = room.speaker_encoders.get(uid)
            if encoder is None:
                encoder = room.speaker_encoders[uid] = OpusStream()
            packet = encoder.encode_bytes(result.minus.get(uid, result.mix), pos)
            if packet is not None:
                minus[uid] = packet
        if len(frames) != 1:
            whole = None
        room.forwarding = whole is not None
        out = self._shared(room, pos, result.mix, minus, whole)
        self._pool.deliver(room.room_id, out)
        if out.shared is not None and room.room_id in self._recorders:
            self._record(room.room_id, out)
        self._report_levels(room, speakers, result.levels)
        if frames:
            self._tap_captions(room.room_id, frames, pos)

    def _tap_captions(self, room_id: str, frames: dict[int, Samples], pos: int) -> None:
        """After the listeners' packets went: the opted-in speakers' frames to the captioner,
        whose sink only queues (it never waits on recognition)."""
        tap = self._captions.get(room_id)
        if tap is None:
            return
        sink, wanted = tap
        for uid, frame in frames.items():
            if uid in wanted:
                try:
                    sink(uid, frame, pos)
                except Exception:
                    log.exception("caption sink failed in room %s", room_id)

    def _shared(
        self, room: _Room, pos: int, mix: Samples, minus: dict[int, bytes], whole: bytes | None
    ) -> RoomFrame:
        """This tick's frame; with the listeners' packet once a packet time is complete.

        ``whole``: see ``_forwardable``; it goes to the listeners as it is (restamped on the
        room clock by the hosts), with no second encode: no tandem loss of quality, no
        encoder CPU. An empty ``whole`` is a lost packet passed on as a gap.
        """
        if whole is not None:
            return RoomFrame(pos, minus, whole, pos)
        room.pending.append(mix)
        if len(room.pending) * FRAME_SAMPLES < self._shared_samples:
            return RoomFrame(pos, minus)
        start = pos - (len(room.pending) - 1) * FRAME_SAMPLES
        packet = room.encoder.encode_bytes(np.concatenate(room.pending), start)
        room.pending.clear()
        if packet is None:
            return RoomFrame(pos, minus)
        return RoomFrame(pos, minus, packet, start)

    def _forwardable(self, uplink: Uplink | None, room: _Room) -> bytes | None:
        """While exactly one speaker is heard (checked by the caller) and listeners get 20 ms
        packets: the packet the speaker's frame was decoded from, to forward as it is. A frame
        the uplink rebuilt (the packet was lost) while forwarding becomes ``b""``: a gap in
        the listeners' sequence numbers, so their decoders rebuild it too, from the in-band
        FEC of the speaker's next packet (as an SFU would). Re-encoding just that frame would
        not match: our encoder's state would be stale, its look-ahead shifted.
        """
        if uplink is None or not self._passthrough or self._shared_samples != FRAME_SAMPLES:
            return None
        if uplink.whole is not None:
            return uplink.whole
        return b"" if uplink.rebuilt and room.forwarding else None

    def _record(self, room_id: str, frame: RoomFrame) -> None:
        """The packet listeners were just sent goes to the recording too (a queue put)."""
        assert frame.shared is not None
        try:
            self._recorders[room_id](frame.shared_pos, frame.shared)
        except Exception:  # a recording must never stop the room's audio
            log.exception("recording sink failed in room %s", room_id)

    def _report_levels(self, room: _Room, speakers: frozenset[int], levels: Any) -> None:
        room.meter.add(levels)
        if room.tick % LEVELS_EVERY_TICKS == 0:
            report = room.meter.take(speakers)
            if report and self._on_levels is not None:
                self._call(self._on_levels, room.room_id, report)

    # -- callbacks and helper tasks ----------------------------------------------------------

    def _call(self, callback: Any, *args: Any) -> None:
        tasks.call(self._aux, callback, *args)

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        tasks.spawn(self._aux, awaitable, "media engine")

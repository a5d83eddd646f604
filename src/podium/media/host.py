"""``PeerHost``: the aiortc peer connections of one process, and their fast-path senders.

A host holds peers for any number of rooms. It does no mixing: the engine (maybe in another
process) hands it one ``RoomFrame`` per room per 20 ms tick, with the shared mix for the
listeners and a mix-minus for each heard speaker, and the host sends them through
``fastpath``. Uplink audio of heard users is taken as raw Opus RTP before aiortc's jitter
buffer and decoder (``hook_uplink``) and handed to ``on_rtp``; the mixer decodes it
(``podium.media.uplink``: our own jitter buffer, FEC and PLC).

Each peer may use at most ``MAX_SSRCS_PER_PEER`` SSRCs (``limit_ssrcs``): libsrtp (a stream
per SSRC: aiortc's receive policy takes any), aiortc's RTP router and our statistics keep
state per SSRC, so packets on others are dropped before any of them sees one.

Borrowed aiortc 1.16.0 internals (checked by ``tests/media/test_media_canary.py``):
``RTCRtpReceiver._handle_rtp_packet`` (looked up per packet by the DTLS transport, so an
instance attribute replaces it) and ``_RTCRtpReceiver__remote_streams`` (the per-SSRC
``StreamStatistics`` its RTCP task turns into receiver reports: we keep feeding it, so the
sender sees the real loss and its Opus encoder keeps spending bits on FEC);
``RTCDtlsTransport._setup_srtp`` (called on the instance once DTLS is up) and the
``_rx_srtp`` session it makes, whose ``unprotect`` / ``unprotect_rtcp`` every SRTP packet
goes through (looked up per packet, so instance attributes replace them; a
``pylibsrtp.Error`` makes aiortc drop the packet); ``RTCIceTransport._connection`` (see
``ice.ignore_checks_from``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pylibsrtp
from aiortc import RTCDtlsTransport, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtpPacket
from aiortc.sdp import SessionDescription as ParsedSdp

from podium.collector import collector
from podium.media import ice, tasks
from podium.media.engine import MediaEngineError
from podium.media.fanout import Audience, SendTable, fan_out, skip_sequence
from podium.media.fastpath import (
    SR_INTERVAL_SECONDS,
    FastPathError,
    Listener,
    SilentTrack,
    payload_type,
    take_over,
)
from podium.media.mixer import FRAME_SAMPLES, SAMPLE_RATE
from podium.media.opus import OPUS_BITRATE, prefer_opus

log = logging.getLogger(__name__)

RtpSink = Callable[[str, int, int, bytes], None]
"""(room_id, user_id, RTP timestamp, Opus payload) for users in the room's heard set."""
GoneSink = Callable[[str, int, int], None]
"""(room_id, user_id, peer_id) when a peer failed or was closed by the remote side."""

MAX_SSRCS_PER_PEER = 4
"""SSRCs a peer may send SRTP and SRTCP on: a client sends RTP on one and RTCP from that one and
perhaps a receiver's own (aiortc, Chrome); each costs libsrtp and aiortc state."""
SR_TICK_SECONDS = 1.0
SR_SLICES = round(SR_INTERVAL_SECONDS / SR_TICK_SECONDS)  # each peer's turn every 5 ticks
_NOBODY: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class RoomFrame:
    """One tick of a room's audio. Positions are sample counts on the room clock (48 kHz)."""

    pos: int
    minus: dict[int, bytes]
    """Per heard speaker: their mix-minus, 20 ms at ``pos``."""
    shared: bytes | None = None
    """The listeners' mix (one packet time long) at ``shared_pos``, when one is complete;
    ``b""``: the packet was lost on its way in, listeners get a gap in sequence numbers."""
    shared_pos: int = 0


class ReportedStatistics(StreamStatistics):
    """aiortc's receive statistics of one uplink, whose receiver reports to the speaker's client
    say at least ``floor``/256 of its packets were lost.

    While a lone speaker is forwarded (passthrough), listeners decode the speaker's own FEC,
    but the speaker's client only hears of *its* uplink's loss (listeners' reports are
    dropped unread: they would cost more than the packets). A browser sizes its Opus FEC from
    these reports, so the engine sets the floor to ``media_expected_loss_percent``: what the
    server's own encoder assumes when it encodes the mix.
    """

    def __init__(self, clockrate: int, floor: int) -> None:
        super().__init__(clockrate)
        self._floor = floor

    @property
    def fraction_lost(self) -> int:
        return max(super().fraction_lost, self._floor)


class PeerState(Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    GONE = "gone"
    CLOSED = "closed"


@dataclass(eq=False)
class _Peer:
    room_id: str
    user_id: int
    peer_id: int
    pc: RTCPeerConnection
    track: SilentTrack = field(default_factory=SilentTrack)
    state: PeerState = PeerState.CONNECTING
    listener: Listener | None = None
    opus_pt: int | None = None


@dataclass(eq=False)
class _Room:
    heard: frozenset[int] = _NOBODY
    peers: dict[int, _Peer] = field(default_factory=dict)
    listeners: Audience = field(default_factory=Audience)
    """Fast-path senders of everyone not heard: the shared mix goes to exactly these."""
    shared_samples: int = FRAME_SAMPLES


class PeerHost:
    def __init__(
        self,
        hosts: tuple[str, ...],
        ice_servers: tuple[list[str], list[str], str, str],
        on_rtp: RtpSink,
        on_gone: GoneSink,
        loss_floor: int = 0,
        remote_networks: tuple[str, ...] = (),
    ) -> None:
        self._hosts = hosts
        self._remote = ice.RemoteAddresses.for_hosts(remote_networks, hosts)
        self._ice_servers = ice_servers
        self._on_rtp = on_rtp
        self._on_gone = on_gone
        self._loss_floor = loss_floor  # see ReportedStatistics
        self._rooms: dict[str, _Room] = {}
        self._aux: set[asyncio.Task[Any]] = set()
        self._sr_task: asyncio.Task[None] | None = None
        self._table = SendTable()  # every fast-path listener's send state

    # -- control -----------------------------------------------------------------------------

    async def connect(
        self, room_id: str, user_id: int, peer_id: int, sdp: str, heard: frozenset[int]
    ) -> str:
        """Negotiate a new peer; the engine has checked the offer and closed any old peer."""
        await self.disconnect(room_id, user_id)
        room = self._rooms.setdefault(room_id, _Room(heard=heard))
        pc = RTCPeerConnection(ice.rtc_configuration(*self._ice_servers))
        peer = _Peer(room_id, user_id, peer_id, pc)
        room.peers[user_id] = peer
        pc.add_listener("connectionstatechange", lambda: self._on_state(peer))
        try:
            return await self._negotiate(peer, sdp)
        except Exception as exc:
            await self._drop(peer)
            if isinstance(exc, MediaEngineError):
                raise
            log.info("negotiation failed for %s/%s: %r", room_id, user_id, exc)
            raise MediaEngineError(
                "could not negotiate the offer (invalid or unsupported SDP)"
            ) from exc

    async def disconnect(self, room_id: str, user_id: int) -> None:
        room = self._rooms.get(room_id)
        peer = room.peers.get(user_id) if room else None
        if peer is not None:
            await self._drop(peer)

    def set_heard(self, room_id: str, heard: frozenset[int], shared_samples: int) -> None:
        room = self._rooms.get(room_id)
        if room is None or (room.heard, room.shared_samples) == (heard, shared_samples):
            return  # unchanged (the engine sends it after every connect): nothing to move
        room.heard, room.shared_samples = heard, shared_samples
        for peer in room.peers.values():
            if peer.listener is not None:
                self._place(room, peer.listener)

    def deliver(self, room_id: str, frame: RoomFrame) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            return
        if frame.shared:
            fan_out(room.listeners, self._table, frame.shared, frame.shared_pos)
        elif frame.shared is not None:
            skip_sequence(room.listeners)
        for uid, payload in frame.minus.items():
            peer = room.peers.get(uid)
            if peer is not None and peer.listener is not None and uid in room.heard:
                peer.listener.send(payload, frame.pos)

    async def close_room(self, room_id: str) -> None:
        room = self._rooms.get(room_id)
        if room is not None:
            for peer in list(room.peers.values()):
                await self._drop(peer)

    async def close(self) -> None:
        for room_id in list(self._rooms):
            await self.close_room(room_id)
        pending = list(self._aux) + ([self._sr_task] if self._sr_task else [])
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._sr_task = None

    def counts(self) -> tuple[int, int, int]:
        """(rooms, peers, running tasks) held by this host."""
        peers = [p for r in self._rooms.values() for p in r.peers.values()]
        tasks = sum(1 for t in self._aux if not t.done())
        return len(self._rooms), len(peers), tasks

    # -- peers -------------------------------------------------------------------------------

    async def _negotiate(self, peer: _Peer, sdp: str) -> str:
        pc = peer.pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        transceivers = pc.getTransceivers()
        if len(transceivers) != 1:
            raise MediaEngineError("the offer must have exactly one audio m-line")
        prefer_opus(transceivers[0])  # the mix is pre-encoded Opus; nothing else can carry it
        dtls = transceivers[0].receiver.transport
        limit_ssrcs(dtls, announced_ssrcs(sdp))
        ice.ignore_checks_from(dtls.transport, self._remote)  # ICE starts below
        self.hook_uplink(peer, transceivers[0].receiver)
        pc.addTrack(peer.track)  # never yields: the fast path sends instead (see fastpath)
        answer = await pc.createAnswer()
        with ice.host_addresses(self._hosts):
            await pc.setLocalDescription(answer)
        if peer.state is not PeerState.CONNECTING and peer.state is not PeerState.CONNECTED:
            raise MediaEngineError("the peer was closed while connecting")
        return tune_opus_answer(str(pc.localDescription.sdp))

    def _on_state(self, peer: _Peer) -> None:
        state = peer.pc.connectionState
        if state == "connected" and peer.state is PeerState.CONNECTING:
            peer.state = PeerState.CONNECTED
            self._start_fast_path(peer)
        elif state in ("failed", "closed") and peer.state in (
            PeerState.CONNECTING,
            PeerState.CONNECTED,
        ):
            # Only remote-side endings get here: our own closes mark the peer CLOSED first.
            self._gone(peer)

    def _start_fast_path(self, peer: _Peer) -> None:
        room = self._rooms.get(peer.room_id)
        if room is None or room.peers.get(peer.user_id) is not peer:
            return
        try:
            peer.listener = take_over(
                peer.pc, peer.user_id, random.getrandbits(16), self._table
            )
        except FastPathError:
            # Loud on purpose: this means aiortc's internals changed under us.
            log.exception("fast path unavailable for %s/%s", peer.room_id, peer.user_id)
            self._gone(peer)
            return
        self._place(room, peer.listener)
        if self._sr_task is None:
            self._sr_task = asyncio.create_task(self._send_sender_reports())

    def _place(self, room: _Room, lis: Listener) -> None:
        """Put a sender on the shared list or off it (heard), never overlapping in time."""
        listening = lis.uid not in room.heard
        lis.set_heard(not listening)
        if listening and lis not in room.listeners:
            room.listeners.add(lis)
            lis.min_pos = lis.last_pos + FRAME_SAMPLES if lis.packets else -1  # after 20 ms
        elif not listening and lis in room.listeners:
            room.listeners.discard(lis)
            lis.min_pos = lis.last_pos + room.shared_samples if lis.packets else -1

    def _gone(self, peer: _Peer) -> None:
        peer.state = PeerState.GONE
        log.info("peer %s/%s gone (%s)", peer.room_id, peer.user_id, peer.pc.connectionState)

        async def cleanup() -> None:
            await self._drop(peer)
            self._on_gone(peer.room_id, peer.user_id, peer.peer_id)

        self._spawn(cleanup())

    async def _drop(self, peer: _Peer) -> None:
        """Forget and close one peer (idempotent); the room goes when its last peer does."""
        if peer.state is PeerState.CLOSED:
            return
        peer.state = PeerState.CLOSED
        room = self._rooms.get(peer.room_id)
        if room is not None and room.peers.get(peer.user_id) is peer:
            del room.peers[peer.user_id]
            if peer.listener is not None:
                room.listeners.discard(peer.listener)
            if not room.peers:
                del self._rooms[peer.room_id]
        if peer.listener is not None:
            peer.listener.close()  # off every list first: its row and socket go now
        peer.track.stop()
        await peer.pc.close()
        collector.note_released()  # its object cycles wait for a major collection

    async def _send_sender_reports(self) -> None:
        """Every fast-path sender's RTCP SR, about every ``SR_INTERVAL_SECONDS``, from one task
        (aiortc's per-peer RTCP loops are parked: ``fastpath.park_sender_reports``)."""
        tick = 0
        while self._rooms:
            await asyncio.sleep(SR_TICK_SECONDS)
            tick += 1
            due = [
                peer.listener
                for room in list(self._rooms.values())
                for peer in list(room.peers.values())
                if peer.listener is not None and peer.peer_id % SR_SLICES == tick % SR_SLICES
            ]
            for listener in due:
                try:
                    await listener.sender_report()
                except Exception:  # a peer closing meanwhile: its next report is moot
                    log.debug("sender report failed", exc_info=True)
        self._sr_task = None  # restarted by the next connected peer

    # -- uplink audio ------------------------------------------------------------------------

    def hook_uplink(self, peer: _Peer, receiver: RTCRtpReceiver) -> None:
        """Take the peer's RTP before aiortc's jitter buffer: nothing is decoded by aiortc."""
        streams: dict[int, StreamStatistics] = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]

        async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
            if peer.opus_pt is None:
                try:
                    peer.opus_pt = payload_type(peer.pc.getTransceivers()[0]._codecs)
                except (FastPathError, IndexError):
                    return
            if packet.payload_type != peer.opus_pt:
                return
            stream = streams.get(packet.ssrc)
            if stream is None:
                stream = streams[packet.ssrc] = ReportedStatistics(SAMPLE_RATE, self._loss_floor)
            stream.add(packet)  # for aiortc's receiver reports (loss, jitter)
            room = self._rooms.get(peer.room_id)
            if room is None or peer.user_id not in room.heard or peer.state is PeerState.CLOSED:
                return  # dropped at the server, whatever the client sends
            self._on_rtp(peer.room_id, peer.user_id, packet.timestamp, packet.payload)

        setattr(receiver, "_handle_rtp_packet", handle)  # noqa: B010 (method override)

    def _spawn(self, coro: Any) -> None:
        tasks.spawn(self._aux, coro, "peer host")


class SsrcGate:
    """Lets SRTP and SRTCP through to libsrtp on at most ``MAX_SSRCS_PER_PEER`` SSRCs: those
    announced (``a=ssrc``), then the first ones seen whose packets authenticate. The SSRC is
    in the clear: RTP header bytes 8-12, RTCP (sender) bytes 4-8."""

    __slots__ = ("admitted", "_rtp", "_rtcp")

    def __init__(self, session: pylibsrtp.Session, announced: list[int]) -> None:
        self.admitted = {ssrc.to_bytes(4, "big") for ssrc in announced[:MAX_SSRCS_PER_PEER]}
        self._rtp, self._rtcp = session.unprotect, session.unprotect_rtcp
        setattr(session, "unprotect", self.unprotect)  # noqa: B010 (method override)
        setattr(session, "unprotect_rtcp", self.unprotect_rtcp)  # noqa: B010

    def unprotect(self, data: bytes) -> bytes:
        return self._pass(data[8:12], data, self._rtp)

    def unprotect_rtcp(self, data: bytes) -> bytes:
        return self._pass(data[4:8], data, self._rtcp)

    def _pass(self, ssrc: bytes, data: bytes, unprotect: Callable[[bytes], bytes]) -> bytes:
        if ssrc in self.admitted:
            return unprotect(data)
        if len(self.admitted) >= MAX_SSRCS_PER_PEER:
            raise pylibsrtp.Error("SSRC limit reached")  # aiortc drops the packet
        plain = unprotect(data)  # raises unless authentic: forged packets take no place
        self.admitted.add(ssrc)
        return plain


def limit_ssrcs(dtls: RTCDtlsTransport, announced: list[int]) -> None:
    """Put an ``SsrcGate`` on the receive SRTP session as soon as DTLS makes it (before the
    transport reads its first SRTP packet)."""
    setup = dtls._setup_srtp

    def setup_srtp() -> None:
        setup()
        session = getattr(dtls, "_rx_srtp", None)
        if isinstance(session, pylibsrtp.Session):
            SsrcGate(session, announced)

    setattr(dtls, "_setup_srtp", setup_srtp)  # noqa: B010 (method override)


def announced_ssrcs(sdp: str) -> list[int]:
    """The SSRCs of the offer's ``a=ssrc`` lines, in order, without repeats."""
    ssrcs = [s.ssrc for m in ParsedSdp.parse(sdp).media for s in m.ssrc]
    return list(dict.fromkeys(ssrcs))


def tune_opus_answer(sdp: str) -> str:
    """Add ``OPUS_ANSWER_PARAMS`` (``useinbandfec=1``, ``maxaveragebitrate``) to the answer's
    Opus fmtp where missing, so browsers send what listeners should hear.

    aiortc's answer carries no Opus fmtp parameters; in WebRTC the receiver's fmtp decides
    whether the remote encoder adds in-band FEC (LBRR), which our uplink decodes on a loss
    and forwarded listeners decode themselves, and ``maxaveragebitrate`` is the rate a
    browser's Opus encoder then aims at (its default is 32 kbps mono). With one speaker
    forwarded, their packets are what listeners hear: 48 kbps with FEC sized for 10 % loss
    scores PESQ-WB 4.20 on the benchmark's speech, 32 kbps 3.69 (benchmarks/RESULTS.md).
    """
    lines = sdp.split("\r\n")
    out: list[str] = []
    opus: set[str] = set()
    for line in lines:
        if line.startswith("a=rtpmap:") and "opus/48000" in line.lower():
            opus.add(line[len("a=rtpmap:") :].split(" ", 1)[0])
    has_fmtp = {
        line[len("a=fmtp:") :].split(" ", 1)[0] for line in lines if line.startswith("a=fmtp:")
    }
    for line in lines:
        if line.startswith("a=fmtp:"):
            pt, _, params = line[len("a=fmtp:") :].partition(" ")
            if pt in opus:
                line = f"a=fmtp:{pt} {_with_opus_params(params)}"
        out.append(line)
        if line.startswith("a=rtpmap:"):
            pt = line[len("a=rtpmap:") :].split(" ", 1)[0]
            if pt in opus and pt not in has_fmtp:
                out.append(f"a=fmtp:{pt} {_with_opus_params('minptime=10')}")
    return "\r\n".join(out)


OPUS_ANSWER_PARAMS = (("useinbandfec", "1"), ("maxaveragebitrate", str(OPUS_BITRATE)))


def _with_opus_params(params: str) -> str:
    present = {p.split("=", 1)[0].strip().lower() for p in params.split(";") if p.strip()}
    extra = [f"{k}={v}" for k, v in OPUS_ANSWER_PARAMS if k not in present]
    return ";".join([params, *extra] if params else extra)

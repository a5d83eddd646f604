"""The listener fast path: RTP out of a finished aiortc connection, without aiortc's sender.

aiortc sets the connection up (ICE, DTLS, SRTP keys); after that, sending one packet through
its ``RTCRtpSender`` costs ~30 µs of Python per listener. Here each listener becomes a row
of send state (``podium.media.fanout``): header, libsrtp ``protect`` and ``send`` on the
ICE-selected socket, in one compiled loop per room and packet.

What we borrow from aiortc 1.16.0 / aioice 0.13.0 internals (pinned in pyproject; every
item is checked by ``tests/media/test_media_canary.py``):

* ``RTCDtlsTransport._tx_srtp``: the pylibsrtp ``Session`` keyed by the DTLS handshake;
* ``RTCIceTransport._connection._nominated[1]``: aioice's selected ``CandidatePair``, whose
  ``protocol.transport`` is the asyncio datagram transport and ``remote_addr`` the peer;
* ``RTCRtpTransceiver._codecs`` (the negotiated codecs: we need Opus's payload type);
* ``RTCRtpSender._ssrc`` (announced in our SDP answer) and its private ``__cname``;
* ``RTCRtpSender._send_rtcp`` (looked up on the instance by its RTCP task): replaced so that
  aiortc's per-peer RTCP loop parks at its first report and never wakes again (a timer and
  a report per peer per 0.5-1.5 s were a good part of a listener's fixed cost). The host
  sends each listener's sender report itself, from one task, about every
  ``SR_INTERVAL_SECONDS`` (RFC 3550's minimum interval), with the numbers of what the fast
  path sent (``Listener.sender_report``). A BYE (``sender.stop()`` cancels the parked loop)
  still goes out through aiortc;
* aioice's ``StunProtocol.datagram_received`` of the nominated pair (looked up on the
  instance by asyncio): wrapped so RTCP from someone who is not heard is dropped at once.
  Nothing uses a listener's receiver reports, and each one otherwise costs a failed STUN
  parse, a queue hop, SRTCP unprotect and RTCP parsing. RTP still goes through (aiortc must
  keep tracking its SRTP rollover counter for when the user is heard later).

* ``RTCRtpReceiver._RTCRtpReceiver__rtcp_task`` / ``__started`` and ``_run_rtcp``: the
  receiver-report loop is cancelled while a peer is not heard and started again when it is
  (``receiver_reports``).

Per listener, aiortc's RTCP (its sender reports, the listener's reports) cost about as much
CPU as sending it 50 packets a second; these cuts remove most of it.

aiortc's sender keeps its track, but that track never yields (``SilentTrack``), so aiortc
itself sends no RTP; its RTCP task, ICE consent checks and DTLS stay alive as usual.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.clock import current_ntp_time
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import (
    RtcpByePacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)
from av.frame import Frame
from av.packet import Packet
from pylibsrtp import Session

from podium.media import tasks
from podium.media.fanout import TS_MASK, Sendable, SendTable

ICE_COMPONENT_RTP = 1
SR_INTERVAL_SECONDS = 5.0


class FastPathError(Exception):
    """The connection does not have what the fast path needs (or aiortc changed)."""


class SilentTrack(MediaStreamTrack):
    """A sender track that never yields: aiortc's RTP loop waits on it forever, at no cost."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._ended = asyncio.Event()

    async def recv(self) -> Frame | Packet[Any]:
        await self._ended.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._ended.set()


class Listener(Sendable):
    """Per-peer send state (a row of the host's ``SendTable``) and the peer's RTCP.

    Sequence numbers are per listener (continuous across switches between the shared mix
    and a mix-minus); timestamps come from the room clock, so they are continuous too.
    """

    __slots__ = ("uid", "heard", "_sender", "_receiver")

    def __init__(
        self, table: SendTable, uid: int, session: Session, send: tuple[Callable[[Any], Any], int],
        sender: RTCRtpSender, pt: int, seq: int,
    ) -> None:  # fmt: skip
        super().__init__(table, session, send[0], send[1], sender._ssrc, pt, seq)
        self.uid = uid
        self.heard = False  # set by the host: RTCP from a listener is dropped on arrival
        self._sender = sender
        self._receiver: RTCRtpReceiver | None = None

    def set_heard(self, heard: bool) -> None:
        """Heard: RTCP from the peer is read and aiortc's receiver reports run; not heard:
        both stop (see the module docstring)."""
        self.heard = heard
        if self._receiver is not None:
            receiver_reports(self._receiver, heard, self)

    async def sender_report(self) -> None:
        """One RTCP SR (+ SDES CNAME) with the numbers of what the fast path sent."""
        sender = self._sender
        info = RtcpSenderInfo(
            ntp_timestamp=current_ntp_time(),
            rtp_timestamp=self.last_pos & TS_MASK,
            packet_count=self.packets & 0xFFFFFFFF,
            octet_count=self.octets & 0xFFFFFFFF,
        )
        packets: list[Any] = [RtcpSrPacket(ssrc=self.ssrc, sender_info=info)]
        cname = getattr(sender, "_RTCRtpSender__cname", None)
        if cname:
            item = (1, str(cname).encode())
            packets.append(RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=self.ssrc, items=[item])]))
        send = getattr(sender, "_podium_send_rtcp", None)
        if send is not None:
            await send(packets)


def take_over(pc: RTCPeerConnection, uid: int, seq: int, table: SendTable) -> Listener:
    """Build a ``Listener`` from a connected peer connection (see the module docstring)."""
    transceivers = pc.getTransceivers()
    if len(transceivers) != 1:
        raise FastPathError(f"expected one transceiver, got {len(transceivers)}")
    sender = transceivers[0].sender
    dtls = sender.transport
    if dtls is None or dtls.state != "connected":
        raise FastPathError("DTLS is not connected")
    session = getattr(dtls, "_tx_srtp", None)
    if not isinstance(session, Session):
        raise FastPathError("no SRTP tx session on the DTLS transport")
    connection = getattr(dtls.transport, "_connection", None)
    pair = getattr(connection, "_nominated", {}).get(ICE_COMPONENT_RTP)
    if pair is None:
        raise FastPathError("no nominated ICE pair")
    pt = payload_type(transceivers[0]._codecs)
    listener = Listener(table, uid, session, sender_for(pair), sender, pt, seq)
    listener._receiver = transceivers[0].receiver
    try:
        drop_listener_rtcp(pair.protocol, listener)
        park_sender_reports(sender)
    except BaseException:
        listener.close()  # its table row and socket duplicate
        raise
    return listener


def is_rtcp(data: bytes) -> bool:
    """RTP version 2 with an RTCP packet type (RFC 5761 demultiplexing)."""
    return len(data) > 1 and 127 < data[0] < 192 and 191 < data[1] < 224


def drop_listener_rtcp(protocol: Any, listener: Listener) -> None:
    """Drop RTCP from the pair's remote while ``listener.heard`` is false (see the docstring)."""
    original = protocol.datagram_received

    def datagram_received(data: bytes, addr: Any) -> None:
        if not listener.heard and is_rtcp(data):
            return
        original(data, addr)

    protocol.datagram_received = datagram_received


def receiver_reports(receiver: RTCRtpReceiver, on: bool, listener: Listener) -> None:
    """Run aiortc's receiver-report loop only while the peer is heard.

    A listener sends us no audio worth reporting on, but the loop still wakes every
    0.5-1.5 s per peer. Its task is cancelled (aiortc's ``stop()`` copes: it cancels a done
    task and its exit event is already set) and started again when the peer is heard, so
    a speaker's client keeps getting the loss figures its encoder's FEC depends on.
    """
    task = getattr(receiver, "_RTCRtpReceiver__rtcp_task", None)
    if not getattr(receiver, "_RTCRtpReceiver__started", False):
        # aiortc starts the receiver just after the connection reports "connected", i.e.
        # after the fast path took over: stop its loop as soon as it runs.
        if not on:
            tasks.spawn(_STARTING, _stop_when_started(receiver, listener), "receiver reports")
        return
    if not on and task is not None and not task.done():
        task.cancel()
    elif on and (task is None or task.done()):
        restarted = asyncio.ensure_future(receiver._run_rtcp())
        setattr(receiver, "_RTCRtpReceiver__rtcp_task", restarted)  # noqa: B010


_STARTING: set[asyncio.Task[Any]] = set()
_START_WAIT_SECONDS = 30.0


async def _stop_when_started(receiver: RTCRtpReceiver, listener: Listener) -> None:
    started = getattr(receiver, "_RTCRtpReceiver__rtcp_started", None)
    if started is None:
        return
    try:
        await asyncio.wait_for(started.wait(), _START_WAIT_SECONDS)
    except TimeoutError:
        return  # never started (closed first): nothing to stop
    if not listener.heard:
        receiver_reports(receiver, False, listener)


def park_sender_reports(sender: RTCRtpSender) -> None:
    """Stop aiortc's per-peer RTCP loop at its first report (see the module docstring).

    aiortc's own ``_send_rtcp`` stays reachable as ``_podium_send_rtcp`` for our reports.
    """
    if "_podium_send_rtcp" in vars(sender):
        return  # already parked
    original = sender._send_rtcp
    setattr(sender, "_podium_send_rtcp", original)  # noqa: B010

    async def send_rtcp(packets: list[Any]) -> None:
        if any(isinstance(p, RtcpByePacket) for p in packets):
            await original(packets)  # sender.stop(): goodbye as usual
            return
        await asyncio.get_running_loop().create_future()  # parked until stop() cancels it

    setattr(sender, "_send_rtcp", send_rtcp)  # noqa: B010 (method override)


def sender_for(pair: Any) -> tuple[Callable[[Any], Any], int]:
    """A one-argument send to the pair's remote, on the real socket under aioice's transport,
    and that socket's file descriptor for the compiled loop (-1: only the send will do).

    The selector transport keeps its socket in ``_sock`` (``get_extra_info("socket")`` is a
    guard without ``send``). The socket is ``connect``ed to the nominated remote, so each
    packet is a plain ``send``: no address to convert, no route lookup in the kernel. aioice
    keeps working on it: ``sendto`` with an address is still allowed on a connected UDP
    socket, and after nomination only this remote talks to it (aiortc does no ICE restarts;
    a connected socket no longer receives from the peer's other candidates). A full buffer
    raises ``BlockingIOError`` and the packet is dropped. A pair on a TURN relay has no such
    socket: its transport's own ``sendto`` (which wraps) is used instead.
    """
    transport = pair.protocol.transport
    addr = pair.remote_addr
    sock = getattr(transport, "_sock", None)
    if isinstance(sock, socket.socket) and sock.type == socket.SOCK_DGRAM:
        try:
            sock.connect(addr)
        except OSError:
            sendto = sock.sendto
            return (lambda packet: sendto(packet, addr)), -1
        return sock.send, sock.fileno()
    if callable(getattr(transport, "sendto", None)):
        relay_sendto = transport.sendto
        return (lambda packet: relay_sendto(bytes(packet), addr)), -1
    raise FastPathError("the ICE pair's transport cannot send datagrams")


def payload_type(codecs: list[Any]) -> int:
    """The negotiated Opus payload type (``RTCRtpTransceiver._codecs``, set by negotiation)."""
    opus = [c for c in codecs if c.mimeType.lower() == "audio/opus"]
    if not opus:
        raise FastPathError("Opus was not negotiated")
    return int(opus[0].payloadType)

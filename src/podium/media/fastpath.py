"""The listener fast path: RTP out of a finished aiortc connection, without aiortc's sender.

aiortc sets the connection up (ICE, DTLS, SRTP keys); after that, sending one packet through
its ``RTCRtpSender`` costs ~30 µs of Python per listener. Here each packet costs one header
``pack``, one libsrtp ``protect`` and one ``sendto`` on the ICE-selected socket.

What we borrow from aiortc 1.16.0 / aioice 0.13.0 internals (pinned in pyproject; every
item is checked by ``tests/media/test_media_canary.py``):

* ``RTCDtlsTransport._tx_srtp``: the pylibsrtp ``Session`` keyed by the DTLS handshake;
* ``RTCIceTransport._connection._nominated[1]``: aioice's selected ``CandidatePair``, whose
  ``protocol.transport`` is the asyncio datagram transport and ``remote_addr`` the peer;
* ``RTCRtpTransceiver._codecs`` (the negotiated codecs: we need Opus's payload type);
* ``RTCRtpSender._ssrc`` (announced in our SDP answer) and the private SR counters
  (``_RTCRtpSender__ntp_timestamp`` etc.), refreshed about once a second so aiortc's own
  RTCP task keeps sending sensible sender reports for the packets we send.

aiortc's sender keeps its track, but that track never yields (``SilentTrack``), so aiortc
itself sends no RTP; its RTCP task, ICE consent checks and DTLS stay alive as usual.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.clock import current_ntp_time
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.frame import Frame
from av.packet import Packet
from pylibsrtp import Session

RTP_VERSION = 0x80
TS_MASK = 0xFFFFFFFF
_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC
_SR_FIELDS = ("ntp_timestamp", "rtp_timestamp", "packet_count", "octet_count")
ICE_COMPONENT_RTP = 1


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


class Listener:
    """Per-peer send state: everything the per-packet loop touches, in slots.

    Sequence numbers are per listener (continuous across switches between the shared mix
    and a mix-minus); timestamps come from the room clock, so they are continuous too.
    """

    __slots__ = (
        "uid", "ssrc", "pt", "seq", "protect", "sendto", "addr",
        "min_pos", "packets", "octets", "last_pos", "_sender",
    )  # fmt: skip

    def __init__(
        self, uid: int, session: Session, sendto: Callable[[bytes, Any], Any], addr: Any,
        sender: RTCRtpSender, pt: int, seq: int,
    ) -> None:  # fmt: skip
        self.uid = uid
        self.ssrc: int = sender._ssrc
        self.pt = pt
        self.seq = seq
        self.protect = session.protect
        self.sendto = sendto
        self.addr = addr
        # Room-clock positions (samples, unwrapped): packets before min_pos are skipped, so
        # after a switch between the shared mix and a mix-minus no audio overlaps in time.
        self.min_pos = -1
        self.packets = 0
        self.octets = 0
        self.last_pos = 0
        self._sender = sender

    def send(self, payload: bytes, pos: int) -> None:
        """The single send (a mix-minus); ``fan_out`` inlines the same steps."""
        if pos < self.min_pos:
            return
        seq = self.seq
        self.seq = (seq + 1) & 0xFFFF
        head = _HEADER.pack(RTP_VERSION, self.pt, seq, pos & TS_MASK, self.ssrc)
        try:
            self.sendto(self.protect(head + payload), self.addr)
        except OSError:
            return  # full socket buffer or a vanished peer: drop, as UDP would
        self.packets += 1
        self.octets += len(payload)
        self.last_pos = pos

    def refresh_sender_report(self) -> None:
        """Feed aiortc's RTCP task the numbers of what we actually sent (about once a second)."""
        values = (current_ntp_time(), self.last_pos & TS_MASK, self.packets, self.octets)
        for name, value in zip(_SR_FIELDS, values, strict=True):
            setattr(self._sender, f"_RTCRtpSender__{name}", value)


def fan_out(listeners: list[Listener], payload: bytes, pos: int) -> int:
    """Send one encoded packet to every listener; returns how many were sent.

    This is the hot loop: locals only, no calls besides pack/protect/sendto.
    """
    pack = _HEADER.pack
    ts = pos & TS_MASK
    sent = 0
    size = len(payload)
    for lis in listeners:
        if pos < lis.min_pos:
            continue
        seq = lis.seq
        lis.seq = (seq + 1) & 0xFFFF
        try:
            packet = lis.protect(pack(RTP_VERSION, lis.pt, seq, ts, lis.ssrc) + payload)
            lis.sendto(packet, lis.addr)
        except OSError:
            continue
        lis.packets += 1
        lis.octets += size
        lis.last_pos = pos
        sent += 1
    return sent


def take_over(pc: RTCPeerConnection, uid: int, seq: int) -> Listener:
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
    return Listener(uid, session, sendto_for(pair.protocol), pair.remote_addr, sender, pt, seq)


def sendto_for(protocol: Any) -> Callable[[bytes, Any], Any]:
    """``sendto`` of the real socket under the pair's asyncio datagram transport.

    The selector transport keeps its socket in ``_sock`` (``get_extra_info("socket")`` is a
    guard without ``sendto``). Sending on it directly skips ~1 µs of asyncio bookkeeping; a
    full buffer raises ``BlockingIOError`` and the packet is dropped. A pair on a TURN
    relay has no such socket: its transport's own ``sendto`` (which wraps) is used instead.
    """
    transport = protocol.transport
    sock = getattr(transport, "_sock", None)
    if isinstance(sock, socket.socket) and sock.type == socket.SOCK_DGRAM:
        return sock.sendto
    if callable(getattr(transport, "sendto", None)):
        return transport.sendto  # type: ignore[no-any-return]
    raise FastPathError("the ICE pair's transport cannot send datagrams")


def payload_type(codecs: list[Any]) -> int:
    """The negotiated Opus payload type (``RTCRtpTransceiver._codecs``, set by negotiation)."""
    opus = [c for c in codecs if c.mimeType.lower() == "audio/opus"]
    if not opus:
        raise FastPathError("Opus was not negotiated")
    return int(opus[0].payloadType)

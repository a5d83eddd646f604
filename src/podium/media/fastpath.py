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

Per listener, aiortc's RTCP (its sender reports, the listener's reports) cost about as much
CPU as sending it 50 packets a second; these two cuts remove most of it.

aiortc's sender keeps its track, but that track never yields (``SilentTrack``), so aiortc
itself sends no RTP; its RTCP task, ICE consent checks and DTLS stay alive as usual.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable, Sequence
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender
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

RTP_VERSION = 0x80
TS_MASK = 0xFFFFFFFF
_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC
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


class Listener:
    """Per-peer send state: everything the per-packet loop touches, in slots.

    Sequence numbers are per listener (continuous across switches between the shared mix
    and a mix-minus); timestamps come from the room clock, so they are continuous too.
    """

    __slots__ = (
        "uid", "ssrc", "pt", "seq", "srtp", "protect", "send_packet",
        "min_pos", "packets", "octets", "last_pos", "heard", "_sender",
    )  # fmt: skip

    def __init__(
        self, uid: int, session: Session, send_packet: Callable[[Any], Any],
        sender: RTCRtpSender, pt: int, seq: int,
    ) -> None:  # fmt: skip
        self.uid = uid
        self.ssrc: int = sender._ssrc
        self.pt = pt
        self.seq = seq
        self.srtp = srtp_context(session)  # libsrtp's srtp_t, or None: use ``protect``
        self.protect = session.protect
        self.send_packet = send_packet
        # Room-clock positions (samples, unwrapped): packets before min_pos are skipped, so
        # after a switch between the shared mix and a mix-minus no audio overlaps in time.
        self.min_pos = -1
        self.packets = 0
        self.octets = 0
        self.last_pos = 0
        self.heard = False  # set by the host: RTCP from a listener is dropped on arrival
        self._sender = sender

    def send(self, payload: bytes, pos: int) -> None:
        """The single send (a mix-minus)."""
        fan_out((self,), payload, pos)

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


# -- libsrtp, called directly ------------------------------------------------------------------
# pylibsrtp's ``Session.protect`` allocates, checks and copies in Python on every call (about a
# third of a packet's user CPU here). The fast path calls the same C function,
# ``srtp_protect(ctx, buf, &len)``, on one scratch buffer per process (only the event loop's
# thread sends). Borrowed from pylibsrtp 1.0.0: ``Session._srtp`` (its ``srtp_t *``) and the
# cffi ``lib``/``ffi`` of ``pylibsrtp._binding``. ``_direct_srtp_works`` checks at import that
# both ways give the same bytes on a throwaway session; otherwise ``Session.protect`` is used.
try:
    from pylibsrtp import Policy
    from pylibsrtp._binding import ffi as _ffi
    from pylibsrtp._binding import lib as _lib
except ImportError:  # pragma: no cover - a pylibsrtp without the cffi module
    _lib = _ffi = None

_MAX_PACKET = 1400
_SRTP_TRAILER = 16 + 128  # pylibsrtp's SRTP_MAX_TRAILER_LEN (tag + MKI)
_scratch: Any = _ffi.new("char[]", _MAX_PACKET + _SRTP_TRAILER) if _ffi is not None else None
_view: memoryview | None = memoryview(_ffi.buffer(_scratch)) if _ffi is not None else None
_length: Any = _ffi.new("int *") if _ffi is not None else None


def _protect_direct(ctx: Any, packet: bytes) -> bytes | None:
    """``srtp_protect`` on the scratch buffer; the protected bytes, or None on an error."""
    assert _view is not None and _length is not None and _lib is not None
    size = len(packet)
    _view[0:size] = packet
    _length[0] = size
    if _lib.srtp_protect(ctx, _scratch, _length):
        return None
    return bytes(_view[0 : _length[0]])  # a copy: the scratch buffer is reused


def _direct_srtp_works() -> bool:
    if _lib is None:
        return False
    try:
        key = bytes(range(30))
        profile = Policy.SRTP_PROFILE_AES128_CM_SHA1_80
        ours, theirs = (
            Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
            for _ in range(2)
        )
        for seq in (1, 2, 65535, 0):
            packet = _HEADER.pack(RTP_VERSION, 111, seq, seq * 960, 1234) + bytes(range(100))
            if _protect_direct(ours._srtp[0], packet) != theirs.protect(packet):
                return False
        return True
    except Exception:
        return False


DIRECT_SRTP = _direct_srtp_works()


def srtp_context(session: Session) -> Any:
    """The session's ``srtp_t`` for ``srtp_protect``, or None if the direct call is off."""
    if not DIRECT_SRTP:
        return None
    srtp = getattr(session, "_srtp", None)
    return srtp[0] if srtp is not None else None


def fan_out(listeners: Sequence[Listener], payload: bytes, pos: int) -> int:
    """Send one encoded packet to every listener; returns how many were sent.

    This is the hot loop: locals only. Per listener: the 12-byte header packed into the
    scratch buffer, the payload copied after it, ``srtp_protect`` in place, one ``send``.
    """
    size = len(payload)
    total = size + 12
    view = _view
    if view is None or _lib is None or total > _MAX_PACKET:
        return _fan_out_slow(listeners, payload, pos)
    pack_into = _HEADER.pack_into
    scratch, length, protect = _scratch, _length, _lib.srtp_protect
    ts = pos & TS_MASK
    sent = 0
    for lis in listeners:
        if pos < lis.min_pos:
            continue
        ctx = lis.srtp
        if ctx is None:
            sent += _fan_out_slow((lis,), payload, pos)
            continue
        seq = lis.seq
        lis.seq = (seq + 1) & 0xFFFF
        pack_into(view, 0, RTP_VERSION, lis.pt, seq, ts, lis.ssrc)
        view[12:total] = payload
        length[0] = total
        if protect(ctx, scratch, length):
            continue  # libsrtp refused (never seen): drop this one packet
        try:
            lis.send_packet(view[: length[0]])  # a view: the kernel copies it
        except OSError:
            continue  # full socket buffer or a vanished peer: drop, as UDP would
        lis.packets += 1
        lis.octets += size
        lis.last_pos = pos
        sent += 1
    return sent


def skip_sequence(listeners: Sequence[Listener]) -> None:
    """Leave one sequence number out for every listener: a packet lost before the fan-out
    (receivers see the gap and conceal it, or rebuild it from the next packet's FEC)."""
    for lis in listeners:
        lis.seq = (lis.seq + 1) & 0xFFFF


def _fan_out_slow(listeners: Sequence[Listener], payload: bytes, pos: int) -> int:
    """The same through pylibsrtp's ``Session.protect`` (no direct libsrtp call)."""
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
            lis.send_packet(lis.protect(pack(RTP_VERSION, lis.pt, seq, ts, lis.ssrc) + payload))
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
    listener = Listener(uid, session, sender_for(pair), sender, pt, seq)
    drop_listener_rtcp(pair.protocol, listener)
    park_sender_reports(sender)
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


def sender_for(pair: Any) -> Callable[[Any], Any]:
    """A one-argument send to the pair's remote, on the real socket under aioice's transport.

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
            return lambda packet: sendto(packet, addr)
        return sock.send
    if callable(getattr(transport, "sendto", None)):
        relay_sendto = transport.sendto
        return lambda packet: relay_sendto(bytes(packet), addr)
    raise FastPathError("the ICE pair's transport cannot send datagrams")


def payload_type(codecs: list[Any]) -> int:
    """The negotiated Opus payload type (``RTCRtpTransceiver._codecs``, set by negotiation)."""
    opus = [c for c in codecs if c.mimeType.lower() == "audio/opus"]
    if not opus:
        raise FastPathError("Opus was not negotiated")
    return int(opus[0].payloadType)

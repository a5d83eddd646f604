"""A listener that does real ICE + DTLS with aiortc, then counts RTP as cheaply as possible.

Setup is stock aiortc (offer/answer, ICE checks, DTLS handshake, SRTP keys). The cheap part:
once candidates are gathered, the listener's aioice ``StunProtocol.datagram_received`` (the
first Python code that sees each UDP datagram) is wrapped. RTP datagrams (first byte
128..191, payload-type byte not an RTCP type) are counted there and go no further: no STUN
parse, no asyncio queue, no SRTP unprotect, no jitter buffer, no decoder. Everything else
(STUN consent checks and their responses, DTLS, RTCP) takes the normal aiortc path, so the
connection stays alive on both sides.

To prove the counted datagrams are real media for this listener, 1 in 256 (and the first) is
SRTP-unprotected with the listener's own DTLS-derived key: ``verified_ok`` vs ``verified_bad``.
The first counted packet's arrival time gives join -> first audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import random
import struct
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcdtlstransport import RTCCertificate

from benchlib.batchrecv import BatchReceiver, Sink
from benchlib.signalling import JanusHttp, PodiumHttp, podium_request
from podium.media import ice

VERIFY_MASK = 255  # verify packet 1, 257, 513, ...
SIOCGSTAMPNS = 0x8907  # <asm-generic/sockios.h>: kernel receive time of the last datagram read


def reuse_one_certificate() -> None:
    """Every RTCPeerConnection made in this process afterwards uses one DTLS certificate.

    aiortc makes a new EC key and self-signed certificate per connection (~2 ms of CPU each);
    a load generator making hundreds of listeners a second spends that on itself, not on the
    server. The server sees one fingerprint many times, which DTLS does not mind.
    """
    shared = RTCCertificate.generateCertificate()
    RTCCertificate.generateCertificate = classmethod(lambda cls: shared)  # type: ignore[method-assign,assignment]


def is_rtp(data: bytes) -> bool:
    return 127 < data[0] < 192 and len(data) > 1 and not 191 < data[1] < 224


class SilentTrack(MediaStreamTrack):
    """A microphone that never produces a frame (a listener's muted mic).

    Without a track, aiortc's ``RTCRtpSender._run_rtp`` polls every 20 ms per connection,
    which would cost the generator more than counting packets does.
    """

    kind = "audio"

    async def recv(self) -> Any:
        await asyncio.get_running_loop().create_future()  # never resolves


class FastListener:
    def __init__(self, ice_host: str, drop_rate: float = 0.0, kernel_stamps: bool = False) -> None:
        self.ice_host = ice_host
        self.drop_rate = drop_rate  # in-process loss injection (the kernel here has no netem)
        # Opt-in: switching receive stamps on makes the kernel stamp every datagram it
        # receives (all sockets), a small cost the matrix's server would pay on loopback.
        self.kernel_stamps = kernel_stamps
        self.pc = RTCPeerConnection(ice.rtc_configuration([]))
        self.packets = 0
        self.dropped = 0
        self.verified_ok = 0
        self.verified_bad = 0
        self.started_at = 0.0
        self.joined_at: float | None = None  # join_podium_http: POST /join answered
        self.answered_at: float | None = None  # join_podium_http: POST /rtc answered
        self.first_at: float | None = None
        # with kernel_stamps: kernel receive time (CLOCK_REALTIME ns) of the first RTP
        # datagram, when it was read in asyncio: unlike first_at, not delayed by a busy generator
        self.first_kernel_ns: int | None = None
        self.audio = asyncio.Event()  # set at the first RTP datagram
        self.sink: Sink | None = None  # once moved to a BatchReceiver
        self._offered = False

    @property
    def connected(self) -> bool:
        return self.pc.connectionState == "connected"

    def _dtls(self) -> Any:
        return self.pc.getTransceivers()[0].receiver.transport

    def _install_counter(self) -> None:
        dtls = self._dtls()
        connection = dtls.transport._connection
        for protocol in connection._protocols:
            self._original = protocol.datagram_received
            protocol.datagram_received = self._make_counter(
                protocol.datagram_received, dtls, protocol.transport
            )
            if self.kernel_stamps:
                _kernel_stamp(protocol.transport)  # switches the socket's receive stamps on

    def _first(self, transport: Any) -> None:
        self.first_at = time.monotonic()
        if transport is not None and self.kernel_stamps:
            self.first_kernel_ns = _kernel_stamp(transport)
        self.audio.set()

    def move_to(self, batch: BatchReceiver) -> bool:
        """Hand this listener's socket to a batch receiver (after setup); False if not up."""
        dtls = self._dtls()
        connection = dtls.transport._connection
        pair = connection._nominated.get(1)
        if pair is None or not self.connected:
            return False

        def count(view: memoryview, off: int, size: int) -> None:
            if self.first_at is None:
                self._first(None)
            if self.drop_rate and random.random() < self.drop_rate:
                self.dropped += 1
                return
            self.packets += 1
            if (self.packets & VERIFY_MASK) == 1:
                srtp = dtls._rx_srtp
                try:
                    srtp.unprotect(bytes(view[off : off + size]))
                    self.verified_ok += 1
                except Exception:
                    self.verified_bad += 1

        self.sink = Sink(pair.protocol.transport, count, self._original, pair.remote_addr)
        batch.add(self.sink)
        return True

    def _make_counter(
        self, original: Callable[[bytes, tuple[Any, ...]], None], dtls: Any, transport: Any
    ) -> Callable[[bytes, tuple[Any, ...]], None]:
        drop = self.drop_rate
        rand = random.random

        def verify(data: bytes) -> None:
            if self.first_at is None:
                self._first(transport)
            srtp = dtls._rx_srtp
            if srtp is None:
                return
            try:
                srtp.unprotect(data)
                self.verified_ok += 1
            except Exception:
                self.verified_bad += 1

        def counter(data: bytes, addr: tuple[Any, ...]) -> None:
            b0 = data[0]
            if 127 < b0 < 192 and not 191 < data[1] < 224:
                if drop and rand() < drop:
                    self.dropped += 1
                    return
                self.packets += 1
                if (self.packets & VERIFY_MASK) == 1:
                    verify(data)
                return
            original(data, addr)

        return counter

    async def join_podium(self, socket_path: str, room: str, uid: int) -> None:
        """Offer like a browser (one sendrecv audio m-line, nothing sent), get the answer."""
        self.started_at = time.monotonic()
        self.pc.addTransceiver(SilentTrack(), direction="sendrecv")
        with ice.host_addresses([self.ice_host]):
            await self.pc.setLocalDescription(await self.pc.createOffer())
        self._install_counter()
        reply = await podium_request(
            socket_path,
            {"op": "connect", "room": room, "uid": uid, "sdp": self.pc.localDescription.sdp},
        )
        await self.pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))

    async def prepare_offer(self) -> None:
        """The browser-like offer (ICE candidates gathered), before any signalling."""
        if self._offered:
            return
        self.pc.addTransceiver(SilentTrack(), direction="sendrecv")
        with ice.host_addresses([self.ice_host]):
            await self.pc.setLocalDescription(await self.pc.createOffer())
        self._install_counter()
        self._offered = True

    async def join_podium_http(self, http: PodiumHttp, token: str, room_id: str) -> None:
        """Through ``podium serve``'s API, as a client: POST /rooms/{id}/join, then
        POST /rooms/{id}/rtc with the offer; apply the answer (ICE + DTLS then run on)."""
        await self.prepare_offer()
        self.started_at = time.monotonic()
        await http.post(f"/rooms/{room_id}/join", None, token)
        self.joined_at = time.monotonic()
        reply = await http.post(
            f"/rooms/{room_id}/rtc", {"sdp": self.pc.localDescription.sdp, "type": "offer"}, token
        )
        self.answered_at = time.monotonic()
        await self.pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))

    async def join_janus(self, janus: JanusHttp, mountpoint: int) -> None:
        """Janus offers (sendonly audio), we answer; the answer carries our host candidate."""
        self.started_at = time.monotonic()
        session, handle, offer = await janus.watch(mountpoint)
        await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        with ice.host_addresses([self.ice_host]):
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._install_counter()
        await janus.start(session, handle, self.pc.localDescription.sdp)

    async def wait_settled(self, timeout: float) -> bool:
        """Until ICE + DTLS finished (connected: True) or failed/closed/timed out (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.pc.connectionState
            if state == "connected":
                return True
            if state in ("failed", "closed"):
                return False
            await asyncio.sleep(0.02)
        return False

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # best effort: a failed try is thrown away
            await asyncio.wait_for(self.pc.close(), 5)

    async def wait_audio(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.audio.wait(), timeout)
        return self.first_at is not None


def _kernel_stamp(transport: Any) -> int | None:
    """SIOCGSTAMPNS: when the kernel received the datagram this socket returned last (ns,
    CLOCK_REALTIME); the first call also makes the kernel keep that time for every datagram."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return None
    try:
        sec, nsec = struct.unpack("@qq", fcntl.ioctl(sock.fileno(), SIOCGSTAMPNS, bytes(16)))
    except OSError:  # ENOENT: nothing received yet
        return None
    return int(sec) * 1_000_000_000 + int(nsec)

"""Listeners that know exactly when each RTP packet arrived: the kernel's receive timestamp.

A test process that also sets up dozens of peers may fall behind reading its sockets; that
must not look like a gap in the server's audio. So once connected, a listener's ICE socket is
taken off asyncio and drained with ``recvmsg``, asking the kernel for ``SO_TIMESTAMPNS``:
RTP datagrams are only timestamped (never decrypted or decoded: the test checks timing, other
tests check what is heard); STUN and DTLS datagrams go to aioice exactly as asyncio would
have sent them, so the connection stays alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from typing import Any

import httpx
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from podium.media import ice

SO_TIMESTAMPNS = 35  # Linux; also the control message's type
_TIMESPEC = struct.Struct("@qq")
DRAIN_EVERY = 0.05


def is_rtp(data: bytes) -> bool:
    return len(data) > 1 and 127 < data[0] < 192 and not 191 < data[1] < 224


class _Silent(MediaStreamTrack):
    """A listener's microphone that never yields a frame (nothing to encode or send)."""

    kind = "audio"

    async def recv(self) -> Any:
        await asyncio.get_running_loop().create_future()


class GapListener:
    """One listener joined through the HTTP API: ``arrivals`` holds the kernel time (seconds,
    ``time.time()`` clock) of every RTP packet received after ``watch()``."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(ice.rtc_configuration([]))
        self.arrivals: list[float] = []
        self.started = 0.0
        self._sock: socket.socket | None = None
        self._deliver: Any = None
        self._remote: Any = None

    async def join(self, http: httpx.AsyncClient, room_id: str) -> None:
        """``http`` carries the member's token; join the room, then offer and connect."""
        self.started = time.time()
        response = await http.post(f"/rooms/{room_id}/join")
        assert response.status_code == 200, response.text
        self.pc.addTransceiver(_Silent(), direction="sendrecv")
        with ice.host_addresses(["127.0.0.1"]):
            await self.pc.setLocalDescription(await self.pc.createOffer())
        response = await http.post(f"/rooms/{room_id}/rtc", timeout=60,
                                   json={"sdp": self.pc.localDescription.sdp, "type": "offer"})
        assert response.status_code == 200, response.text
        await self.pc.setRemoteDescription(RTCSessionDescription(response.json()["sdp"],
                                                                 "answer"))

    async def connected(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while self.pc.connectionState != "connected":
                assert self.pc.connectionState not in ("failed", "closed")
                await asyncio.sleep(0.02)  # polls aiortc's state, with a deadline

    def watch(self) -> None:
        """From now on, read the socket ourselves, with kernel timestamps."""
        dtls = self.pc.getTransceivers()[0].receiver.transport
        pair = dtls.transport._connection._nominated[1]
        transport = pair.protocol.transport
        transport.pause_reading()  # asyncio stops reading; aioice still sends through it
        fd = transport.get_extra_info("socket").fileno()
        self._sock = socket.socket(fileno=os.dup(fd))
        self._sock.setblocking(False)
        self._sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._deliver, self._remote = pair.protocol.datagram_received, pair.remote_addr

    def drain(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while True:
            try:
                data, ancillary, _, _ = sock.recvmsg(2048, socket.CMSG_SPACE(16))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._sock = None
                return
            if not is_rtp(data):
                self._deliver(data, self._remote)  # STUN consent, DTLS, RTCP: aioice's
                continue
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    seconds, nanos = _TIMESPEC.unpack(value[:_TIMESPEC.size])
                    self.arrivals.append(seconds + nanos / 1e9)

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time without a packet between ``start`` and ``end`` (seconds)."""
        times = [start] + [t for t in self.arrivals if start <= t <= end] + [end]
        return max(b - a for a, b in zip(times, times[1:], strict=False))

    def first_audio(self) -> float | None:
        return self.arrivals[0] if self.arrivals else None

    async def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 5)


async def drain_forever(listeners: list[GapListener]) -> None:
    """Read every watched socket every ``DRAIN_EVERY`` s (cheap; timestamps come from the
    kernel, so how late this runs does not matter)."""
    while True:
        for listener in list(listeners):
            listener.drain()
        await asyncio.sleep(DRAIN_EVERY)

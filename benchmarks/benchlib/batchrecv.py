"""Batched receive for many listener sockets: ``recvmmsg(2)`` through ctypes.

After setup, each listener's UDP socket is taken off the asyncio selector and drained every
``tick`` seconds with ``recvmmsg(MSG_DONTWAIT)`` (up to 64 datagrams per system call).
RTP datagrams are only counted (1 in 256 per listener is SRTP-verified, see listener.py);
anything else (STUN consent checks and responses, RTCP) is handed to aioice's own
``datagram_received`` with the pair's remote address, exactly as asyncio would have.
At 50 packets/s per listener and a 100 ms tick that is one system call per ~5 packets
instead of an epoll wake-up plus a ``recvfrom`` per packet.

Opt-in ``timestamps=True``: each socket gets ``SO_TIMESTAMPNS`` and every datagram's kernel
arrival time comes back in recvmmsg's control messages, so each sink knows its longest gap
between RTP datagrams exactly (to the kernel's receive time), although it is read only every
``tick`` and its process may be starved for longer than that.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import socket
import struct
from collections.abc import Callable
from typing import Any

MSG_DONTWAIT = 0x40
VLEN = 64
SLOT = 1536
# <asm-generic/socket.h> (x86-64 and arm64: the 64-bit timespec). Python does not export them.
SO_TIMESTAMPNS = SCM_TIMESTAMPNS = 35
# CMSG_SPACE(sizeof(struct timespec)) on 64-bit Linux: a 16-byte cmsghdr, then tv_sec, tv_nsec
CSLOT = 32
_CMSG = struct.Struct("@QiiqQ")  # cmsg_len, cmsg_level, cmsg_type, tv_sec, tv_nsec
GAP_60_NS = 60_000_000
GAP_100_NS = 100_000_000


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(_Iovec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_recvmmsg = _libc.recvmmsg
_recvmmsg.argtypes = [ctypes.c_int, ctypes.POINTER(_Mmsghdr), ctypes.c_uint, ctypes.c_int,
                      ctypes.c_void_p]  # fmt: skip
_recvmmsg.restype = ctypes.c_int

Handler = Callable[[bytes, tuple[Any, ...]], None]


class Sink:
    """One drained socket: where its RTP is counted and where other datagrams go.

    With a timestamping receiver it also keeps the gaps between its RTP datagrams' kernel
    arrival times (nanoseconds, CLOCK_REALTIME) since the last ``take_gaps``.
    """

    __slots__ = ("transport", "fd", "count", "other", "remote", "last_ns", "max_gap_ns",
                 "over_60", "over_100", "open_counted")  # fmt: skip

    def __init__(
        self, transport: asyncio.DatagramTransport, count: Callable[[memoryview, int, int], None],
        other: Handler, remote: tuple[Any, ...],
    ) -> None:  # fmt: skip
        self.transport = transport
        self.fd = transport.get_extra_info("socket").fileno()
        self.count, self.other, self.remote = count, other, remote
        self.last_ns = 0  # arrival of the latest RTP datagram (0: none stamped yet)
        self.max_gap_ns = 0
        self.over_60 = self.over_100 = 0
        # A silence still open at a take_gaps was counted then (1: over 60 ms, 2: over 100 ms);
        # when it ends it must not be counted again.
        self.open_counted = 0

    def arrived(self, ns: int) -> None:
        """One RTP datagram arrived at ``ns``: close the gap since the previous one."""
        last, self.last_ns = self.last_ns, ns
        if not last:
            return
        gap = ns - last
        if gap > self.max_gap_ns:
            self.max_gap_ns = gap
        if gap > GAP_60_NS:
            self.over_60 += self.open_counted < 1
            self.over_100 += gap > GAP_100_NS and self.open_counted < 2
            self.open_counted = 0

    def take_gaps(self, now_ns: int) -> tuple[float, int, int]:
        """(longest gap in ms, gaps > 60 ms, gaps > 100 ms) since the previous call, then reset.

        The silence still open at ``now_ns`` counts as a gap of this window (and is not
        counted again when it ends, though its full length is the next window's maximum).
        """
        longest, over_60, over_100 = self.max_gap_ns, self.over_60, self.over_100
        if self.last_ns:
            open_ns = max(0, now_ns - self.last_ns)
            longest = max(longest, open_ns)
            if open_ns > GAP_60_NS and self.open_counted < 1:
                over_60, self.open_counted = over_60 + 1, 1
            if open_ns > GAP_100_NS and self.open_counted < 2:
                over_100, self.open_counted = over_100 + 1, 2
        self.max_gap_ns = self.over_60 = self.over_100 = 0
        return longest / 1e6, over_60, over_100


class BatchReceiver:
    def __init__(self, tick: float = 0.1, timestamps: bool = False) -> None:
        self.tick = tick
        self.timestamps = timestamps
        self.sinks: list[Sink] = []
        self.syscalls = 0
        self._buf = ctypes.create_string_buffer(VLEN * SLOT)
        self._view = memoryview(self._buf).cast("B")
        self._iov = (_Iovec * VLEN)()
        self._hdrs = (_Mmsghdr * VLEN)()
        self._cbuf = ctypes.create_string_buffer(VLEN * CSLOT)
        base = ctypes.addressof(self._buf)
        cbase = ctypes.addressof(self._cbuf)
        for i in range(VLEN):
            self._iov[i].iov_base = base + i * SLOT
            self._iov[i].iov_len = SLOT
            self._hdrs[i].msg_hdr.msg_iov = ctypes.pointer(self._iov[i])
            self._hdrs[i].msg_hdr.msg_iovlen = 1
            if timestamps:
                self._hdrs[i].msg_hdr.msg_control = cbase + i * CSLOT
                self._hdrs[i].msg_hdr.msg_controllen = CSLOT
        self._task: asyncio.Task[None] | None = None

    def add(self, sink: Sink) -> None:
        sink.transport.pause_reading()  # asyncio stops reading; sends still work
        if self.timestamps:
            sock = sink.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sinks.append(sink)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            self.drain()
            next_at += self.tick
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    def drain(self) -> None:
        hdrs, view = self._hdrs, self._view
        if any(sink.transport.is_closing() for sink in self.sinks):
            # a listener that failed: its fd number may be reused by a new socket
            self.sinks = [sink for sink in self.sinks if not sink.transport.is_closing()]
        if self.timestamps:
            self._drain_stamped()
            return
        for sink in self.sinks:
            while True:
                n = _recvmmsg(sink.fd, hdrs, VLEN, MSG_DONTWAIT, None)
                self.syscalls += 1
                if n <= 0:
                    if n < 0 and ctypes.get_errno() not in (errno.EAGAIN, errno.EWOULDBLOCK):
                        break  # socket closed or failed: nothing more to read
                    break
                for i in range(n):
                    off = i * SLOT
                    size = hdrs[i].msg_len
                    b0 = view[off]
                    if 127 < b0 < 192 and not 191 < view[off + 1] < 224:
                        sink.count(view, off, size)
                    else:
                        sink.other(bytes(view[off : off + size]), sink.remote)
                if n < VLEN:
                    break

    def _drain_stamped(self) -> None:
        """``drain`` that also hands each RTP datagram's kernel arrival time to its sink.

        A separate loop so that the default path pays nothing for it.
        """
        hdrs, view, cview = self._hdrs, self._view, memoryview(self._cbuf).cast("B")
        unpack = _CMSG.unpack_from
        for sink in self.sinks:
            while True:
                n = _recvmmsg(sink.fd, hdrs, VLEN, MSG_DONTWAIT, None)
                self.syscalls += 1
                if n <= 0:
                    break  # EAGAIN (drained) or the socket failed: nothing more to read
                for i in range(n):
                    msg = hdrs[i]
                    off = i * SLOT
                    size = msg.msg_len
                    ns = 0
                    # the kernel writes back the control length it used: CSLOT for a stamp,
                    # 0 for a datagram queued before SO_TIMESTAMPNS was set (then restore it)
                    if msg.msg_hdr.msg_controllen == CSLOT:
                        _, level, kind, sec, nsec = unpack(cview, i * CSLOT)
                        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                            ns = sec * 1_000_000_000 + nsec
                    else:
                        msg.msg_hdr.msg_controllen = CSLOT
                    b0 = view[off]
                    if 127 < b0 < 192 and not 191 < view[off + 1] < 224:
                        sink.count(view, off, size)
                        if ns:
                            sink.arrived(ns)
                    else:
                        sink.other(bytes(view[off : off + size]), sink.remote)
                if n < VLEN:
                    break

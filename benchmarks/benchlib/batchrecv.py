"""Batched receive for many listener sockets: ``recvmmsg(2)`` through ctypes.

After setup, each listener's UDP socket is taken off the asyncio selector and drained every
``tick`` seconds with ``recvmmsg(MSG_DONTWAIT)`` (up to 64 datagrams per system call).
RTP datagrams are only counted (1 in 256 per listener is SRTP-verified, see listener.py);
anything else (STUN consent checks and responses, RTCP) is handed to aioice's own
``datagram_received`` with the pair's remote address, exactly as asyncio would have.
At 50 packets/s per listener and a 100 ms tick that is one system call per ~5 packets
instead of an epoll wake-up plus a ``recvfrom`` per packet.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
from collections.abc import Callable
from typing import Any

MSG_DONTWAIT = 0x40
VLEN = 64
SLOT = 1536


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
    """One drained socket: where its RTP is counted and where other datagrams go."""

    __slots__ = ("transport", "fd", "count", "other", "remote")

    def __init__(
        self, transport: asyncio.DatagramTransport, count: Callable[[memoryview, int, int], None],
        other: Handler, remote: tuple[Any, ...],
    ) -> None:  # fmt: skip
        self.transport = transport
        self.fd = transport.get_extra_info("socket").fileno()
        self.count, self.other, self.remote = count, other, remote


class BatchReceiver:
    def __init__(self, tick: float = 0.1) -> None:
        self.tick = tick
        self.sinks: list[Sink] = []
        self.syscalls = 0
        self._buf = ctypes.create_string_buffer(VLEN * SLOT)
        self._view = memoryview(self._buf).cast("B")
        self._iov = (_Iovec * VLEN)()
        self._hdrs = (_Mmsghdr * VLEN)()
        base = ctypes.addressof(self._buf)
        for i in range(VLEN):
            self._iov[i].iov_base = base + i * SLOT
            self._iov[i].iov_len = SLOT
            self._hdrs[i].msg_hdr.msg_iov = ctypes.pointer(self._iov[i])
            self._hdrs[i].msg_hdr.msg_iovlen = 1
        self._task: asyncio.Task[None] | None = None

    def add(self, sink: Sink) -> None:
        sink.transport.pause_reading()  # asyncio stops reading; sends still work
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

"""The per-packet part of the listener fast path: send state in one table, one loop in C.

Every listener's send state (sequence number, SSRC, payload type, libsrtp context, socket,
counters) is a 48-byte row of one ``SendTable`` per process. A room's listeners are an
``Audience``: their rows' slots, in an ``array``. Sending a packet to a room is one call of
``_fanout.fan_out`` (``_fanout.c``): per listener the header, the payload, libsrtp's
``srtp_protect`` and one ``send(2)``, with no Python in between. Measured here at 1,000
listeners, that halves the user CPU the Python loop spent per packet (see benchmarks/).

Without the compiled module (no C compiler at install) the same loop runs in Python on the
same table, calling ``srtp_protect`` through pylibsrtp's cffi module and ``send`` on the socket.

Sockets: a row holds its own ``dup`` of the listener's ICE socket, so a socket aioice closes
(consent lost) stays the same socket until the listener is dropped, and its number cannot be
reused by another connection while a row still names it.

Borrowed from pylibsrtp 1.0.0 (pinned, checked at import and by tests/media canaries):
``Session._srtp`` (its ``srtp_t *``) and the cffi ``lib``/``ffi`` of ``pylibsrtp._binding``.
"""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pylibsrtp import Policy, Session

try:
    from pylibsrtp._binding import ffi as _ffi
    from pylibsrtp._binding import lib as _lib
except ImportError:  # pragma: no cover - a pylibsrtp without the cffi module
    _lib = _ffi = None

try:
    from podium.media import _fanout  # type: ignore[attr-defined]
except ImportError:  # no C compiler when installed: the Python loop below
    _fanout = None

RTP_VERSION = 0x80
TS_MASK = 0xFFFFFFFF
HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC
ROW = struct.Struct("=qqQIIIiHB5x")  # row_t in _fanout.c
_MIN_POS, _LAST_POS, _CTX, _SSRC, _PACKETS, _OCTETS, _FD, _SEQ, _PT = (
    0, 8, 16, 24, 28, 32, 36, 40, 42,
)  # fmt: skip
_Q, _I, _H = struct.Struct("=q"), struct.Struct("=I"), struct.Struct("=H")
MAX_PACKET = 1400
_SRTP_TRAILER = 16 + 128  # pylibsrtp's SRTP_MAX_TRAILER_LEN (tag + MKI)


class SendTable:
    """Rows of send state, allocated and freed by slot; grows by doubling."""

    def __init__(self, capacity: int = 64) -> None:
        self.buf = bytearray(ROW.size * capacity)
        self._free = list(range(capacity - 1, -1, -1))

    def alloc(self) -> int:
        if not self._free:
            rows = len(self.buf) // ROW.size
            self.buf.extend(bytes(len(self.buf)))
            self._free = list(range(2 * rows - 1, rows - 1, -1))
        return self._free.pop()

    def release(self, slot: int) -> None:
        ROW.pack_into(self.buf, slot * ROW.size, 0, 0, 0, 0, 0, 0, -1, 0, 0)
        self._free.append(slot)


class Sendable:
    """One listener's send state: a row of a ``SendTable`` (properties read and write it)."""

    __slots__ = ("table", "slot", "fd", "srtp", "protect", "send_packet", "one", "_base")

    def __init__(
        self, table: SendTable, session: Session, send_packet: Callable[[Any], Any],
        sock_fd: int, ssrc: int, pt: int, seq: int,
    ) -> None:  # fmt: skip
        self.table = table
        self.slot = table.alloc()
        self._base = self.slot * ROW.size
        self.srtp = srtp_context(session)  # libsrtp's srtp_t, or None: use ``protect``
        self.protect = session.protect  # also keeps the session (and its srtp_t) alive
        self.send_packet = send_packet
        self.fd = os.dup(sock_fd) if sock_fd >= 0 and self.srtp is not None else -1
        ctx = int(_ffi.cast("uintptr_t", self.srtp)) if self.srtp is not None else 0
        # Room-clock positions (samples, unwrapped): packets before min_pos are skipped, so
        # after a switch between the shared mix and a mix-minus no audio overlaps in time.
        ROW.pack_into(table.buf, self._base, -1, 0, ctx, ssrc, 0, 0, self.fd, seq & 0xFFFF, pt)
        self.one = array("i", [self.slot])

    def close(self) -> None:
        """Free the row and the socket duplicate (after leaving every ``Audience``)."""
        if self.slot >= 0:
            self.table.release(self.slot)
            self.slot = -1
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _get(self, fmt: struct.Struct, offset: int) -> int:
        return int(fmt.unpack_from(self.table.buf, self._base + offset)[0])

    def _set(self, fmt: struct.Struct, offset: int, value: int) -> None:
        fmt.pack_into(self.table.buf, self._base + offset, value)

    ssrc = property(lambda self: self._get(_I, _SSRC))
    pt = property(lambda self: self._get(_H, _PT) & 0xFF)
    packets = property(lambda self: self._get(_I, _PACKETS))
    octets = property(lambda self: self._get(_I, _OCTETS))
    last_pos = property(lambda self: self._get(_Q, _LAST_POS))
    seq = property(
        lambda self: self._get(_H, _SEQ), lambda self, v: self._set(_H, _SEQ, v & 0xFFFF)
    )
    min_pos = property(
        lambda self: self._get(_Q, _MIN_POS), lambda self, v: self._set(_Q, _MIN_POS, v)
    )

    def send(self, payload: bytes, pos: int) -> None:
        """The single send (a mix-minus)."""
        me = (self,)
        _send(self.table, self.one, me if self.fd < 0 else (), me, payload, pos)


class Audience:
    """The listeners a room's shared packets go to: an ordered set, with their slots."""

    def __init__(self) -> None:
        self._members: dict[Sendable, None] = {}
        self._slots: array[int] | None = None
        self._skipped: list[Sendable] = []  # members the compiled loop cannot send to

    def add(self, lis: Sendable) -> None:
        self._members[lis] = None
        self._slots = None

    def discard(self, lis: Sendable) -> None:
        if self._members.pop(lis, 0) is None:
            self._slots = None

    def __contains__(self, lis: object) -> bool:
        return lis in self._members

    def __iter__(self) -> Iterator[Sendable]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def slots(self) -> array[int]:
        if self._slots is None:
            self._slots = array("i", (lis.slot for lis in self._members))
            self._skipped = [lis for lis in self._members if lis.fd < 0]
        return self._slots

    def skipped(self) -> list[Sendable]:
        """Members without a socket the compiled loop can use (a TURN relay), after ``slots``."""
        return self._skipped


def fan_out(audience: Audience, table: SendTable, payload: bytes, pos: int) -> int:
    """Send one encoded packet to every listener of ``audience``; returns how many were sent."""
    return _send(table, audience.slots(), audience.skipped(), audience, payload, pos)


def _send(
    table: SendTable, slots: array[int], skipped: Iterable[Sendable],
    members: Iterable[Sendable], payload: bytes, pos: int,
) -> int:  # fmt: skip
    """``slots`` through the compiled loop, then ``skipped`` (rows it leaves out) in Python;
    or all ``members`` in Python without the compiled loop."""
    if len(payload) + 12 > MAX_PACKET:
        return 0
    if COMPILED:
        sent = int(_fanout.fan_out(table.buf, slots, payload, pos, PROTECT_ADDR))
        return sent + sum(_send_py(lis, payload, pos) for lis in skipped)
    return sum(_send_py(lis, payload, pos) for lis in members)


def _send_py(lis: Sendable, payload: bytes, pos: int) -> int:
    """One packet to one listener in Python (no compiled module, or no socket to send on)."""
    buf, base = lis.table.buf, lis.slot * ROW.size
    min_pos, _, _, ssrc, packets, octets, _, seq, pt = ROW.unpack_from(buf, base)
    if pos < min_pos:
        return 0
    _H.pack_into(buf, base + _SEQ, (seq + 1) & 0xFFFF)
    packet = HEADER.pack(RTP_VERSION, pt, seq, pos & TS_MASK, ssrc) + payload
    protected = _protect_direct(lis.srtp, packet) if lis.srtp is not None else None
    try:
        lis.send_packet(protected if protected is not None else lis.protect(packet))
    except OSError:
        return 0  # full socket buffer or a vanished peer: drop, as UDP would
    _I.pack_into(buf, base + _PACKETS, (packets + 1) & 0xFFFFFFFF)
    _I.pack_into(buf, base + _OCTETS, (octets + len(payload)) & 0xFFFFFFFF)
    _Q.pack_into(buf, base + _LAST_POS, pos)
    return 1


def skip_sequence(listeners: Iterable[Sendable]) -> None:
    """Leave one sequence number out for every listener: a packet lost before the fan-out
    (receivers see the gap and conceal it, or rebuild it from the next packet's FEC)."""
    for lis in listeners:
        lis.seq = lis.seq + 1


# -- libsrtp, called directly ------------------------------------------------------------------
# pylibsrtp's ``Session.protect`` allocates, checks and copies in Python on every call. The C
# loop (and the Python one) call ``srtp_protect(ctx, buf, &len)`` itself, on one scratch
# buffer per process (only the event loop's thread sends). ``_direct_srtp_works`` checks at
# import that this gives the same bytes as ``Session.protect``; otherwise ``protect`` is used.

_scratch: Any = _ffi.new("char[]", MAX_PACKET + _SRTP_TRAILER) if _ffi is not None else None
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


def _sessions() -> tuple[Session, Session]:
    key = bytes(range(30))
    profile = Policy.SRTP_PROFILE_AES128_CM_SHA1_80
    ours, theirs = (
        Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
        for _ in range(2)
    )
    return ours, theirs


def _direct_srtp_works() -> bool:
    if _lib is None:
        return False
    try:
        ours, theirs = _sessions()
        for seq in (1, 2, 65535, 0):
            packet = HEADER.pack(RTP_VERSION, 111, seq, seq * 960, 1234) + bytes(range(100))
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


def _protect_address() -> int:
    """Address of libsrtp's ``srtp_protect`` for the C loop; 0 when it must not be used."""
    if not DIRECT_SRTP or _ffi is None or _lib is None:
        return 0
    return int(_ffi.cast("uintptr_t", _ffi.addressof(_lib, "srtp_protect")))


def _c_loop_works(addr: int) -> bool:
    """The compiled loop sends exactly what ``Session.protect`` makes (checked on a local
    socket pair, at import: a mismatch means the Python loop is used instead)."""
    if _fanout is None or not addr:
        return False
    import socket

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        ours, theirs = _sessions()
        table = SendTable(2)
        lis = Sendable(table, ours, a.send, a.fileno(), 1234, 111, 65535)
        try:
            for pos in (960, 1920):
                payload = bytes(range(100))
                if _fanout.fan_out(table.buf, lis.one, payload, pos, addr) != 1:
                    return False
                seq = (65535 + pos // 960 - 1) & 0xFFFF
                expected = theirs.protect(HEADER.pack(RTP_VERSION, 111, seq, pos, 1234) + payload)
                if b.recv(2048) != expected:
                    return False
            return bool(lis.seq == 1 and lis.packets == 2 and lis.last_pos == 1920)
        finally:
            lis.close()
    except Exception:
        return False
    finally:
        a.close()
        b.close()


PROTECT_ADDR = _protect_address()
# PODIUM_MEDIA_FANOUT=python: the Python loop even when the compiled one works (an escape
# hatch, and the baseline benchmarks/run.py --fanouts compares against).
COMPILED = os.environ.get("PODIUM_MEDIA_FANOUT", "compiled") != "python" and _c_loop_works(
    PROTECT_ADDR
)
"""The compiled loop is in use (else the Python one)."""

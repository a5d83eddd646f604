"""Speaker uplink: our own jitter buffer and libopus decoder (in-band FEC, PLC), in the mixer.

aiortc's receive path (``JitterBuffer(capacity=16, prefetch=4)`` + a decoder thread) adds
80 ms and, after one lost packet, discards runs of frames; it also conceals nothing. So the
peer host hands the speakers' raw Opus RTP payloads to the mixer (``host.hook_uplink``) and
each heard speaker gets an ``Uplink`` here:

* ``JitterBuffer``: packets by (unwrapped) RTP timestamp; reordering is free, a packet for
  audio already played is late and dropped. The mixer takes one 20 ms frame per tick. The
  buffer aims to hold ``TARGET_AHEAD`` packet beyond the one being played, so a single lost
  packet can be rebuilt from its successor's FEC. When the packet due is missing and nothing
  later has arrived (jitter, or a loss not yet known), the frame is concealed *without*
  advancing (the delay grows by 20 ms); when the buffer has held more than needed for
  ``SHRINK_AFTER_TICKS``, one quiet frame is dropped (the delay shrinks by 20 ms).
* ``OpusDecoder``: libopus through ctypes (PyAV's decoder cannot decode FEC or conceal):
  ``decode``, ``decode_fec`` (the previous frame from the next packet's LBRR data) and
  ``conceal`` (libopus PLC: decode with a NULL packet).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from podium.media.mixer import FRAME_SAMPLES, SAMPLE_RATE, Samples

MAX_PACKET_SAMPLES = SAMPLE_RATE * 120 // 1000  # the longest Opus packet: 120 ms
TS_MASK = 0xFFFFFFFF
TARGET_AHEAD = 1  # packets held beyond the one being played (room for FEC on one loss)
SHRINK_AFTER_TICKS = 50  # 1 s of holding one frame more than needed -> drop one frame
SHRINK_FAST_TICKS = 10  # ... 200 ms when holding two or more frames more than needed
MAX_AHEAD_FRAMES = 8  # a burst after a stall beyond this is cut at once (160 ms)
MAX_CONCEAL_FRAMES = 5  # after 100 ms without packets the speaker is silent, not concealed
MAX_FILL_FRAMES = 3  # a gap up to this long is concealed; a longer one is skipped over
QUIET_PEAK = 300  # a frame this quiet (about -40 dBFS peak) can be dropped unnoticed
FORCE_DROP_TICKS = 100  # ... but after 2 s more of waiting for one, drop anyway
RESTART_SAMPLES = SAMPLE_RATE  # a packet this far behind the playout means a new stream


class OpusError(Exception):
    pass


def _load_libopus() -> ctypes.CDLL:
    """The libopus bundled with PyAV (the one its encoder uses), else the system's."""
    candidates: list[str] = []
    try:
        import av

        libs = os.path.join(os.path.dirname(os.path.dirname(av.__file__)), "av.libs")
        candidates += sorted(glob.glob(os.path.join(libs, "libopus*.so*")))
    except ImportError:  # pragma: no cover - av is a dependency
        pass
    found = ctypes.util.find_library("opus")
    candidates += [found] if found else []
    candidates.append("libopus.so.0")
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.opus_decoder_create.restype = ctypes.c_void_p
        lib.opus_decoder_create.argtypes = [
            ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)
        ]  # fmt: skip
        lib.opus_decoder_destroy.restype = None
        lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
        lib.opus_decode.restype = ctypes.c_int
        lib.opus_decode.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32,
            ctypes.POINTER(ctypes.c_int16), ctypes.c_int, ctypes.c_int,
        ]  # fmt: skip
        lib.opus_packet_get_nb_samples.restype = ctypes.c_int
        lib.opus_packet_get_nb_samples.argtypes = [ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32]
        if hasattr(lib, "opus_packet_has_lbrr"):  # libopus >= 1.5
            lib.opus_packet_has_lbrr.restype = ctypes.c_int
            lib.opus_packet_has_lbrr.argtypes = [ctypes.c_char_p, ctypes.c_int32]
        return lib
    raise OpusError(f"libopus not found (tried {candidates})")


_lib: ctypes.CDLL | None = None


def libopus() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        _lib = _load_libopus()
    return _lib


def packet_samples(payload: bytes) -> int:
    """Duration of an Opus packet at 48 kHz; 0 if it is malformed."""
    n = int(libopus().opus_packet_get_nb_samples(payload, len(payload), SAMPLE_RATE))
    return n if 0 < n <= MAX_PACKET_SAMPLES else 0


def has_fec(payload: bytes) -> bool:
    """Whether the packet carries LBRR (in-band FEC) data for the frame before it.

    True when libopus is too old to tell (< 1.5): decoding FEC from a packet without any
    makes libopus conceal instead, so trying costs nothing.
    """
    lib = libopus()
    if not hasattr(lib, "opus_packet_has_lbrr"):
        return True
    return int(lib.opus_packet_has_lbrr(payload, len(payload))) == 1


class OpusDecoder:
    """One libopus decoder, mono 48 kHz int16 out (stereo packets are downmixed by libopus)."""

    def __init__(self) -> None:
        self._handle: int | None = None
        lib = libopus()
        error = ctypes.c_int(0)
        handle = lib.opus_decoder_create(SAMPLE_RATE, 1, ctypes.byref(error))
        if not handle or error.value != 0:
            raise OpusError(f"opus_decoder_create failed ({error.value})")
        self._lib = lib
        self._handle = handle
        self._out = (ctypes.c_int16 * MAX_PACKET_SAMPLES)()

    def _run(self, data: bytes | None, samples: int, fec: int) -> Samples:
        if self._handle is None:
            raise OpusError("decoder closed")
        size = len(data) if data is not None else 0
        n = self._lib.opus_decode(self._handle, data, size, self._out, samples, fec)
        if n < 0:
            raise OpusError(f"opus_decode failed ({n})")
        out: Samples = np.ctypeslib.as_array(self._out)[:n].copy()
        return out

    def decode(self, payload: bytes) -> Samples:
        return self._run(payload, MAX_PACKET_SAMPLES, 0)

    def decode_fec(self, next_payload: bytes, samples: int = FRAME_SAMPLES) -> Samples:
        """The ``samples`` just before ``next_payload``, from its FEC data (PLC if it has none)."""
        return self._run(next_payload, samples, 1)

    def conceal(self, samples: int = FRAME_SAMPLES) -> Samples:
        """libopus packet loss concealment for ``samples`` missing samples."""
        return self._run(None, samples, 0)

    def close(self) -> None:
        if self._handle is not None:
            self._lib.opus_decoder_destroy(self._handle)
            self._handle = None

    def __del__(self) -> None:
        self.close()


@dataclass(slots=True)
class UplinkStats:
    packets: int = 0
    decoded: int = 0
    fec: int = 0
    concealed: int = 0
    late: int = 0
    duplicate: int = 0
    stretched: int = 0
    dropped: int = 0
    skipped_gaps: int = 0


class JitterBuffer:
    """Opus packets by unwrapped RTP timestamp; ``play`` is the timestamp of the next sample due."""

    def __init__(self) -> None:
        self.packets: dict[int, bytes] = {}
        self.play: int | None = None
        self._last_ts: int | None = None  # unwrapped timestamp of the newest packet
        self.stats = UplinkStats()

    def unwrap(self, ts: int) -> int:
        if self._last_ts is None:
            return ts
        delta = (ts - self._last_ts) & TS_MASK
        if delta >= 1 << 31:
            delta -= 1 << 32
        return self._last_ts + delta

    def add(self, ts: int, payload: bytes) -> bool:
        """Store one packet; False if it is late (already played or concealed) or a duplicate."""
        self.stats.packets += 1
        uts = self.unwrap(ts)
        if self._last_ts is None or uts > self._last_ts:
            self._last_ts = uts
        if self.play is not None and uts < self.play - RESTART_SAMPLES:
            self.clear()  # the sender restarted its timestamps: start over
            self._last_ts = uts
        if self.play is not None and uts < self.play:
            self.stats.late += 1
            return False
        if uts in self.packets:
            self.stats.duplicate += 1
            return False
        self.packets[uts] = payload
        return True

    def first(self) -> int | None:
        return min(self.packets) if self.packets else None

    def ahead(self) -> int:
        """Samples of audio in hand from ``play`` on (up to the end of the newest packet)."""
        if self.play is None or not self.packets:
            return 0
        newest = max(self.packets)
        return max(0, newest + FRAME_SAMPLES - self.play)

    def clear(self) -> None:
        self.packets.clear()
        self.play = None


class Uplink:
    """One speaker: RTP payloads in (any time), one 20 ms frame out per mixer tick."""

    def __init__(self) -> None:
        self.buffer = JitterBuffer()
        self.decoder = OpusDecoder()
        self._pcm: deque[Samples] = deque()
        self._pcm_samples = 0
        self._concealed = 0  # consecutive concealed frames
        self._low = 1 << 30  # min frames ahead since the last shrink check
        self._low_ticks = 0
        self._want_drop = 0  # ticks spent waiting for a quiet frame to drop
        self.active = False  # False after a long silence: nothing to conceal
        self._decoded_payload: bytes | None = None  # what the last ``_produce`` decoded
        self.whole: bytes | None = None
        """After ``pull``: the one packet the frame was decoded from, exactly and alone (no
        FEC, concealment, leftovers or padding), so it can be forwarded instead of re-encoded."""
        self.rebuilt = False
        """After ``pull``: the frame is exactly one 20 ms stretch rebuilt by FEC or PLC (the
        packet for it was lost or late), with nothing decoded from a packet in it."""

    @property
    def stats(self) -> UplinkStats:
        return self.buffer.stats

    def push(self, ts: int, payload: bytes) -> None:
        if payload:
            self.buffer.add(ts, payload)

    def reset(self) -> None:
        self.buffer.clear()
        self._pcm.clear()
        self._pcm_samples = 0
        self._concealed = 0
        self.active = False
        self.decoder.close()
        self.decoder = OpusDecoder()

    def close(self) -> None:
        self.decoder.close()

    # -- one tick ------------------------------------------------------------------------------

    def pull(self) -> Samples | None:
        """The next 20 ms frame, or None while the speaker sends nothing (or has stopped)."""
        self.whole, self.rebuilt = None, False
        whole = self._pcm_samples == 0  # nothing left over from earlier packets
        chunks = 0
        while self._pcm_samples < FRAME_SAMPLES:
            self._decoded_payload = None
            chunk = self._produce()
            chunks += 1
            if chunk is None:
                # Nothing to play: a partial frame left over is padded with its own tail.
                if not self._pcm:
                    return None
                break
            if chunk.size:
                self._pcm.append(chunk)
                self._pcm_samples += chunk.size
        frame = self._take(FRAME_SAMPLES)
        if whole and chunks == 1 and self._pcm_samples == 0:
            self.whole = self._decoded_payload
            self.rebuilt = self._decoded_payload is None
        self._adapt(frame)
        return frame

    def _take(self, n: int) -> Samples:
        parts: list[Samples] = []
        need = n
        while need and self._pcm:
            head = self._pcm[0]
            if head.size <= need:
                parts.append(self._pcm.popleft())
                need -= head.size
            else:
                parts.append(head[:need])
                self._pcm[0] = head[need:]
                need = 0
        self._pcm_samples -= n - need
        if need:
            parts.append(np.zeros(need, dtype=np.int16))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _produce(self) -> Samples | None:
        """Decode, recover (FEC) or conceal (PLC) the audio at ``play``; None if there is none."""
        buf = self.buffer
        first = buf.first()
        if buf.play is None:
            if first is None:
                return None
            buf.play = first  # the very first packet (or the first after a reset)
        play = buf.play
        payload = buf.packets.pop(play, None)
        if payload is not None:
            return self._decoded(payload, play)
        if first is not None and first < play:  # pragma: no cover - add() rejects these
            buf.packets.pop(first)
            return self._produce()
        if first is None:
            # Nothing after the frame due: jitter, or a loss whose successor is not here yet.
            # Conceal without advancing, so a late packet still plays (the delay grows).
            if not self.active or self._concealed >= MAX_CONCEAL_FRAMES:
                self.active = False
                return None
            self._concealed += 1
            buf.stats.concealed += 1
            buf.stats.stretched += 1
            return self.decoder.conceal(FRAME_SAMPLES)
        gap = first - play
        if not self.active or gap > MAX_FILL_FRAMES * FRAME_SAMPLES:
            # A new talk spurt (the sender paused) or a long outage: skip to it.
            buf.stats.skipped_gaps += int(self.active)
            buf.play = first
            return self._decoded(buf.packets.pop(first), first)
        if gap <= FRAME_SAMPLES and has_fec(buf.packets[first]):
            buf.stats.fec += 1
            pcm = self.decoder.decode_fec(buf.packets[first], gap)
        else:
            buf.stats.concealed += 1
            pcm = self.decoder.conceal(min(gap, FRAME_SAMPLES))
        buf.play = play + pcm.size
        self._concealed += 1
        return pcm

    def _decoded(self, payload: bytes, ts: int) -> Samples:
        buf = self.buffer
        try:
            pcm = self.decoder.decode(payload)
        except OpusError:
            pcm = self.decoder.conceal(FRAME_SAMPLES)
            buf.stats.concealed += 1
        else:
            buf.stats.decoded += 1
            self._decoded_payload = payload
        buf.play = ts + (pcm.size or FRAME_SAMPLES)
        self._concealed = 0
        self.active = True
        return pcm

    def _adapt(self, frame: Samples) -> None:
        """Shrink the delay when the buffer has held more than needed for a while."""
        buf = self.buffer
        ahead = (buf.ahead() + self._pcm_samples) // FRAME_SAMPLES
        if ahead > MAX_AHEAD_FRAMES:
            self._drop(ahead - TARGET_AHEAD - 1)
            return
        self._low = min(self._low, ahead)
        self._low_ticks += 1
        fast = self._low >= TARGET_AHEAD + 2
        if self._low_ticks < (SHRINK_FAST_TICKS if fast else SHRINK_AFTER_TICKS):
            return
        if self._low <= TARGET_AHEAD:
            self._low, self._low_ticks, self._want_drop = 1 << 30, 0, 0
            return
        # Held at least one frame more than needed for a whole window: drop one, when quiet.
        self._want_drop += 1
        if int(np.max(np.abs(frame), initial=0)) <= QUIET_PEAK or (
            self._want_drop >= FORCE_DROP_TICKS
        ):
            self._drop(1)
            self._low, self._low_ticks, self._want_drop = 1 << 30, 0, 0

    def _drop(self, frames: int) -> None:
        """Throw away ``frames`` frames of the oldest audio in hand (decoded, to keep state)."""
        for _ in range(frames):
            if self._pcm_samples >= FRAME_SAMPLES:
                self._take(FRAME_SAMPLES)
            else:
                chunk = self._produce()
                if chunk is None:
                    return
                self._pcm.append(chunk)
                self._pcm_samples += chunk.size
                self._take(min(FRAME_SAMPLES, self._pcm_samples))
            self.buffer.stats.dropped += 1


def describe(stats: UplinkStats) -> dict[str, Any]:
    return {name: getattr(stats, name) for name in UplinkStats.__slots__}

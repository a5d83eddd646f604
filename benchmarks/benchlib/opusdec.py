"""A browser-like Opus receiver for quality.py: libopus via ctypes with in-band FEC and PLC.

Self-contained on purpose (the engine under test may be an old commit without its own).
Like WebRTC's NetEq, a single missing packet is rebuilt from the next packet's FEC (LBRR)
data when that packet has it, and anything else missing is concealed by libopus (PLC).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os

import av
import numpy as np
import numpy.typing as npt

RATE = 48_000
MAX_SAMPLES = 5760  # 120 ms


def _lib() -> ctypes.CDLL:
    libs = os.path.join(os.path.dirname(os.path.dirname(av.__file__)), "av.libs")
    names = sorted(glob.glob(os.path.join(libs, "libopus*.so*")))
    names += [n for n in (ctypes.util.find_library("opus"), "libopus.so.0") if n]
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.opus_decoder_create.restype = ctypes.c_void_p
        lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.c_void_p]
        lib.opus_decode.restype = ctypes.c_int
        lib.opus_decode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32,
                                    ctypes.c_void_p, ctypes.c_int, ctypes.c_int]  # fmt: skip
        return lib
    raise OSError("libopus not found")


class ConcealingDecoder:
    def __init__(self) -> None:
        self.lib = _lib()
        err = ctypes.c_int(0)
        self.dec = self.lib.opus_decoder_create(RATE, 1, ctypes.byref(err))
        self.buf = (ctypes.c_int16 * MAX_SAMPLES)()
        self.fec = 0
        self.plc = 0

    def _run(self, data: bytes | None, n: int, fec: int) -> npt.NDArray[np.int16]:
        got = self.lib.opus_decode(self.dec, data, len(data) if data else 0, self.buf, n, fec)
        return np.ctypeslib.as_array(self.buf)[: max(got, 0)].copy()

    def timeline(self, packets: list[tuple[int, bytes]]) -> npt.NDArray[np.int16]:
        """Decode (timestamp relative to the first, payload) packets in timestamp order."""
        out: list[npt.NDArray[np.int16]] = []
        expected: int | None = None
        for ts, payload in sorted(packets, key=lambda p: p[0]):
            if expected is not None and ts < expected:
                continue  # duplicate
            if expected is not None and ts > expected:
                gap = ts - expected
                while gap > 960:
                    out.append(self._run(None, 960, 0))
                    self.plc += 1
                    gap -= 960
                out.append(self._run(payload, gap, 1))  # FEC, or PLC when there is none
                self.fec += 1
            pcm = self._run(payload, MAX_SAMPLES, 0)
            out.append(pcm)
            expected = ts + pcm.size
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)

"""Pure numpy audio mixing for the stage: sum, mix-minus and levels.

Everything here works on 20 ms, 48 kHz, mono ``int16`` frames (960 samples). No aiortc or
PyAV: the engine converts decoded frames to these arrays and encodes the results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 48_000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 960

# Levels: RMS in dBFS, mapped linearly from LEVEL_FLOOR_DB (0.0) to 0 dBFS (1.0).
LEVEL_FLOOR_DB = -60.0

Samples = npt.NDArray[np.int16]

_INT16_MIN = np.iinfo(np.int16).min
_INT16_MAX = np.iinfo(np.int16).max


def silence(samples: int = FRAME_SAMPLES) -> Samples:
    return np.zeros(samples, dtype=np.int16)


def _clip(total: npt.NDArray[np.int32]) -> Samples:
    return np.clip(total, _INT16_MIN, _INT16_MAX).astype(np.int16)


def audio_level(frame: Samples) -> float:
    """RMS level of one frame in 0..1 (dBFS mapped from LEVEL_FLOOR_DB..0)."""
    if frame.size == 0:
        return 0.0
    as_float = frame.astype(np.float64) / 32768.0
    rms = float(np.sqrt(np.mean(as_float * as_float)))
    if rms <= 0.0:
        return 0.0
    dbfs = 20.0 * np.log10(rms)
    return float(np.clip((dbfs - LEVEL_FLOOR_DB) / -LEVEL_FLOOR_DB, 0.0, 1.0))


@dataclass(frozen=True, slots=True)
class MixResult:
    mix: Samples
    """Everyone heard, summed and clipped: what listeners get."""
    minus: dict[int, Samples]
    """Per contributing speaker: the mix without their own frame (what they hear)."""
    levels: dict[int, float]
    """Per contributing speaker: level of their own frame, 0..1."""


def mix_frames(frames: Mapping[int, Samples]) -> MixResult:
    """Mix the heard speakers' frames for one 20 ms tick.

    The sum is taken in int32 and only clipped at the end, so a speaker's mix-minus is exact
    (total minus their own unclipped contribution) even when the full mix clips.
    """
    if not frames:
        return MixResult(mix=silence(), minus={}, levels={})
    total = np.zeros(FRAME_SAMPLES, dtype=np.int32)
    for frame in frames.values():
        total += _fit(frame)
    minus = {uid: _clip(total - _fit(frame)) for uid, frame in frames.items()}
    levels = {uid: audio_level(frame) for uid, frame in frames.items()}
    return MixResult(mix=_clip(total), minus=minus, levels=levels)


def _fit(frame: Samples) -> npt.NDArray[np.int32]:
    """Pad or truncate to one frame, widened for summing."""
    out = np.zeros(FRAME_SAMPLES, dtype=np.int32)
    n = min(frame.size, FRAME_SAMPLES)
    out[:n] = frame[:n]
    return out


def to_mono(interleaved: npt.NDArray[Any], channels: int) -> Samples:
    """Average interleaved int16 channels into one mono channel."""
    flat = np.asarray(interleaved, dtype=np.int16).reshape(-1)
    if channels <= 1:
        return flat.copy()
    usable = flat[: flat.size - flat.size % channels]
    mean = usable.reshape(-1, channels).astype(np.int32).sum(axis=1) // channels
    out: Samples = mean.astype(np.int16)
    return out


@dataclass(slots=True)
class FrameChunker:
    """Re-slices arbitrary-length mono chunks into exact 960-sample frames.

    Decoders usually yield 20 ms frames, but a client may use 10/40/60 ms Opus packets.
    """

    _pending: list[Samples] = field(default_factory=list)
    _count: int = 0

    def push(self, samples: Samples) -> list[Samples]:
        if samples.size == FRAME_SAMPLES and not self._pending:
            return [samples]  # the common case, no copying
        self._pending.append(samples)
        self._count += samples.size
        frames: list[Samples] = []
        if self._count < FRAME_SAMPLES:
            return frames
        joined = np.concatenate(self._pending)
        whole = joined.size - joined.size % FRAME_SAMPLES
        frames = [joined[i : i + FRAME_SAMPLES] for i in range(0, whole, FRAME_SAMPLES)]
        rest = joined[whole:]
        self._pending = [rest] if rest.size else []
        self._count = rest.size
        return frames


class LevelMeter:
    """Keeps the loudest per-speaker level over a reporting window (~200 ms)."""

    def __init__(self) -> None:
        self._peak: dict[int, float] = {}

    def add(self, levels: Mapping[int, float]) -> None:
        for uid, level in levels.items():
            if level > self._peak.get(uid, 0.0):
                self._peak[uid] = level

    def take(self, heard: frozenset[int]) -> dict[int, float]:
        """Levels for exactly the heard users (0.0 when silent), then reset."""
        report = {uid: round(self._peak.get(uid, 0.0), 3) for uid in sorted(heard)}
        self._peak.clear()
        return report

"""Helpers for recording tests: make Opus packets of a tone, decode Ogg Opus files."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import av
import numpy as np

from podium.media.analysis import SAMPLE_RATE, dominant_frequency, tone_present
from podium.media.mixer import FRAME_SAMPLES
from podium.media.opus import OpusStream


def tone_packets(freq: float, seconds: float, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """(position, Opus packet) pairs of a 20 ms-framed tone, as the engine's mixer makes."""
    encoder = OpusStream()
    t = np.arange(FRAME_SAMPLES) / SAMPLE_RATE
    for i in range(int(seconds * 50)):
        pos = start + i * FRAME_SAMPLES
        phase = 2 * np.pi * freq * (t + i * FRAME_SAMPLES / SAMPLE_RATE)
        samples = (np.sin(phase) * 8000).astype(np.int16)
        packet = encoder.encode_bytes(samples, pos)
        if packet is not None:
            yield pos, packet


def decode_ogg(data: bytes) -> np.ndarray:
    """Decode an Ogg Opus file with FFmpeg (PyAV): mono int16 at 48 kHz."""
    chunks: list[np.ndarray] = []
    with av.open(io.BytesIO(data), format="ogg") as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def window(samples: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    return samples[int(start_s * SAMPLE_RATE):int(end_s * SAMPLE_RATE)]


def hears(samples: np.ndarray, freq: float) -> bool:
    return len(samples) > 0 and bool(tone_present(samples, freq))


def dominant(samples: np.ndarray) -> float:
    return float(dominant_frequency(samples))


def onset(samples: np.ndarray, freq: float, step_s: float = 0.1) -> float | None:
    """Seconds into ``samples`` where ``freq`` is first dominant (in 200 ms windows)."""
    step = int(step_s * SAMPLE_RATE)
    for i in range(0, max(0, len(samples) - 2 * step), step):
        piece = samples[i:i + 2 * step]
        if np.abs(piece).max() > 500 and abs(dominant(piece) - freq) <= 10:
            return i / SAMPLE_RATE
    return None


def silence_packets(seconds: float, start: int = 0) -> Iterator[tuple[int, Any]]:
    for i in range(int(seconds * 50)):
        yield start + i * FRAME_SAMPLES, bytes([0xF8, 0xFF, 0xFE])

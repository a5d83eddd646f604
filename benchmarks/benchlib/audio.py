"""Test signals: espeak-ng speech (or a synthetic fallback), click trains, pre-encoded Opus."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from podium.media.analysis import read_wav, write_wav
from podium.media.mixer import SAMPLE_RATE
from podium.media.opus import OpusStream

Samples = npt.NDArray[np.int16]
FRAME = SAMPLE_RATE // 50  # 960 samples = 20 ms at 48 kHz

SENTENCES = (
    "The quick brown fox jumps over the lazy dog. "
    "Podium carries live audio rooms with a stage and an audience. "
    "Please raise your hand if you would like to speak, and the host will invite you up. "
    "We measure how many listeners one small machine can serve."
)


def speech_wav(path: Path, text: str = SENTENCES) -> str:
    """Write ~12 s of speech at 16 kHz; returns the source used ("espeak-ng" or "synthetic")."""
    espeak = shutil.which("espeak-ng")
    if espeak:
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.wav"
            subprocess.run([espeak, "-v", "en-us", "-s", "150", "-w", str(raw), text], check=True)
            with wave.open(str(raw), "rb") as src:
                rate = src.getframerate()
                data = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
        data16 = _resample(data.astype(np.float64), rate, 16_000)
        peak = float(np.max(np.abs(data16))) or 1.0
        write_wav(str(path), (data16 / peak * 0.5 * 32767).astype(np.int16), 16_000)
        return "espeak-ng"
    write_wav(str(path), synthetic_speech(12.0, 16_000), 16_000)
    return "synthetic"


def synthetic_speech(seconds: float, rate: int) -> Samples:
    """Pitch-gliding harmonic 'syllables' with formant-like bands and pauses (no corpus needed)."""
    rng = np.random.default_rng(1)
    out = np.zeros(int(seconds * rate))
    pos = 0
    while pos < out.size:
        n = int(rng.uniform(0.12, 0.3) * rate)
        t = np.arange(n) / rate
        f0 = rng.uniform(100, 180) * (1 + 0.2 * t / t[-1])
        phase = 2 * np.pi * np.cumsum(f0) / rate
        syl = sum(np.sin(k * phase) / k * (1 + np.cos(k * 0.7)) for k in range(1, 20))
        syl *= np.hanning(n)
        end = min(out.size, pos + n)
        out[pos:end] = syl[: end - pos]
        pos = end + int(rng.uniform(0.03, 0.25) * rate)
    return (out / np.max(np.abs(out)) * 0.5 * 32767).astype(np.int16)


def _resample(data: npt.NDArray[np.float64], src: int, dst: int) -> npt.NDArray[np.float64]:
    if src == dst:
        return data
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(src, dst)
    return np.asarray(resample_poly(data, dst // g, src // g), dtype=np.float64)


def to_16k(samples48: Samples) -> npt.NDArray[np.float64]:
    return _resample(samples48.astype(np.float64), SAMPLE_RATE, 16_000)


def click_train(seconds: float, every_frames: int = 25) -> Samples:
    """A 5 ms 1 kHz burst at the start of every ``every_frames``-th 20 ms frame, else silence."""
    out = np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)
    burst_len = SAMPLE_RATE // 200
    t = np.arange(burst_len) / SAMPLE_RATE
    burst = (np.sin(2 * np.pi * 1000 * t) * 0.8 * 32767).astype(np.int16)
    for start in range(0, out.size - burst_len, every_frames * FRAME):
        out[start : start + burst_len] = burst
    return out


def opus_payloads(samples48: Samples) -> list[bytes]:
    """Encode mono 48 kHz audio with Podium's own encoder settings (mono, 32 kb/s, voip)."""
    enc = OpusStream()
    payloads: list[bytes] = []
    for i in range(samples48.size // FRAME):
        pkt = enc.encode(samples48[i * FRAME : (i + 1) * FRAME], i * FRAME)
        if pkt is not None:
            payloads.append(bytes(pkt))
    return payloads


def load48(path: str) -> Samples:
    return read_wav(path)

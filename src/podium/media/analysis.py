"""Small signal helpers for tests, the bot and benchmarks: tones, WAV I/O, spectra."""

from __future__ import annotations

import wave

import numpy as np
import numpy.typing as npt

from podium.media.mixer import SAMPLE_RATE, Samples

__all__ = [
    "DEFAULT_AMPLITUDE",
    "SAMPLE_RATE",
    "band_energy_ratio",
    "dominant_frequency",
    "read_wav",
    "rms_dbfs",
    "tone",
    "tone_present",
    "tone_wav",
    "write_wav",
]

DEFAULT_AMPLITUDE = 0.3  # of full scale: two tones summed still do not clip


def _spectrum(
    samples: npt.ArrayLike, rate: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Power spectrum of the Hann-windowed signal (the window limits leakage between tones)."""
    data = np.asarray(samples, dtype=np.float64).reshape(-1)
    if data.size < 2:
        return np.zeros(1), np.zeros(1)
    data = data - data.mean()
    power = np.abs(np.fft.rfft(data * np.hanning(data.size))) ** 2
    freqs = np.fft.rfftfreq(data.size, d=1.0 / rate)
    return freqs.astype(np.float64), power.astype(np.float64)


def dominant_frequency(samples: npt.ArrayLike, rate: int = SAMPLE_RATE) -> float:
    """Frequency (Hz) of the strongest spectral peak, refined by parabolic interpolation."""
    freqs, power = _spectrum(samples, rate)
    if power.size < 3 or not power.any():
        return 0.0
    peak = int(np.argmax(power[1:])) + 1  # skip DC
    if 0 < peak < power.size - 1:
        # Interpolate on log power: a Hann-windowed sine's peak is close to a parabola there.
        a, b, c = np.log(power[peak - 1 : peak + 2] + 1e-12)
        denom = a - 2 * b + c
        offset = 0.5 * (a - c) / denom if denom != 0 else 0.0
        return float(freqs[peak] + offset * (freqs[1] - freqs[0]))
    return float(freqs[peak])


def band_energy_ratio(
    samples: npt.ArrayLike, freq: float, rate: int = SAMPLE_RATE, width: float = 15.0
) -> float:
    """Share (0..1) of the signal's energy within ``freq`` +- ``width`` Hz; 0 for silence."""
    freqs, power = _spectrum(samples, rate)
    total = float(power.sum())
    if total <= 0.0:
        return 0.0
    band = (freqs >= freq - width) & (freqs <= freq + width)
    return float(power[band].sum()) / total


def rms_dbfs(samples: npt.ArrayLike) -> float:
    data = np.asarray(samples, dtype=np.float64).reshape(-1) / 32768.0
    if data.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(data * data)))
    return 20.0 * float(np.log10(rms)) if rms > 0 else -120.0


def tone_present(
    samples: npt.ArrayLike,
    freq: float,
    rate: int = SAMPLE_RATE,
    min_ratio: float = 0.1,
    min_dbfs: float = -40.0,
) -> bool:
    """Whether ``freq`` is audibly present: loud enough overall and a real share of energy."""
    return rms_dbfs(samples) >= min_dbfs and band_energy_ratio(samples, freq, rate) >= min_ratio


def tone(
    freq: float, seconds: float, rate: int = SAMPLE_RATE, amplitude: float = DEFAULT_AMPLITUDE
) -> Samples:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype(np.int16)


def tone_wav(
    path: str,
    freq: float,
    seconds: float,
    rate: int = SAMPLE_RATE,
    amplitude: float = DEFAULT_AMPLITUDE,
) -> None:
    """Write a mono 16-bit sine tone WAV file."""
    write_wav(path, tone(freq, seconds, rate, amplitude), rate)


def write_wav(path: str, samples: Samples, rate: int = SAMPLE_RATE) -> None:
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.asarray(samples, dtype=np.int16).tobytes())


def read_wav(path: str) -> Samples:
    """A 16-bit PCM WAV as mono int16 at 48 kHz (channels averaged, linear resampling)."""
    with wave.open(path, "rb") as src:
        if src.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported")
        channels, rate = src.getnchannels(), src.getframerate()
        raw = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
    data = raw.reshape(-1, channels).mean(axis=1) if channels > 1 else raw.astype(np.float64)
    if rate != SAMPLE_RATE and data.size:
        n_out = int(round(data.size * SAMPLE_RATE / rate))
        positions = np.arange(n_out) * (rate / SAMPLE_RATE)
        data = np.interp(positions, np.arange(data.size), data)
    out: Samples = np.clip(np.round(data), -32768, 32767).astype(np.int16)
    return out

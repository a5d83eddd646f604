"""Pure numpy parts: mixing, mix-minus, levels, framing, spectrum helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from podium.media.analysis import (
    band_energy_ratio,
    dominant_frequency,
    read_wav,
    tone,
    tone_present,
    tone_wav,
    write_wav,
)
from podium.media.mixer import (
    FRAME_SAMPLES,
    FrameChunker,
    LevelMeter,
    audio_level,
    mix_frames,
    to_mono,
)

frame_strategy = arrays(np.int16, FRAME_SAMPLES, elements=st.integers(-32768, 32767))


@given(st.dictionaries(st.integers(1, 20), frame_strategy, max_size=5))
def test_mix_is_clipped_sum_and_minus_removes_own_contribution(frames: dict) -> None:
    result = mix_frames(frames)
    total = sum((f.astype(np.int64) for f in frames.values()), np.zeros(FRAME_SAMPLES, np.int64))
    assert result.mix.dtype == np.int16
    assert np.array_equal(result.mix, np.clip(total, -32768, 32767))
    assert set(result.minus) == set(frames) == set(result.levels)
    for uid, own in frames.items():
        assert np.array_equal(result.minus[uid], np.clip(total - own, -32768, 32767))
        assert 0.0 <= result.levels[uid] <= 1.0


def test_no_speakers_is_silence() -> None:
    result = mix_frames({})
    assert result.mix.shape == (FRAME_SAMPLES,) and not result.mix.any()


def test_clipping_saturates() -> None:
    loud = np.full(FRAME_SAMPLES, 30000, np.int16)
    result = mix_frames({1: loud, 2: loud})
    assert (result.mix == 32767).all()
    assert (result.minus[1] == 30000).all()


def test_audio_level_maps_dbfs() -> None:
    assert audio_level(np.zeros(FRAME_SAMPLES, np.int16)) == 0.0
    full = np.full(FRAME_SAMPLES, 32767, np.int16)
    assert audio_level(full) > 0.99
    assert 0.4 < audio_level(tone(440, 0.02, amplitude=0.1)) < 0.7


def test_level_meter_reports_heard_peaks() -> None:
    meter = LevelMeter()
    meter.add({1: 0.2, 3: 0.9})
    meter.add({1: 0.5})
    assert meter.take(frozenset({1, 2})) == {1: 0.5, 2: 0.0}
    assert meter.take(frozenset({1})) == {1: 0.0}


@given(st.lists(st.integers(0, 3000), max_size=12))
def test_chunker_emits_exact_frames_in_order(sizes: list[int]) -> None:
    chunker = FrameChunker()
    data = np.arange(sum(sizes), dtype=np.int64).astype(np.int16)
    out, start = [], 0
    for size in sizes:
        out += chunker.push(data[start : start + size])
        start += size
    assert all(f.size == FRAME_SAMPLES for f in out)
    joined = np.concatenate(out) if out else np.zeros(0, np.int16)
    assert np.array_equal(joined, data[: joined.size])
    assert data.size - joined.size < FRAME_SAMPLES


def test_to_mono_averages_channels() -> None:
    stereo = np.array([[100, 300, -2, -4]], np.int16)
    assert to_mono(stereo, 2).tolist() == [200, -3]


def test_dominant_frequency_and_bands() -> None:
    mixed = tone(440, 0.5).astype(np.int32) + tone(660, 0.5)
    assert abs(dominant_frequency(tone(440, 0.5)) - 440) < 1
    assert band_energy_ratio(mixed, 440) > 0.3 and band_energy_ratio(mixed, 660) > 0.3
    assert band_energy_ratio(mixed, 880) < 0.01
    assert tone_present(mixed, 660) and not tone_present(mixed, 880)
    assert not tone_present(np.zeros(1000, np.int16), 440)


def test_wav_round_trip_and_resampling(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    tone_wav(str(path), 440, 0.5)
    assert read_wav(str(path)).size == 24000
    write_wav(str(path), tone(300, 1.0, rate=16000), rate=16000)
    upsampled = read_wav(str(path))
    assert upsampled.size == 48000
    assert abs(dominant_frequency(upsampled) - 300) < 2

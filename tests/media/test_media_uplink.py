"""The speaker uplink: our jitter buffer (reorder, loss, late packets), Opus FEC and PLC."""

from __future__ import annotations

import numpy as np
import pytest

from podium.media.analysis import dominant_frequency, rms_dbfs, tone
from podium.media.host import tune_opus_answer
from podium.media.mixer import FRAME_SAMPLES, Samples
from podium.media.opus import OPUS_SILENCE, SILENT_FLUSH_FRAMES, OpusStream
from podium.media.uplink import (
    MAX_AHEAD_FRAMES,
    MAX_CONCEAL_FRAMES,
    SHRINK_AFTER_TICKS,
    OpusDecoder,
    Uplink,
    has_fec,
    packet_samples,
)

BASE_TS = 0xFFFFFFFF - 5 * FRAME_SAMPLES  # wraps around inside every test


def packets(
    freq: float = 440, frames: int = 50, fec: bool = True, pause_every: int = 0
) -> list[tuple[int, bytes]]:
    """(RTP timestamp, Opus payload) of a tone, 20 ms each, as a FEC-enabled client sends.

    ``pause_every``: every that many frames, 5 frames of silence (like pauses in speech).
    """
    encoder = OpusStream(expected_loss=10 if fec else 0)
    signal = tone(freq, frames * 0.02, amplitude=0.3)
    if pause_every:
        for start in range(pause_every, frames, pause_every):
            signal[start * FRAME_SAMPLES : (start + 5) * FRAME_SAMPLES] = 0
    out = []
    for i in range(frames):
        packet = encoder.encode(signal[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES], i * 960)
        assert packet is not None
        out.append(((BASE_TS + i * FRAME_SAMPLES) & 0xFFFFFFFF, bytes(packet)))
    return out


def reference(stream: list[tuple[int, bytes]]) -> list[Samples]:
    decoder = OpusDecoder()
    return [decoder.decode(payload) for _, payload in stream]


def pull_all(uplink: Uplink, ticks: int) -> list[Samples | None]:
    return [uplink.pull() for _ in range(ticks)]


def play(
    stream: list[tuple[int, bytes]], lost: frozenset[int] = frozenset(), lead: int = 1
) -> tuple[Uplink, list[Samples | None]]:
    """Packet i + ``lead`` arrives before tick i (a steady ``lead`` frames of jitter buffer)."""
    uplink = Uplink()
    out: list[Samples | None] = []
    for i in range(len(stream)):
        for j in range(lead + 1) if i == 0 else [i + lead]:
            if j < len(stream) and j not in lost:
                uplink.push(*stream[j])
        out.append(uplink.pull())
    return uplink, out


def correlation(a: Samples, b: Samples) -> float:
    x, y = a.astype(np.float64), b.astype(np.float64)
    return float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-9))


def test_decoder_round_trip_and_packet_info() -> None:
    stream = packets(frames=10)
    frames = reference(stream)
    assert all(f.size == FRAME_SAMPLES for f in frames)
    assert abs(dominant_frequency(np.concatenate(frames[2:])) - 440) < 5
    assert packet_samples(stream[0][1]) == FRAME_SAMPLES
    assert packet_samples(b"") == 0
    assert has_fec(stream[5][1])  # the encoder settings clients use do produce FEC


def test_in_order_stream_plays_every_frame_bit_exact() -> None:
    stream = packets(frames=20)
    uplink = Uplink()
    out = []
    for ts, payload in stream:  # one packet per tick, just in time: nothing held back
        uplink.push(ts, payload)
        out.append(uplink.pull())
    assert all(
        a is not None and np.array_equal(a, b) for a, b in zip(out, reference(stream), strict=True)
    )
    assert uplink.stats.decoded == 20 and uplink.stats.concealed == 0


def test_reordered_packets_play_in_timestamp_order() -> None:
    stream = packets(frames=12)
    shuffled = stream[:2] + [stream[3], stream[2], stream[5], stream[4]] + stream[6:]
    _, out = play(shuffled, lead=2)
    assert all(
        a is not None and np.array_equal(a, b) for a, b in zip(out, reference(stream), strict=True)
    )


def test_single_loss_is_recovered_from_the_next_packets_fec() -> None:
    stream = packets(frames=30)
    lost = 15
    uplink, out = play(stream, frozenset({lost}))
    assert uplink.stats.fec == 1 and uplink.stats.concealed == 0
    recovered = out[lost]
    original = reference(stream)[lost]
    assert recovered is not None and recovered.size == FRAME_SAMPLES
    assert rms_dbfs(recovered) > rms_dbfs(original) - 3  # not silent, not faded out
    assert correlation(recovered, original) > 0.8  # the same tone, in phase
    # ... and the decoder is back in step: later frames match a loss-free decode closely.
    later = np.concatenate(out[lost + 2 : lost + 6])
    assert correlation(later, np.concatenate(reference(stream)[lost + 2 : lost + 6])) > 0.95


def test_each_frame_names_the_packet_it_was_decoded_from_or_that_it_was_rebuilt() -> None:
    """What single-speaker passthrough forwards: ``whole`` is exactly the packet a frame was
    decoded from; a frame rebuilt for a lost packet is flagged ``rebuilt`` instead."""
    stream = packets(frames=30)
    lost = 15
    uplink = Uplink()
    wholes, rebuilt = [], []
    for i in range(len(stream)):
        for j in range(2) if i == 0 else [i + 1]:
            if j < len(stream) and j != lost:
                uplink.push(*stream[j])
        assert uplink.pull() is not None
        wholes.append(uplink.whole)
        rebuilt.append(uplink.rebuilt)
    expected = [payload if i != lost else None for i, (_, payload) in enumerate(stream)]
    assert wholes == expected
    assert [i for i, flag in enumerate(rebuilt) if flag] == [lost]


def test_packets_longer_than_a_frame_are_never_whole() -> None:
    encoder = OpusStream(frame_ms=40)
    signal = tone(440, 0.4, amplitude=0.3)
    uplink = Uplink()
    for i in range(10):
        packet = encoder.encode(signal[i * 1920 : (i + 1) * 1920], i * 1920)
        assert packet is not None
        uplink.push(i * 1920, bytes(packet))
        for _ in range(2):
            assert uplink.pull() is not None
            assert uplink.whole is None and not uplink.rebuilt


def test_without_fec_a_loss_is_concealed_by_plc() -> None:
    stream = packets(frames=30, fec=False)
    uplink, out = play(stream, frozenset({15}))
    assert not has_fec(stream[16][1])
    assert uplink.stats.fec == 0 and uplink.stats.concealed == 1
    concealed = out[15]
    assert concealed is not None and rms_dbfs(concealed) > -30  # PLC continues the tone
    assert abs(dominant_frequency(np.concatenate([concealed] * 4)) - 440) < 20


def test_missing_packet_with_nothing_after_it_stretches_then_late_packet_plays() -> None:
    stream = packets(frames=10)
    uplink = Uplink()
    for ts, payload in stream[:5]:
        uplink.push(ts, payload)
    out = pull_all(uplink, 5)
    assert all(f is not None for f in out)
    gap = uplink.pull()  # packet 5 is late: concealed, playout not advanced
    assert gap is not None and rms_dbfs(gap) > -30
    assert uplink.stats.stretched == 1
    for ts, payload in stream[5:]:
        uplink.push(ts, payload)
    rest = pull_all(uplink, 5)
    assert uplink.stats.late == 0 and uplink.stats.decoded == 10  # nothing was thrown away
    assert all(f is not None for f in rest)


def test_packet_for_audio_already_played_is_dropped_as_late() -> None:
    stream = packets(frames=10)
    uplink, _ = play(stream, frozenset({3}))  # frame 3 came from packet 4's FEC
    assert uplink.stats.fec == 1
    uplink.push(*stream[3])
    assert uplink.stats.late == 1
    assert uplink.stats.decoded == 9


def test_speaker_going_quiet_ends_concealment_then_a_new_spurt_starts_at_once() -> None:
    stream = packets(frames=40)
    uplink = Uplink()
    for ts, payload in stream[:5]:
        uplink.push(ts, payload)
    out = pull_all(uplink, 5 + MAX_CONCEAL_FRAMES + 3)
    assert out[5 + MAX_CONCEAL_FRAMES] is None and not uplink.active
    for ts, payload in stream[30:32]:  # resumes 500 ms later (a client sending nothing idle)
        uplink.push(ts, payload)
    resumed = uplink.pull()
    assert resumed is not None
    assert np.array_equal(uplink.buffer.packets[uplink.buffer.play], stream[31][1])


def test_held_back_audio_is_released_to_keep_the_delay_small() -> None:
    stream = packets(frames=SHRINK_AFTER_TICKS * 3, pause_every=20)
    uplink = Uplink()
    for ts, payload in stream[:5]:  # a burst: 5 frames in hand, 4 more than needed
        uplink.push(ts, payload)
    ahead = []
    for ts, payload in stream[5:]:
        uplink.push(ts, payload)
        uplink.pull()
        ahead.append(uplink.buffer.ahead() // FRAME_SAMPLES)
    assert ahead[0] == 5
    assert uplink.stats.dropped == 4 and uplink.stats.concealed == 0
    assert ahead[-1] == 1  # just the next packet in hand: a single loss is still recoverable


def test_huge_burst_is_cut_at_once() -> None:
    stream = packets(frames=MAX_AHEAD_FRAMES + 10)
    uplink = Uplink()
    for ts, payload in stream:
        uplink.push(ts, payload)
    uplink.pull()
    assert uplink.buffer.ahead() // FRAME_SAMPLES <= 2


def test_timestamp_restart_starts_over() -> None:
    stream = packets(frames=10)
    uplink = Uplink()
    for ts, payload in stream[:5]:
        uplink.push(ts, payload)
    pull_all(uplink, 5)
    uplink.push((stream[0][0] - 48000 * 5) & 0xFFFFFFFF, stream[5][1])
    assert uplink.pull() is not None and uplink.stats.late == 0


@pytest.mark.parametrize(
    ("sdp_in", "expected"),
    [
        (
            "a=rtpmap:96 opus/48000/2\r\n",
            "a=fmtp:96 minptime=10;useinbandfec=1;maxaveragebitrate=48000",
        ),
        (
            "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10\r\n",
            "a=fmtp:111 minptime=10;useinbandfec=1;maxaveragebitrate=48000",
        ),
        (
            "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1;maxaveragebitrate=64000\r\n",
            "a=fmtp:111 useinbandfec=1;maxaveragebitrate=64000",
        ),
    ],
)
def test_answer_asks_for_fec_and_a_bitrate(sdp_in: str, expected: str) -> None:
    sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" + sdp_in
    out = tune_opus_answer(sdp)
    assert expected in out.split("\r\n")
    assert out.count("a=fmtp:") == 1
    assert tune_opus_answer("v=0\r\na=rtpmap:0 PCMU/8000\r\n") == "v=0\r\na=rtpmap:0 PCMU/8000\r\n"


def test_silence_after_a_few_frames_is_the_three_byte_opus_silence_frame() -> None:
    encoder = OpusStream(expected_loss=10)
    signal = tone(440, 0.1, amplitude=0.3)
    out = [encoder.encode_bytes(signal[i * 960 : (i + 1) * 960], i * 960) for i in range(5)]
    quiet = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    out += [encoder.encode_bytes(quiet, (5 + i) * 960) for i in range(6)]
    out += [encoder.encode_bytes(signal[:960], 11 * 960)]
    assert all(p is not None and p != OPUS_SILENCE for p in out[:5])
    assert all(p is not None and p != OPUS_SILENCE for p in out[5 : 5 + SILENT_FLUSH_FRAMES])
    assert out[5 + SILENT_FLUSH_FRAMES : 11] == [OPUS_SILENCE] * (6 - SILENT_FLUSH_FRAMES)
    assert out[11] is not None and out[11] != OPUS_SILENCE  # talking again: encoded again
    decoder = OpusDecoder()
    decoded = [decoder.decode(p) for p in out if p is not None]
    assert all(d.size == FRAME_SAMPLES for d in decoded)
    assert not decoded[9].any()  # the silence frame decodes to digital silence
    assert packet_samples(OPUS_SILENCE) == FRAME_SAMPLES

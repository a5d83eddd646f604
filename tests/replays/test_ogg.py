"""The Ogg Opus writer, reader, cutter and crash recovery, against FFmpeg's demuxer."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from podium.media import ogg
from podium.media.recorder import OggRecorder
from tests.replays.helpers import decode_ogg, dominant, hears, onset, tone_packets, window

RATE = ogg.SAMPLE_RATE


def _record(path: Path, packets: list[tuple[int, bytes]], max_bytes: int = 10**9) -> OggRecorder:
    errors: list[str] = []
    rec = OggRecorder(path, 1234, max_bytes, errors.append, "Test")
    rec.resume()
    for pos, packet in packets:
        rec.put(pos, packet)
    return rec


def test_a_recording_decodes_with_its_tones_in_place(tmp_path: Path) -> None:
    path = tmp_path / "r.ogg"
    packets = [*tone_packets(440, 2.0), *tone_packets(880, 2.0, start=2 * RATE)]
    packets.insert(60, (60 * 960, b""))  # a lost packet: a gap, timing kept
    packets = [p for i, p in enumerate(packets) if i != 61]
    rec = _record(path, packets)
    rec.close()
    data = path.read_bytes()
    assert ogg.duration_samples(data) == 4 * RATE  # every page's CRC checked
    audio = decode_ogg(data)
    assert abs(len(audio) - 4 * RATE) < RATE // 10
    assert abs(dominant(window(audio, 0.1, 1.1)) - 440) <= 5
    assert abs(dominant(window(audio, 2.2, 3.8)) - 880) <= 5
    started = onset(audio, 880)
    assert started is not None and abs(started - 2.0) <= 0.15


def test_a_gap_in_the_engine_clock_is_filled_to_keep_time(tmp_path: Path) -> None:
    """Packets 1 s apart on the room clock keep that second between them in the file."""
    path = tmp_path / "g.ogg"
    packets = [*tone_packets(440, 1.0), *tone_packets(660, 1.0, start=2 * RATE)]
    rec = _record(path, packets)
    rec.close()
    audio = decode_ogg(path.read_bytes())
    assert not hears(window(audio, 1.1, 1.9), 440) and not hears(window(audio, 1.1, 1.9), 660)
    started = onset(audio, 660)
    assert started is not None and abs(started - 2.0) <= 0.15


def test_cut_copies_a_packet_range(tmp_path: Path) -> None:
    path = tmp_path / "c.ogg"
    rec = _record(path, [*tone_packets(440, 2.0), *tone_packets(880, 2.0, start=2 * RATE)])
    rec.close()
    clip = ogg.cut(path.read_bytes(), 2500, 3500, 99, "Clip")
    assert ogg.duration_samples(clip) == RATE
    audio = decode_ogg(clip)
    assert abs(dominant(audio[RATE // 10:]) - 880) <= 5 and not hears(audio, 440)
    trimmed = ogg.cut(path.read_bytes(), 1000, None, 98)
    assert ogg.duration_samples(trimmed) == 3 * RATE


def test_a_torn_file_is_recovered_up_to_its_last_page(tmp_path: Path) -> None:
    path = tmp_path / "t.ogg"
    rec = _record(path, list(tone_packets(440, 3.0)))
    assert rec.flush()
    whole = path.read_bytes()
    rec.close()
    path.write_bytes(whole + b"OggS\x00\x00garbage")  # a page cut short by a crash
    assert ogg.duration_samples(path.read_bytes()) == ogg.duration_samples(whole)
    samples = ogg.recover(path)
    assert samples == ogg.duration_samples(whole) >= int(2.9 * RATE)
    last = list(ogg.pages(path.read_bytes()))[-1]
    assert last.flags & ogg.FLAG_EOS and path.stat().st_size == len(whole)
    assert abs(dominant(decode_ogg(path.read_bytes())[RATE // 10:]) - 440) <= 5


def test_a_size_limit_stops_the_writer_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "l.ogg"
    stopped = threading.Event()
    reasons: list[str] = []

    def on_error(reason: str) -> None:
        reasons.append(reason)
        stopped.set()

    rec = OggRecorder(path, 7, 10_000, on_error)
    rec.resume()
    for pos, packet in tone_packets(440, 3.0):
        rec.put(pos, packet)
    rec.flush()
    assert stopped.wait(10) and reasons == ["too_large"]
    assert path.stat().st_size <= 10_000
    assert ogg.duration_samples(path.read_bytes()) > 0  # what was written still plays
    rec.close()


@pytest.mark.parametrize("packet,samples", [(bytes([0xF8, 0xFF, 0xFE]), 960),
                                            (bytes([0x78]), 960), (bytes([0x10, 0, 0]), 1920),
                                            (bytes([0xFB, 0x03]), 2880)])
def test_packet_durations_from_the_toc(packet: bytes, samples: int) -> None:
    assert ogg.packet_samples(packet) == samples

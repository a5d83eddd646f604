"""Captions without a server: WebVTT, WER, the speech segmenter, the never-blocking queue, the
room switch in the domain, and the model files' pinned hashes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from podium.captions import model
from podium.captions.pipeline import Captioner
from podium.captions.segmenter import Segmenter
from podium.captions.vtt import append_cue, read_cues, timestamp, vtt_path_for_room
from podium.captions.wer import wer
from podium.config import Settings
from podium.domain import commands as c
from podium.domain.codec import decode_state, encode_state
from podium.domain.commands import RoomError
from podium.domain.roles import RoomKind
from podium.domain.room import apply, new_room
from podium.domain.views import snapshot

RATE = 48_000


def frames(seconds: float, loud: bool, freq: float = 300.0) -> list[np.ndarray]:
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    wave = (8000 * np.sin(2 * np.pi * freq * t)) if loud else np.zeros(n)
    pcm = wave.astype(np.int16)
    return [pcm[i:i + 960] for i in range(0, n - n % 960, 960)]


def test_vtt_cues_are_appended_escaped_and_read_back(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="x")
    path = vtt_path_for_room(settings, "abc123")
    assert path == tmp_path / "captions" / "abc123.vtt"
    append_cue(path, 1_500, 4_250, "Ada <Lovelace> & co", "Hello --> world")
    append_cue(path, 3_723_004, 3_725_000, "Bob", "second\nline")
    text = path.read_text()
    assert text.startswith("WEBVTT\n\n") and text.count("WEBVTT") == 1
    assert ("00:00:01.500 --> 00:00:04.250\n"
            "<v Ada &lt;Lovelace&gt; &amp; co>Hello --&gt; world") in text
    cues = read_cues(path)
    assert [(q.start_ms, q.end_ms, q.speaker, q.text) for q in cues] == [
        (1_500, 4_250, "Ada <Lovelace> & co", "Hello --> world"),
        (3_723_004, 3_725_000, "Bob", "second line")]
    assert timestamp(3_723_004) == "01:02:03.004"
    with pytest.raises(ValueError):
        vtt_path_for_room(settings, "../etc")


def test_word_error_rate() -> None:
    assert wer("the cat sat", "The cat, sat.") == 0.0
    assert wer("the cat sat on the mat", "the cat sat on mat") == pytest.approx(1 / 6)
    assert wer("a b c d", "a x c d e") == pytest.approx(2 / 4)  # one substitution, one insertion
    assert wer("hello", "") == 1.0


def test_segmenter_cuts_speech_between_silences() -> None:
    seg = Segmenter(user_id=7, max_ms=4000)
    chunks = []
    at = 0
    for frame in frames(0.5, False) + frames(1.0, True) + frames(0.6, False):
        chunk = seg.push(frame, at)
        at += 20
        if chunk is not None:
            chunks.append(chunk)
    assert len(chunks) == 1
    chunk = chunks[0]
    assert chunk.user_id == 7
    # Speech began at 500 ms; the chunk keeps up to 200 ms before it and the quiet after it.
    assert 280 <= chunk.start_ms <= 500
    assert 1000 <= chunk.duration_ms <= 1700
    assert seg.flush() is None


def test_segmenter_ignores_silence_and_bounds_chunk_length() -> None:
    seg = Segmenter(user_id=1, max_ms=3000)
    assert all(seg.push(f, i * 20) is None for i, f in enumerate(frames(3.0, False)))
    chunks = [ch for i, f in enumerate(frames(10.0, True))
              if (ch := seg.push(f, i * 20)) is not None]
    last = seg.flush()
    assert last is not None
    chunks.append(last)
    assert all(ch.duration_ms <= 3000 for ch in chunks)
    assert sum(ch.duration_ms for ch in chunks) >= 9_900  # nothing lost between chunks


async def test_a_full_queue_drops_and_counts_and_never_blocks() -> None:
    # No recogniser started: nothing takes chunks from the queue, which fills after two.
    captioner = Captioner(lambda caption: None, queue_chunks=2, max_chunk_seconds=1.0)
    sink = captioner.open_room("room1", origin=0.0)
    speech = frames(0.9, True) + frames(0.5, False)
    for _ in range(6):  # six chunks offered: every call returns (a blocking put would hang)
        for frame in speech:
            sink(5, frame, 0)
    assert captioner.stats.chunks == 6
    assert captioner.stats.dropped == 4
    await captioner.close()


def test_only_the_host_turns_captions_on_and_the_snapshot_says_so() -> None:
    state = new_room("r1", 1, RoomKind.OPEN, 0.0, 60.0)
    state, _ = apply(state, c.Join(1, "host", "Host"), 1.0)
    state, _ = apply(state, c.Join(2, "guest", "Guest"), 1.0)
    with pytest.raises(RoomError):
        apply(state, c.SetCaptions(2, True), 2.0)
    state, events = apply(state, c.SetCaptions(1, True), 2.0)
    assert [e.to_dict() for e in events] == [{"type": "captions_changed", "captions": True,
                                              "by": 1}]
    assert snapshot(state, 2)["captions"] is True
    assert apply(state, c.SetCaptions(1, True), 3.0) == (state, [])
    assert decode_state(encode_state(state)).captions is True
    old = {k: v for k, v in encode_state(state).items() if k != "captions"}
    assert decode_state(old).captions is False  # a checkpoint from before captions


def test_packaged_model_files_match_the_pinned_hashes(tmp_path: Path) -> None:
    directory = model.whisper_model_dir()
    model.verify(directory)
    tampered = tmp_path / "model"
    tampered.mkdir()
    for name in model.MODEL_SHA256:
        (tampered / name).write_bytes((directory / name).read_bytes()[:64])
    with pytest.raises(model.ModelError, match="sha256"):
        model.verify(tampered)

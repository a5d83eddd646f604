"""Cut one speaker's audio into speech chunks for the recogniser, cheaply, in the mixer's tick.

Input: the 20 ms, 48 kHz ``int16`` frames the engine decoded. Each is only measured (RMS) and
kept; a chunk is brought to 16 kHz once, when cut (the mean of each 3 samples: a crude
low-pass, enough for speech recognition). An energy gate opens on speech and closes after
``HANGOVER_MS`` of quiet; a chunk is also cut once ``max_ms`` long (in the quietest 100 ms
of its second half, so words are rarely split), so captions follow speech within seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

RATE = 16_000
FRAME_MS = 20
FRAME_16K = RATE * FRAME_MS // 1000  # 320
SPEECH_RMS = 300.0  # int16 RMS (about -40 dBFS): above this a frame counts as speech
HANGOVER_MS = 400  # quiet that ends a chunk
PREROLL_MS = 200  # kept before the first loud frame: word onsets are quiet
SMOOTH_FRAMES = 5  # 100 ms: a pause between words, not the closure of a "t"
MIN_SPEECH_MS = 200  # chunks with less speech than this are noise (a click, a breath)

Pcm = npt.NDArray[np.int16]


def to_16k(pcm48: Pcm) -> Pcm:
    """48 kHz -> 16 kHz: the mean of each 3 samples (integer sums: no float pass)."""
    usable = pcm48[: pcm48.size - pcm48.size % 3]
    out: Pcm = (usable.reshape(-1, 3).sum(axis=1, dtype=np.int32) // 3).astype(np.int16)
    return out


def rms(frame: Pcm) -> float:
    if not frame.size:
        return 0.0
    x = frame.astype(np.float32)
    return float(np.sqrt(np.dot(x, x) / x.size))


@dataclass(frozen=True, slots=True)
class Chunk:
    """Speech of one speaker; ``start_ms`` on the caller's clock; ``pcm`` 16 kHz int16 bytes."""

    user_id: int
    start_ms: int
    pcm: bytes

    @property
    def duration_ms(self) -> int:
        return len(self.pcm) // 2 * 1000 // RATE


@dataclass
class Segmenter:
    """Per speaker. ``push`` runs in the mixer's tick: it only measures the 48 kHz frame and
    keeps it; resampling happens once per chunk, when it is cut."""

    user_id: int
    max_ms: int = 4000
    frames: list[Pcm] = field(default_factory=list)
    levels: list[float] = field(default_factory=list)  # each frame's RMS
    start_ms: int = 0
    quiet_ms: int = 0
    speech_ms: int = 0

    def push(self, frame48: Pcm, at_ms: int) -> Chunk | None:
        """Add a frame heard at ``at_ms``; returns a chunk when one is complete."""
        level = rms(frame48)
        loud = level >= SPEECH_RMS
        self.frames.append(frame48)
        self.levels.append(level)
        if self.speech_ms == 0:  # waiting for speech: keep only the pre-roll
            keep = PREROLL_MS // FRAME_MS + 1
            if len(self.frames) > keep:
                del self.frames[:-keep], self.levels[:-keep]
            self.start_ms = at_ms - (len(self.frames) - 1) * FRAME_MS
            if loud:
                self.speech_ms, self.quiet_ms = FRAME_MS, 0
            return None
        if loud:
            self.speech_ms += FRAME_MS
            self.quiet_ms = 0
        else:
            self.quiet_ms += FRAME_MS
        if self.quiet_ms >= HANGOVER_MS:
            return self._cut(len(self.frames))
        if len(self.frames) * FRAME_MS >= self.max_ms:
            return self._cut(self._quietest_tail())
        return None

    def flush(self) -> Chunk | None:
        """Whatever speech is buffered (the speaker stopped being heard)."""
        return self._cut(len(self.frames)) if self.speech_ms else None

    def _quietest_tail(self) -> int:
        """Where to cut a long chunk: in the quietest 100 ms of its second half (a pause
        between words, most often), so a word is rarely split between two chunks."""
        levels = np.array(self.levels)
        smooth = np.convolve(levels, np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES, mode="same")
        first = len(self.frames) // 2
        return first + int(np.argmin(smooth[first:])) + 1

    def _cut(self, end: int) -> Chunk | None:
        frames, levels = self.frames[:end], self.levels[:end]
        speech = sum(1 for v in levels if v >= SPEECH_RMS) * FRAME_MS
        start = self.start_ms
        self.frames, self.levels = self.frames[end:], self.levels[end:]
        self.start_ms = start + end * FRAME_MS
        self.speech_ms = sum(1 for v in self.levels if v >= SPEECH_RMS) * FRAME_MS
        self.quiet_ms = 0
        if speech < MIN_SPEECH_MS:
            return None
        return Chunk(self.user_id, start, to_16k(np.concatenate(frames)).tobytes())

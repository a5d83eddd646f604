"""Cut one speaker's audio into speech chunks for the recogniser, cheaply, in the mixer's tick.

Input: the 20 ms, 48 kHz ``int16`` frames the engine decoded. Each is brought to 16 kHz (the
mean of each 3 samples: a crude low-pass that costs a few microseconds, enough for speech
recognition) and measured. An energy gate opens on speech and closes after ``HANGOVER_MS``
of quiet; a chunk is also cut once ``max_ms`` long (in the quietest 100 ms of its second half,
so words are rarely split), so captions follow speech within a few seconds.
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


def to_16k(frame: Pcm) -> Pcm:
    usable = frame[: frame.size - frame.size % 3]
    out: Pcm = usable.reshape(-1, 3).mean(axis=1, dtype=np.float32).astype(np.int16)
    return out


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
    user_id: int
    max_ms: int = 4000
    frames: list[Pcm] = field(default_factory=list)
    loud: list[bool] = field(default_factory=list)
    start_ms: int = 0
    quiet_ms: int = 0
    speech_ms: int = 0

    def push(self, frame48: Pcm, at_ms: int) -> Chunk | None:
        """Add a frame heard at ``at_ms``; returns a chunk when one is complete."""
        frame = to_16k(frame48)
        rms = float(np.sqrt(np.mean(frame.astype(np.float32) ** 2))) if frame.size else 0.0
        loud = rms >= SPEECH_RMS
        if self.speech_ms == 0:  # waiting for speech: keep only the pre-roll
            self.frames.append(frame)
            self.loud.append(loud)
            keep = PREROLL_MS // FRAME_MS + 1
            if len(self.frames) > keep:
                del self.frames[:-keep], self.loud[:-keep]
            self.start_ms = at_ms - (len(self.frames) - 1) * FRAME_MS
            if loud:
                self.speech_ms, self.quiet_ms = FRAME_MS, 0
            return None
        self.frames.append(frame)
        self.loud.append(loud)
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
        energy = np.array([float(np.abs(f).mean()) for f in self.frames])
        smooth = np.convolve(energy, np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES, mode="same")
        first = len(self.frames) // 2
        return first + int(np.argmin(smooth[first:])) + 1

    def _cut(self, end: int) -> Chunk | None:
        frames, loud = self.frames[:end], self.loud[:end]
        speech = sum(loud) * FRAME_MS
        start = self.start_ms
        rest, rest_loud = self.frames[end:], self.loud[end:]
        self.frames, self.loud = rest, rest_loud
        self.start_ms = start + end * FRAME_MS
        self.speech_ms = sum(rest_loud) * FRAME_MS
        self.quiet_ms = 0
        if speech < MIN_SPEECH_MS:
            return None
        return Chunk(self.user_id, start, np.concatenate(frames).tobytes())

"""Speech to text for one chunk, in a recogniser process: faster-whisper, or pocketsphinx.

Both run on one thread and load only packaged files (``HF_HUB_OFFLINE=1``: nothing is
downloaded, ever). ``load`` tries Whisper ``tiny.en`` (``podium.captions.model`` checks its
files first) and falls back to pocketsphinx's bundled US English model, much less accurate
(see docs/captions.md), when Whisper cannot load.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Protocol

import numpy as np

from podium.captions import model

log = logging.getLogger(__name__)

# A segment Whisper itself thinks is not speech (and is unsure of) is dropped: on noise it
# otherwise "hears" stock phrases ("Thank you.").
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0
LEAD_IN = 16_000 * 3 // 10  # 300 ms


class Recognizer(Protocol):
    name: str

    def transcribe(self, pcm: bytes) -> str:
        """16 kHz mono int16 speech -> text ("" when nothing was recognised)."""


def single_thread_environment() -> None:
    """Before ctranslate2/onnxruntime load: one thread each, no hub access."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "CT2_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


class WhisperRecognizer:
    name = "whisper-tiny.en"

    def __init__(self) -> None:
        from faster_whisper import WhisperModel

        directory = model.verified_whisper_dir()
        self._model = WhisperModel(str(directory), device="cpu", compute_type="int8",
                                   cpu_threads=1, num_workers=1, local_files_only=True)

    def transcribe(self, pcm: bytes) -> str:
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        # Quiet before the speech: Whisper mishears a chunk that starts mid-breath less often.
        audio = np.concatenate([np.zeros(LEAD_IN, dtype=np.float32), audio])
        # Greedy, one temperature, no context from earlier chunks: bounded CPU per chunk, and
        # one speaker's words never leak into another's caption.
        segments, _ = self._model.transcribe(
            audio, language="en", beam_size=1, temperature=0.0, vad_filter=False,
            condition_on_previous_text=False, without_timestamps=True)
        texts = [s.text.strip() for s in segments
                 if not (s.no_speech_prob > NO_SPEECH_PROB and s.avg_logprob < LOW_LOGPROB)]
        return " ".join(t for t in texts if t)


class SphinxRecognizer:
    name = "pocketsphinx"

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self._decoder: Any = Decoder(samprate=16000, loglevel="FATAL")

    def transcribe(self, pcm: bytes) -> str:
        d = self._decoder
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        return str(hyp.hypstr).strip() if hyp is not None else ""


def load(engine: str = "auto") -> Recognizer:
    """``engine``: "auto" (Whisper, else pocketsphinx), "whisper" or "pocketsphinx"."""
    single_thread_environment()
    if engine in ("auto", "whisper"):
        try:
            return WhisperRecognizer()
        except Exception as exc:  # noqa: BLE001 - any failure to load means: fall back
            if engine == "whisper":
                raise
            log.warning("faster-whisper unavailable (%s): captions use pocketsphinx", exc)
    return SphinxRecognizer()

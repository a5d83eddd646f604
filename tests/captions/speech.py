"""Known speech for caption tests and benchmarks: espeak-ng (Debian ``espeak-ng``) to WAV."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

TEXTS = [
    "The weather today is sunny and warm. We will meet in the garden after lunch.",
    "Please bring a book and a bottle of water. The music starts at seven.",
    "My brother plays the guitar every evening. His friends like to sing along.",
    "The train to the city leaves at nine. Tickets are sold at the station.",
    "Our team won the game last night. Everyone was happy and tired.",
]


def speak(text: str, path: Path, pad_seconds: float = 2.0, voice: str = "en-us") -> float:
    """Write ``text`` spoken by espeak-ng to ``path`` (16-bit mono), followed by silence (the
    recogniser's chunker needs the quiet after speech); returns the speech's length in s."""
    raw = subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "--stdout", text],
                         check=True, capture_output=True).stdout
    tmp = path.with_suffix(".raw.wav")
    tmp.write_bytes(raw)
    with wave.open(str(tmp), "rb") as src:
        rate = src.getframerate()
        pcm = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
    tmp.unlink()
    padded = np.concatenate([pcm, np.zeros(int(pad_seconds * rate), dtype=np.int16)])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(padded.astype("<i2").tobytes())
    return pcm.size / rate

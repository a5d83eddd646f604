"""User-visible text: Unicode-normalised, invisible and control characters removed, length-limited.

Every text one member writes and others read (display names, room titles and descriptions,
token names; bios and the like later) goes through ``clean_text`` before it is stored.
"""

from __future__ import annotations

import unicodedata

# Format characters that reorder or hide text (bidi overrides and isolates, zero-width space,
# word joiner, BOM, soft hyphen...). ZWJ/ZWNJ (U+200C/D) stay: emoji sequences and several
# scripts need them.
_INVISIBLE = frozenset(
    [0x00AD, 0x061C, 0x180E, 0x200B, 0x200E, 0x200F, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064,
     0xFEFF, *range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0xFFF9, 0xFFFC)])
_LINE_BREAKS = frozenset("\n\r\u2028\u2029\x85\x0b\x0c")


class TextError(ValueError):
    """The text is empty after cleaning, or too long."""


def _keep(ch: str, multiline: bool) -> str:
    if multiline and ch in _LINE_BREAKS:
        return "\n"
    category = unicodedata.category(ch)
    if ch.isspace():
        return " "
    if category in ("Cc", "Cs") or ord(ch) in _INVISIBLE:
        return ""  # control characters, lone surrogates, hidden formatting
    return ch


def clean_text(value: str, *, max_length: int, min_length: int = 1,
               multiline: bool = False) -> str:
    """Drop control/invisible characters, NFC-normalise, collapse spaces (keeping line breaks,
    at most two in a row, when ``multiline``), strip; then check the length."""
    # Drop first, then compose: a hidden character must not keep an accent from its letter.
    text = "".join(_keep(ch, multiline) for ch in value)
    text = unicodedata.normalize("NFC", text)
    if multiline:
        lines = [" ".join(line.split()) for line in text.split("\n")]
        text = "\n".join(lines)
        while "\n\n\n" in text:
            text = text.replace("\n\n\n", "\n\n")
        text = text.strip()
    else:
        text = " ".join(text.split())
    if not min_length <= len(text) <= max_length:
        if min_length:
            raise TextError(f"must be {min_length} to {max_length} characters")
        raise TextError(f"must be at most {max_length} characters")
    return text

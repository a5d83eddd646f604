"""Captions stored as WebVTT, one file per room, appended as they come.

``<data_dir>/captions/<room_id>.vtt``; cue times count from the room's start (the replay's
transcript, ``vtt_path_for_room``), each cue one caption: ``<v Speaker Name>text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from podium.config import Settings

HEADER = "WEBVTT\n\n"
_ROOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CUE_TIME = re.compile(r"^(\d+):(\d\d):(\d\d)\.(\d{3}) --> (\d+):(\d\d):(\d\d)\.(\d{3})")
_VOICE = re.compile(r"^<v ([^>]*)>(.*)$")


def vtt_path_for_room(settings: Settings, room_id: str) -> Path:
    """Where the room's transcript is (it may not exist: nobody was captioned)."""
    if not _ROOM_ID.match(room_id):
        raise ValueError("invalid room id")
    return settings.data_dir / "captions" / f"{room_id}.vtt"


def timestamp(ms: int) -> str:
    ms = max(0, ms)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _escape(text: str) -> str:
    # "-->" could end a cue's timing line early; & < > are markup in cue text.
    one_line = " ".join(text.split())
    return one_line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cue(start_ms: int, end_ms: int, speaker: str, text: str) -> str:
    end_ms = max(end_ms, start_ms + 1)
    return (f"{timestamp(start_ms)} --> {timestamp(end_ms)}\n"
            f"<v {_escape(speaker)}>{_escape(text)}\n\n")


def append_cue(path: Path, start_ms: int, end_ms: int, speaker: str, text: str) -> None:
    """Append one cue (the file and its header are made on the first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        if fh.tell() == 0:
            fh.write(HEADER)
        fh.write(cue(start_ms, end_ms, speaker, text))


@dataclass(frozen=True, slots=True)
class Cue:
    start_ms: int
    end_ms: int
    speaker: str
    text: str


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _ms(h: str, m: str, s: str, f: str) -> int:
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(f)


def read_cues(path: Path) -> list[Cue]:
    """The cues of a file this module wrote (search, tests)."""
    if not path.exists():
        return []
    cues: list[Cue] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        timing = _CUE_TIME.match(line)
        if timing is None or i + 1 >= len(lines):
            continue
        g = timing.groups()
        voice = _VOICE.match(lines[i + 1])
        speaker, text = (voice.group(1), voice.group(2)) if voice else ("", lines[i + 1])
        cues.append(Cue(_ms(*g[:4]), _ms(*g[4:]), _unescape(speaker), _unescape(text)))
    return cues

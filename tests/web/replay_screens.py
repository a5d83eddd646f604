"""A finished replay and a clip for the screenshots (make_screenshots.py), made through the
service layer: a real Ogg Opus file (tones, one per speaker, encoded with libopus), a real
WebVTT transcript, and a clip cut from it by the clip service."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from podium.domain import commands as c
from podium.media import ogg
from podium.media.opus import OPUS_SILENCE, OpusStream
from podium.services.replays import replay_transcript_path
from podium.storage.tables import Replay
from tests.web.test_replays import stamp

# (username, start s, end s, what they say): the turns of the screenshot's conversation.
TURNS = [
    ("ada", 0.0, 9.5, ["Welcome back, everyone. Today: shipping audio apps in Python.",
                       "Maya, you moved your team to asyncio last year. How did it go?"]),
    ("maya", 10.0, 24.0, ["Honestly, better than I feared.",
                          "The hard part wasn't the event loop, it was the tests.",
                          "We had sleeps everywhere, and they all lied to us."]),
    ("li", 24.5, 38.0, ["Same here. We replaced every sleep with a condition to wait on.",
                        "The suite got faster and stopped flaking overnight."]),
    ("ada", 38.5, 44.0, ["That's the lesson of the day, I think."]),
    ("sam", 46.0, 62.0, ["Can I add one thing about Opus?",
                         "Encode once per mix, never per listener: that's where the CPU goes."]),
    ("maya", 62.5, 70.0, ["Yes! We learned that one the expensive way."]),
]
FREQ = {"ada": 392.0, "maya": 523.0, "li": 659.0, "sam": 440.0}


def _tones(total_s: float) -> list[bytes]:
    """Opus packets (20 ms) of each speaker's tone during their turns, silence between."""
    rate, frame = ogg.SAMPLE_RATE, ogg.SAMPLE_RATE // 50
    encoder = OpusStream()
    packets: list[bytes] = []
    for i in range(math.ceil(total_s * 50)):
        t0 = i / 50
        who = next((u for u, a, b, _ in TURNS if a <= t0 < b), None)
        if who is None:
            samples = np.zeros(frame, dtype=np.int16)
        else:
            t = (np.arange(frame) + i * frame) / rate
            samples = (0.15 * 32767 * np.sin(2 * np.pi * FREQ[who] * t)).astype(np.int16)
        packet = encoder.encode_bytes(samples, i * frame)
        packets.append(packet if packet is not None else OPUS_SILENCE)
    return packets


def _vtt(names: dict[str, str]) -> str:
    out = ["WEBVTT", ""]
    for user, start, end, lines in TURNS:
        step = (end - start) / len(lines)
        for i, line in enumerate(lines):
            a, b = round((start + i * step) * 1000), round((start + (i + 1) * step) * 1000)
            out += [f"{stamp(a)} --> {stamp(b)}",
                    f"<v {names[user]}>{line}", ""]
    return "\n".join(out)


async def finished_replay(server: Any, host: Any, people: dict[str, Any]) -> tuple[str, str]:
    """An ended room with its replay (timeline, chapters, audio, transcript) and one clip."""
    rooms, recordings = server.services.rooms, server.services.recordings
    room = await rooms.create(host, "Shipping audio apps in Python", "", "open", announce=False)
    await rooms.join(room.room_id, host, None)
    await rooms.execute(room.room_id, c.EndRoom(host.id))
    accounts = {"ada": host, **people}
    names = {u: a.display_name for u, a in accounts.items()}
    total_s = TURNS[-1][2] + 2.0
    replay_id = "5c7ee2a11b0d"
    data = await asyncio.to_thread(lambda: ogg.stream(_tones(total_s), 0x5C7EE2A1, room.info.title))
    await asyncio.to_thread(recordings.dir.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(recordings.path(f"{replay_id}.ogg").write_bytes, data)
    started = datetime.fromtimestamp(server.clock.now(), UTC) - timedelta(hours=3)
    timeline = [{"user_id": accounts[u].id, "name": names[u], "start_ms": int(a * 1000),
                 "end_ms": int(b * 1000)} for u, a, b, _ in TURNS]
    chapters = [{"start_ms": 0, "title": "On stage: Ada Lovelace, Maya Okafor, Li Wei"},
                {"start_ms": 45_000, "title": "Sam Rivera joined the stage"}]
    row = Replay(id=replay_id, room_id=room.room_id, host_id=host.id, title=room.info.title,
                 started_at=started, ended_at=started + timedelta(seconds=total_s),
                 duration_ms=ogg.duration_samples(data) * 1000 // ogg.SAMPLE_RATE,
                 trim_start_ms=0, access="members", file=f"{replay_id}.ogg",
                 timeline=timeline, chapters=chapters, end_reason="ended_by_host")
    async with server.services.db.transaction() as s:
        s.add(row)
    path = replay_transcript_path(recordings, row)
    await asyncio.to_thread(path.write_text, _vtt(names), "utf-8")
    clip = await server.services.clips.of_replay(people["li"], replay_id, 24_500, 38_000,
                                                 "Replace every sleep with a condition")
    return replay_id, str(clip["id"])

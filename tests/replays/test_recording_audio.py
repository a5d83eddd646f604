"""Real WebRTC into a recorded room: what the speaker said is in the replay, at its time, and
a live clip is the last 30 seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.cli.bot import connect_audio
from podium.media.analysis import tone_wav
from tests.api.helpers import eventually
from tests.conftest import Server
from tests.replays.helpers import decode_ogg, dominant, hears, onset, window

pytestmark = [pytest.mark.media]


@pytest.fixture(params=["sqlite"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)  # the storage side runs on both in test_replays_api.py


@pytest.mark.timeout(180)
async def test_a_tone_is_in_the_replay_at_its_time_and_a_live_clip_is_the_last_30_s(
        server: Server, tmp_path: Path) -> None:
    tones = {}
    for freq in (440, 660):
        tones[freq] = str(tmp_path / f"tone{freq}.wav")
        tone_wav(tones[freq], freq, 2.0)
    host = await server.user("host")
    guest = await server.user("guest")
    room = await host.create_room("Recorded tones", record=True)
    rid = room["id"]
    host_rt = await host.connect()
    await host_rt.join(rid)
    guest_rt = await guest.connect()
    await guest_rt.join(rid)
    assert guest_rt.room is not None and guest_rt.room["recording"] is True
    peer = await connect_audio(host_rt)
    active = server.services.recordings.active[rid]
    try:
        await eventually(lambda: active.now_ms() >= 1000, 20, "a second recorded")
        played_440 = active.now_ms()
        peer.play_file(tones[440], loop=False)
        await eventually(lambda: active.now_ms() >= 33_000, 60, "33 s recorded")
        played_660 = active.now_ms()
        peer.play_file(tones[660], loop=False)
        await eventually(lambda: active.now_ms() >= played_660 + 2600, 20, "the 660 Hz tone")
        clip = await guest.clip_live(rid, "Last bit")
        assert abs(clip["duration_ms"] - 30_000) <= 100, clip
        assert [s["username"] for s in clip["speakers"]] == ["host"]
        audio = decode_ogg(await guest.clip_audio(clip["id"]))
        assert abs(len(audio) / 48_000 - 30.0) <= 0.1
        assert not hears(audio, 440), "the clip reaches back more than 30 s"
        heard_at = onset(audio, 660)
        expected = (played_660 - clip["start_ms"]) / 1000
        assert heard_at is not None and abs(heard_at - expected) <= 0.6, (heard_at, expected)
    finally:
        await peer.close()
        await host_rt.send("end_room")
        await host_rt.close()
        await guest_rt.close()
    await eventually(lambda: rid not in server.services.recordings.active, 20, "finished")
    replay = await host.room_replay(rid)
    assert replay["ended_at"] is not None and replay["duration_ms"] >= played_660 + 2000
    audio = decode_ogg(await guest.replay_audio(replay["id"]))
    start = onset(audio, 440)
    assert start is not None and abs(start - played_440 / 1000) <= 0.6, (start, played_440)
    assert abs(dominant(window(audio, start + 0.3, start + 1.7)) - 440) <= 5
    assert abs(dominant(window(audio, played_660 / 1000 + 0.5, played_660 / 1000 + 1.5))
               - 660) <= 5
    # Who spoke when: the host's timeline entry starts with the tone.
    entries = [e for e in replay["timeline"] if e["user_id"] == host_rt.user["id"]]
    assert entries and abs(entries[0]["start_ms"] - played_440) <= 800, entries

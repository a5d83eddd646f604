"""Real WebRTC through the whole server: the stage rules decide what listeners hear."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podium.cli.bot import connect_audio
from podium.client import Realtime
from podium.media.analysis import tone_wav
from tests.conftest import Server
from tests.e2e.audio import dominant, hears, record_after

pytestmark = [pytest.mark.media]


@pytest.fixture(params=["sqlite"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)  # audio does not touch the database: one backend is enough


@pytest.fixture
def tones(tmp_path: Path) -> dict[int, str]:
    paths = {}
    for freq in (440, 660):
        path = tmp_path / f"tone{freq}.wav"
        tone_wav(str(path), freq, 2.0)
        paths[freq] = str(path)
    return paths


async def _member(server: Server, name: str, room_id: str) -> tuple[Realtime, Any]:
    client = await server.user(name)
    rt = await client.connect()
    await rt.join(room_id)
    peer = await connect_audio(rt)
    return rt, peer


async def test_stage_decides_who_is_heard(server: Server, tones: dict[int, str]) -> None:
    host = await server.user("host")
    room = await host.create_room("Tones")
    host_rt = await host.connect()
    await host_rt.join(room["id"])
    host_peer = await connect_audio(host_rt)
    host_peer.play_file(tones[440])

    guest_rt, guest_peer = await _member(server, "guest", room["id"])
    guest_peer.play_file(tones[660])  # a listener sending audio anyway
    ear_rt, ear = await _member(server, "ear", room["id"])
    try:
        heard = await record_after(ear, 0.5, 1.5)
        assert abs(dominant(heard) - 440) <= 5
        assert not hears(heard, 660), "a listener's audio reached the audience"
        # Audio levels become "speaking" events: the host is, the listener sending is not.
        host_id = host_rt.user["id"]
        await ear_rt.wait_for(lambda: host_id in ear_rt.room["speaking"])
        assert guest_rt.user["id"] not in ear_rt.room["speaking"]

        await guest_rt.send("raise_hand")
        await host_rt.wait_for(lambda: len(host_rt.room["hands"]) == 1)
        await host_rt.send("invite_to_speak", user_id=guest_rt.user["id"])
        await guest_rt.wait_for(lambda: guest_rt.room["me"]["invited"])
        await guest_rt.send("accept_invite")
        await ear_rt.wait_event("role_changed", match=lambda e: e["role"] == "speaker")
        heard = await record_after(ear, 0.5, 1.5)
        assert hears(heard, 440) and hears(heard, 660), "the two speakers are not mixed"
        # Each speaker hears the other one, not themself.
        own = await record_after(guest_peer, 0.3, 1.0)
        assert hears(own, 440) and not hears(own, 660)

        await host_rt.send("mute", user_id=guest_rt.user["id"])
        await ear_rt.wait_event("mute_changed", match=lambda e: e["muted"])
        heard = await record_after(ear, 0.5, 1.5)
        assert hears(heard, 440) and not hears(heard, 660), "a muted speaker was heard"

        await guest_rt.send("set_muted", muted=False)
        await host_rt.send("move_to_audience", user_id=guest_rt.user["id"])
        await ear_rt.wait_event("role_changed", match=lambda e: e["role"] == "listener")
        heard = await record_after(ear, 0.5, 1.5)
        assert hears(heard, 440) and not hears(heard, 660), "a demoted speaker was heard"

        await host_rt.send("set_muted", muted=True)
        heard = await record_after(ear, 0.5, 1.0)
        assert not hears(heard, 440), "a self-muted host was heard"
        await ear_rt.wait_for(lambda: host_id not in ear_rt.room["speaking"])
    finally:
        for rt, peer in ((ear_rt, ear), (guest_rt, guest_peer), (host_rt, host_peer)):
            await peer.close()
            await rt.send("leave")
            await rt.close()
    # The room ended for lack of a stage, or holds nobody: either way no media is left.
    await server.services.media.close_room(room["id"])
    stats = server.services.media.stats()
    assert (stats.rooms, stats.peers, stats.tasks) == (0, 0, 0)


async def test_everyone_leaving_frees_the_engine(server: Server, tones: dict[int, str]) -> None:
    host = await server.user("host")
    room = await host.create_room("Short")
    host_rt = await host.connect()
    await host_rt.join(room["id"])
    host_peer = await connect_audio(host_rt)
    ear_rt, ear = await _member(server, "ear", room["id"])
    assert server.services.media.stats().peers == 2
    await ear_rt.send("leave")
    await host_rt.wait_for(lambda: host_rt.room["audience_count"] == 0)
    await host_rt.send("end_room")
    await host_rt.wait_event("room_ended")
    stats = server.services.media.stats()
    assert (stats.rooms, stats.peers, stats.tasks) == (0, 0, 0)
    await host_peer.close()
    await ear.close()
    await host_rt.close()
    await ear_rt.close()

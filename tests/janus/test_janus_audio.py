"""Real WebRTC through Podium and two Janus instances: the stage decides who is heard."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from podium.cli.bot import connect_audio
from podium.media.analysis import tone_wav
from podium.media.janus.engine import JanusEngine
from tests.conftest import run_server
from tests.e2e.audio import dominant, hears, record_after
from tests.janus.conftest import janus_settings
from tests.janus.helpers import hang_up, member_with_audio, promote
from tests.janus.janusd import JanusProcess

pytestmark = [pytest.mark.media]


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.1)  # polls a condition, with a deadline


async def _janus_leftovers(engine: JanusEngine) -> list[Any]:
    """Rooms and handles left on every instance (the engine's own session aside)."""
    left: list[Any] = []
    for session in engine._sessions:
        rooms = await session.admin({"janus": "message_plugin",
                                     "plugin": "janus.plugin.audiobridge",
                                     "request": {"request": "list"}})
        left += rooms["response"]["list"]
        sessions = (await session.admin({"janus": "list_sessions"}))["sessions"]
        for sid in sessions:
            left += (await session.admin({"janus": "list_handles", "session_id": sid}))["handles"]
    return left


async def test_stage_over_two_janus_instances(tmp_path: Path,
                                              janus_pair: list[JanusProcess]) -> None:
    tones = {}
    for freq in (440, 660):
        tones[freq] = str(tmp_path / f"tone{freq}.wav")
        tone_wav(tones[freq], freq, 2.0)
    async with run_server(tmp_path, "sqlite", **janus_settings(janus_pair)) as server:
        engine = server.services.media
        assert isinstance(engine, JanusEngine)
        host = await server.user("host")
        room = await host.create_room("Janus")
        host_rt = await host.connect()
        await host_rt.join(room["id"])
        host_peer = await connect_audio(host_rt)
        host_peer.play_file(tones[440])
        guest_rt, guest = await member_with_audio(server, "guest", room["id"])
        guest.play_file(tones[660])  # a listener sending audio anyway
        ear_rt, ear = await member_with_audio(server, "ear", room["id"])
        members = engine._rooms[room["id"]].members
        assert {m.instance for m in members.values()} == {0, 1}, "not spread over instances"
        peers = ((ear_rt, ear), (guest_rt, guest), (host_rt, host_peer))
        try:
            # Listeners on both instances hear the speaker (same-instance and cascaded).
            for listener in (ear, guest):
                heard = await record_after(listener, 1.0, 1.5)
                assert abs(dominant(heard) - 440) <= 5
                assert not hears(heard, 660), "a listener's audio reached the audience"
            host_id = host_rt.user["id"]
            await ear_rt.wait_for(lambda: host_id in ear_rt.room["speaking"])

            await promote(host_rt, guest_rt, ear_rt)
            heard = await record_after(ear, 0.7, 1.5)
            assert hears(heard, 440) and hears(heard, 660), "the promoted speaker is not heard"
            own = await record_after(guest, 0.3, 1.0)
            assert hears(own, 440) and not hears(own, 660), "mix-minus broken"

            await host_rt.send("mute", user_id=guest_rt.user["id"])
            await ear_rt.wait_event("mute_changed", match=lambda e: e["muted"])
            heard = await record_after(ear, 0.7, 1.5)
            assert hears(heard, 440) and not hears(heard, 660), "a muted speaker was heard"

            await guest_rt.send("set_muted", muted=False)
            await host_rt.send("move_to_audience", user_id=guest_rt.user["id"])
            await ear_rt.wait_event("role_changed", match=lambda e: e["role"] == "listener")
            heard = await record_after(ear, 0.7, 1.5)
            assert hears(heard, 440) and not hears(heard, 660), "a demoted speaker was heard"
        finally:
            await hang_up(peers)
        await engine.close_room(room["id"])
        stats = engine.stats()
        assert (stats.rooms, stats.peers) == (0, 0)


        async def settled() -> bool:  # one long-poll per instance + the level reporter
            return engine.stats().tasks == len(janus_pair) + 1

        async def clean() -> bool:
            return await _janus_leftovers(engine) == []

        await _until(settled)
        await _until(clean)
        health = await engine.health()
        assert [h["ok"] for h in health] == [True, True]


async def test_closed_client_peer_is_noticed(tmp_path: Path,
                                             janus_pair: list[JanusProcess]) -> None:
    async with run_server(tmp_path, "sqlite", **janus_settings(janus_pair)) as server:
        engine = server.services.media
        assert isinstance(engine, JanusEngine)
        host = await server.user("host")
        room = await host.create_room("Gone")
        host_rt = await host.connect()
        await host_rt.join(room["id"])
        host_peer = await connect_audio(host_rt)
        ear_rt, ear = await member_with_audio(server, "ear", room["id"])
        assert engine.stats().peers == 2
        await ear.close()  # DTLS close: Janus hangs up, Podium hears of it

        async def one_left() -> bool:
            return engine.stats().peers == 1

        await _until(one_left, timeout=40.0)
        await host_peer.close()
        for rt in (ear_rt, host_rt):
            await rt.send("leave")
            await rt.close()
        await engine.close_room(room["id"])

        async def clean() -> bool:
            return await _janus_leftovers(engine) == []

        await _until(clean)


def test_instance_entries_parse() -> None:
    from podium.config import Settings
    from podium.media.janus.api import JanusInstanceConfig

    settings = Settings(janus_instances="http://a:8088/janus|s1|http://a:7088/admin, "
                        "https://b/janus/|s2", media_engine="janus")
    configs = [JanusInstanceConfig.parse(e) for e in settings.janus_instances]
    assert configs[0] == JanusInstanceConfig("http://a:8088/janus", "s1", "http://a:7088/admin")
    assert (configs[1].url, configs[1].api_secret, configs[1].media_host) == (
        "https://b/janus", "s2", "b")
    with pytest.raises(ValueError):
        JanusInstanceConfig.parse("a:8088|x")

"""With real Janus: a stage change made while the previous one is still on its way to Janus
ends with Janus in the current state (the engine re-reads the heard set after each request).

Before: a speaker demoted while their "unmute" was in flight stayed unmuted in the
AudioBridge, heard, until the next change.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from podium.cli.bot import connect_audio
from podium.media.janus.engine import JanusEngine
from tests.conftest import run_server
from tests.janus.conftest import janus_settings
from tests.janus.helpers import hang_up, member_with_audio
from tests.janus.janusd import JanusProcess

pytestmark = [pytest.mark.media]


def _hold_first_unmute(engine: JanusEngine) -> tuple[asyncio.Event, asyncio.Event]:
    """The first "unmute" waits before it is sent to Janus, until ``release``."""
    entered, release = asyncio.Event(), asyncio.Event()
    for session in engine._sessions:
        real = session.request

        async def request(handle: int, body: dict[str, Any], real: Any = real) -> Any:
            if body.get("request") == "unmute" and not entered.is_set():
                entered.set()
                await release.wait()
            return await real(handle, body)

        session.request = request  # type: ignore[method-assign]
    return entered, release


async def _muted_in_janus(engine: JanusEngine, room_id: str, user_id: int) -> bool:
    room = engine._rooms[room_id]
    member = room.members[user_id]
    bridge = room.bridges[member.instance]
    data = await engine._sessions[member.instance].request(
        bridge.control, {"request": "listparticipants", "room": bridge.janus_room})
    found = [p for p in data["participants"] if p["id"] == member.participant]
    assert found, data
    return bool(found[0]["muted"])


async def test_a_demotion_during_an_unmute_ends_muted(tmp_path: Path,
                                                      janus_pair: list[JanusProcess]) -> None:
    """Two heard-set changes overlap (as from two rooms' tasks or nodes): the second sees the
    member "still muted" while the first one's unmute is on its way, and has nothing to do;
    the first must notice the change and mute again."""
    async with run_server(tmp_path, "sqlite", **janus_settings(janus_pair)) as server:
        engine = server.services.media
        assert isinstance(engine, JanusEngine)
        host = await server.user("host")
        room_id = (await host.create_room("Race"))["id"]
        host_rt = await host.connect()
        await host_rt.join(room_id)
        host_peer = await connect_audio(host_rt)
        guest_rt, guest_peer = await member_with_audio(server, "guest", room_id)
        guest_id, host_id = guest_rt.user["id"], host_rt.user["id"]
        assert await _muted_in_janus(engine, room_id, guest_id)  # a listener
        entered, release = _hold_first_unmute(engine)
        promoting = asyncio.create_task(
            engine.set_heard(room_id, frozenset({host_id, guest_id})))
        await asyncio.wait_for(entered.wait(), 20)  # the unmute is on its way
        await engine.set_heard(room_id, frozenset({host_id}))  # demoted meanwhile
        release.set()
        await asyncio.wait_for(promoting, 20)
        assert await _muted_in_janus(engine, room_id, guest_id), \
            "a demoted speaker stayed unmuted in Janus"
        await hang_up(((guest_rt, guest_peer), (host_rt, host_peer)))

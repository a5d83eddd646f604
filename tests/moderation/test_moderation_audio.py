"""Real audio through the whole server: whom a moderator or an admin silences is not heard from
that moment, even with a client that keeps sending (a listener bot records)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from podium.cli.bot import connect_audio
from podium.client import Realtime
from podium.media.analysis import tone_wav
from tests.conftest import Server
from tests.e2e.audio import hears, record_after

pytestmark = [pytest.mark.media]
FREQS = (440, 660, 880)


@pytest.fixture(params=["sqlite"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)  # audio does not touch the database: one backend is enough


@pytest.fixture
def tones(tmp_path: Path) -> dict[int, str]:
    paths = {}
    for freq in FREQS:
        path = tmp_path / f"tone{freq}.wav"
        tone_wav(str(path), freq, 2.0)
        paths[freq] = str(path)
    return paths


async def _member(server: Server, name: str, room_id: str, admin: bool = False
                  ) -> tuple[Any, Realtime, Any]:
    client = await server.user(name, admin=admin)
    rt = await client.connect()
    await rt.join(room_id)
    peer = await connect_audio(rt)
    return client, rt, peer


async def _on_stage(host: Realtime, rt: Realtime, ear: Realtime) -> None:
    await host.send("invite_to_speak", user_id=rt.user["id"])
    await rt.wait_for(lambda: rt.room["me"]["invited"])
    await rt.send("accept_invite")
    await ear.wait_event("role_changed", match=lambda e: e["user_id"] == rt.user["id"]
                         and e["role"] == "speaker")


async def _peer_gone(server: Server, peers_before: int, within: float = 1.0) -> float:
    """Seconds until the engine holds fewer peers (the server closed the connection)."""
    start = time.monotonic()
    while server.services.media.stats().peers >= peers_before:
        assert time.monotonic() - start < within, "the media connection was not closed in time"
        await asyncio.sleep(0.01)  # polls a condition (the engine's peer count), with a deadline
    return time.monotonic() - start


async def test_silenced_people_are_not_heard(server: Server, tones: dict[int, str]) -> None:
    host = await server.user("host")
    room = await host.create_room("Moderated")
    room_id = room["id"]
    host_rt = await host.connect()
    await host_rt.join(room_id)
    host_peer = await connect_audio(host_rt)
    host_peer.play_file(tones[440])
    _, guest_rt, guest_peer = await _member(server, "guest", room_id)
    guest_peer.play_file(tones[660])  # keeps sending whatever happens
    _, other_rt, other_peer = await _member(server, "other", room_id)
    other_peer.play_file(tones[880])
    admin, admin_rt, admin_peer = await _member(server, "admin", room_id, admin=True)
    _, ear_rt, ear = await _member(server, "ear", room_id)
    everyone = [(ear_rt, ear), (admin_rt, admin_peer), (other_rt, other_peer),
                (guest_rt, guest_peer), (host_rt, host_peer)]
    try:
        await _on_stage(host_rt, guest_rt, ear_rt)
        heard = await record_after(ear, 0.5, 1.0)
        assert hears(heard, 440) and hears(heard, 660)

        # Muted by a moderator.
        await host_rt.send("mute", user_id=guest_rt.user["id"])
        await ear_rt.wait_event("mute_changed", match=lambda e: e["muted"])
        heard = await record_after(ear, 0.5, 1.0)
        assert hears(heard, 440) and not hears(heard, 660), "a muted speaker was heard"

        # Demoted: moved to the audience (after unmuting themself).
        await guest_rt.send("set_muted", muted=False)
        await ear_rt.wait_event("mute_changed", match=lambda e: not e["muted"])
        await host_rt.send("move_to_audience", user_id=guest_rt.user["id"])
        await ear_rt.wait_event("role_changed", match=lambda e: e["role"] == "listener")
        heard = await record_after(ear, 0.5, 1.0)
        assert hears(heard, 440) and not hears(heard, 660), "a demoted speaker was heard"

        # Removed from the room: the server closes their media connection within a second.
        await _on_stage(host_rt, guest_rt, ear_rt)
        peers = server.services.media.stats().peers
        await host_rt.send("remove_member", user_id=guest_rt.user["id"], minutes=10)
        await ear_rt.wait_event("member_removed")
        await _peer_gone(server, peers)
        heard = await record_after(ear, 0.5, 1.0)
        assert hears(heard, 440) and not hears(heard, 660), "a removed speaker was heard"

        # Suspended by an admin, while on stage.
        await _on_stage(host_rt, other_rt, ear_rt)
        heard = await record_after(ear, 0.5, 1.0)
        assert hears(heard, 880)
        peers = server.services.media.stats().peers
        response = await admin.http.post("/admin/users/other/suspend", json={})
        assert response.status_code == 200, response.text
        await ear_rt.wait_event("member_left", match=lambda e: e["user_id"] == other_rt.user["id"])
        await _peer_gone(server, peers)
        heard = await record_after(ear, 0.5, 1.0)
        assert hears(heard, 440) and not hears(heard, 880), "a suspended speaker was heard"
    finally:
        for rt, peer in everyone:
            await peer.close()
            with contextlib.suppress(Exception):  # removed or suspended clients cannot leave
                await rt.send("leave")
            await rt.close()

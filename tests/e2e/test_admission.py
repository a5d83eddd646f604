"""A storm of audio connections is admitted in turn: past PODIUM_MEDIA_SETUP_CONCURRENCY
negotiations at once, the rest wait (in order, counted on /metrics) instead of all competing
with the audio of those already listening, and none is refused for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from podium.cli.bot import connect_audio
from tests.api.helpers import eventually, members, ok
from tests.conftest import Server

pytestmark = [pytest.mark.media]


def _gate(server: Server) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold the first negotiation inside the engine until ``release`` is set."""
    entered, release = asyncio.Event(), asyncio.Event()
    engine = server.services.rooms.media
    real = engine.connect

    async def connect(*args: Any) -> Any:
        if not entered.is_set():
            entered.set()
            await release.wait()
        return await real(*args)

    engine.connect = connect  # type: ignore[method-assign]
    return entered, release


async def test_connections_past_the_limit_wait_their_turn(
        make_server: Callable[..., Any]) -> None:
    async with make_server(media_setup_concurrency=1) as server:
        host, first, second, gone = await members(server, "host", "first", "second", "gone")
        room_id = ok(await host.http.post("/rooms", json={"title": "Crowd"}), 201)["id"]
        sockets = {}
        for m in (first, second, gone):
            sockets[m.id] = await m.client.connect()
            await sockets[m.id].join(room_id)
        entered, release = _gate(server)
        rooms = server.services.rooms

        a = asyncio.create_task(connect_audio(sockets[first.id]))
        await asyncio.wait_for(entered.wait(), 10)
        b = asyncio.create_task(connect_audio(sockets[second.id]))
        c = asyncio.create_task(connect_audio(sockets[gone.id]))
        await eventually(lambda: rooms.setups_waiting == 2, 10, "two connections waiting")
        metrics = (await host.http.get(server.url + "/metrics")).text
        assert "podium_media_setups_waiting 2" in metrics
        assert not b.done() and not c.done()

        # Its socket still answers while its audio waits; it gives up and leaves.
        await sockets[gone.id].send("leave")
        release.set()
        peers = [await asyncio.wait_for(a, 30), await asyncio.wait_for(b, 30)]
        with pytest.raises(Exception, match="left the room"):
            await asyncio.wait_for(c, 30)
        assert rooms.setups_waiting == 0
        assert all(p.connection_state == "connected" for p in peers)
        for peer in peers:
            await peer.close()

"""A storm of audio connections is admitted in turn: past PODIUM_MEDIA_SETUP_CONCURRENCY
negotiations at once, the rest wait (in order, counted on /metrics) instead of all competing
with the audio of those already listening, and none is refused for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from podium.cli.bot import connect_audio
from podium.client import PodiumClient
from podium.media.peer import ClientPeer
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


async def test_an_http_offer_whose_token_is_revoked_while_waiting_does_not_connect(
        make_server: Callable[..., Any]) -> None:
    """The WebSocket's offers end with their socket; an HTTP offer has no socket, so the
    service itself must notice that its credential ended while it waited or negotiated."""
    async with make_server(media_setup_concurrency=1) as server:
        host, first, bot = await members(server, "host", "first", "bot")
        room_id = ok(await host.http.post("/rooms", json={"title": "Revoked"}), 201)["id"]
        first_rt = await first.client.connect()
        await first_rt.join(room_id)
        row, token = await server.services.accounts.create_token(bot.id, "second")
        bot_client = PodiumClient(server.url, token)
        bot_http = bot_client.http
        ok(await bot_http.post(f"/rooms/{room_id}/join"))
        entered, release = _gate(server)
        rooms = server.services.rooms

        held = asyncio.create_task(connect_audio(first_rt))  # holds the one set-up slot
        await asyncio.wait_for(entered.wait(), 10)
        peer = ClientPeer(ice_hosts=["127.0.0.1"], stun_urls=[])
        try:
            offer = await peer.create_offer()
            waiting = asyncio.create_task(bot_http.post(
                f"/rooms/{room_id}/rtc", json={"sdp": offer.sdp, "type": "offer"}))
            await eventually(lambda: rooms.setups_waiting == 1, 10, "the HTTP offer waiting")
            await server.services.accounts.revoke_token(bot.id, row.id)
            release.set()
            response = await asyncio.wait_for(waiting, 30)
            assert response.status_code == 401, response.text
            assert response.json()["error"] == "signed_out"
            first_peer = await asyncio.wait_for(held, 30)
            await first_peer.close()
            live = rooms.rooms[room_id]
            assert bot.id not in live.media_credentials
            assert "media" not in live.holders.get(bot.id, set())
        finally:
            await peer.close()
            await bot_client.close()

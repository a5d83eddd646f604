"""Socket-level limits and liveness: frame size, flooding, heartbeats, who may connect.

These exercise the gateway rather than the database, so they run on SQLite only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import websockets

from podium.realtime.gateway import BURST, FLOOD_LIMIT, MAX_FRAME
from tests.api.helpers import member, members, ok
from tests.realtime.helpers import RawSocket, connected, ws_url


async def test_oversized_frames_close_with_1009(make_server: Callable[..., Any]) -> None:
    async with make_server() as server:
        alice = await member(server, "alice")
        ws = await RawSocket.open(server, alice.token)
        await ws.recv()  # hello
        await ws.send({"id": 1, "type": "ping", "pad": "x" * (MAX_FRAME - 100)})  # just fits
        await ws.until(lambda f: f.get("type") == "reply")
        await ws.send({"id": 2, "type": "ping", "pad": "x" * (MAX_FRAME + 10)})
        assert await ws.close_code() == 1009


async def test_flooding_is_rate_limited_then_closed_with_4008(
        make_server: Callable[..., Any]) -> None:
    async with make_server() as server:
        alice = await member(server, "alice")
        ws = await RawSocket.open(server, alice.token)
        await ws.recv()  # hello
        total = int(BURST) + FLOOD_LIMIT + 50
        await asyncio.gather(*[ws.send({"id": i, "type": "ping"}) for i in range(total)])
        assert await ws.close_code() == 4008
        replies = [f for f in ws.frames if f["type"] == "reply"]
        limited = [f for f in ws.frames if f.get("error") == "rate_limited"]
        # Frames still queued when the socket closes are not sent, so some of each may be
        # missing; but the refusals came before the close, and the first commands were served.
        assert limited and all(f["id"] is None for f in limited)
        ids = [f["id"] for f in replies]
        assert ids[:int(BURST)] == list(range(min(len(ids), int(BURST)))), ids
        assert ids == sorted(ids) and len(ids) < total - FLOOD_LIMIT, ids  # refills, no more
        assert ws.frames.index(limited[0]) > ws.frames.index(replies[0])


async def test_heartbeat_pings_and_a_silent_client_is_closed_with_4000(
        make_server: Callable[..., Any]) -> None:
    async with make_server(heartbeat_seconds=0.2) as server:
        alice = await member(server, "alice")
        # A client that answers pings stays; it gets one about every heartbeat.
        lively = await RawSocket.open(server, alice.token)
        hello = await lively.recv()
        assert hello["heartbeat"] == 0.2
        started = time.monotonic()
        for _ in range(5):  # 1 s: twice the 0.5 s the server waits for a frame
            frame = await lively.recv(timeout=2)
            assert frame == {"type": "ping"}
            await lively.send({"type": "pong"})
        assert time.monotonic() - started >= 0.8
        await lively.send({"id": 1, "type": "ping"})
        assert await lively.until(lambda f: f["type"] == "reply")
        await lively.close()
        # One that never answers is closed after 2.5 heartbeats.
        silent = await RawSocket.open(server, alice.token)
        assert await silent.close_code(timeout=5) == 4000
        assert {"type": "ping"} in silent.frames


async def test_a_listening_client_in_a_busy_room_is_still_pinged(
        make_server: Callable[..., Any]) -> None:
    """Frames flowing all the time must not stop the pings a passive client answers."""
    async with make_server(heartbeat_seconds=0.2) as server:
        alice, bob = await members(server, "alice", "bob")
        rid = ok(await alice.http.post("/rooms", json={"title": "Busy"}), 201)["id"]
        host = await connected(alice, rid)
        listener = await connected(bob, rid)  # the client library answers pings itself
        pings: list[float] = []
        original = listener._on_frame

        async def on_frame(frame: dict[str, Any]) -> None:
            if frame.get("type") == "ping":
                pings.append(time.monotonic())
            await original(frame)

        listener._on_frame = on_frame  # type: ignore[method-assign]
        deadline = time.monotonic() + 1.5  # three times the 0.5 s receive timeout
        muted = False
        while time.monotonic() < deadline:
            muted = not muted
            await host.send("set_muted", muted=muted)
            await asyncio.sleep(0.05)  # a lively room: an event every 50 ms
        assert len(pings) >= 4, pings
        assert not listener.closed.is_set(), (listener.ws.close_code, listener.ws.close_reason)
        await listener.wait_for(lambda: listener.room["stage"][0]["muted"] is muted)


async def test_who_may_open_a_socket(make_server: Callable[..., Any]) -> None:
    async with make_server() as server:
        alice = await member(server, "alice")

        async def close_code(url: str, **kwargs: Any) -> int | None:
            async with websockets.connect(url, **kwargs) as ws:
                try:
                    await asyncio.wait_for(ws.recv(), 5)
                except websockets.ConnectionClosed as exc:
                    return exc.rcvd.code if exc.rcvd else None
            return None

        assert await close_code(ws_url(server)) == 4001
        assert await close_code(ws_url(server, "pod_not_a_token")) == 4001
        # An API token as a Bearer header works like ?token=.
        async with websockets.connect(ws_url(server), additional_headers={
                "Authorization": f"Bearer {alice.token}"}) as ws:
            assert json.loads(await ws.recv())["user"]["username"] == "alice"

        # A browser session cookie works from our own origin, and only from there.
        browser = await server.anonymous()
        await browser.sign_in("alice", "password-alice")
        cookie = {"Cookie": f"podium_session={browser.http.cookies['podium_session']}"}
        async with websockets.connect(ws_url(server), additional_headers=cookie,
                                      origin=server.url) as ws:  # type: ignore[arg-type]
            assert json.loads(await ws.recv())["type"] == "hello"
        assert await close_code(ws_url(server), additional_headers=cookie,
                                origin="http://evil.example") == 4001
        rt = await browser.connect()  # the client library sends the cookie too
        assert rt.user["username"] == "alice"
        await rt.close()

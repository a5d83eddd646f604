"""WebSocket fuzzing: garbage of every kind on several sockets while a well-behaved client in
the same room keeps receiving its events, and the server never answers ``internal``."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

import websockets

from podium.realtime.commands import COMMANDS
from tests.api.helpers import act, member, ok
from tests.realtime.helpers import RawSocket, ws_url

VALUES: list[Any] = [None, True, False, 0, -1, 1, 2**53, 2**64, 1.5, float("nan"), "", "x",
                     "0", "a" * 5000, [], [1], {}, {"a": 1}, "\u202e", "\x00", "🎙️"]
FIELDS = ["id", "type", "room_id", "user_id", "muted", "sdp", "seq", "resume"]


def junk_frames(rng: random.Random, room_id: str) -> list[str | bytes]:
    """Malformed JSON, non-objects, unknown commands, wrong types, binary and random bytes."""
    frames: list[str | bytes] = [
        "", "{", "}", "[]", "null", "42", '"text"', "{]", '{"type": }', "nan", "\x00\xff",
        '{"type": "join"', json.dumps([{"type": "ping"}]), '{"type": "ping", "id": {"a": 1}}',
        json.dumps({"type": "join", "room_id": room_id, "id": [1, 2]}),
        json.dumps({"type": "__proto__"}), json.dumps({"type": "constructor", "id": 1}),
        json.dumps({"type": "x" * 10_000}), "{" * 5000 + "}" * 5000, '"\\ud800"',
        json.dumps({"type": "join", "room_id": "../../etc/passwd"}),
        json.dumps({"type": "join", "room_id": "x" * 33}),
        b"\x00\x01\x02", b'{"type":"ping","id":"bin"}',
        bytes(rng.randrange(256) for _ in range(64)),
    ]
    for kind in [*COMMANDS, "pong", "hello", "event", "snapshot", "reply", "error"]:
        for _ in range(6):
            frame: dict[str, Any] = {"type": kind}
            for name in rng.sample(FIELDS, rng.randrange(1, 4)):
                frame[name] = rng.choice(VALUES)
            frame["type"] = kind
            frames.append(json.dumps(frame, allow_nan=True))
    for _ in range(40):
        frames.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
        frames.append("".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(1, 80))))
    return frames


async def test_garbage_never_takes_the_server_down(make_server: Callable[..., Any]) -> None:
    rng = random.Random(20240611)
    async with make_server(ws_rate=10_000.0, ws_burst=10_000.0) as server:
        host, good, fuzzer = [await member(server, n) for n in ("host", "good", "fuzzer")]
        room = ok(await host.http.post("/rooms", json={"title": "Fuzzed"}), 201)["id"]
        ok(await act(host, room, "join"))

        # The well-behaved client: in the room, watching.
        watcher = await RawSocket.open(server, good.token)
        await watcher.recv()
        await watcher.send({"id": "w", "type": "join", "room_id": room})
        await watcher.until(lambda f: f.get("id") == "w")

        sent = 0
        sockets = []
        for round_ in range(5):
            sock = await RawSocket.open(server, fuzzer.token)
            await sock.recv()  # hello
            if round_ % 2:  # some rounds from inside the room
                await sock.send({"id": "in", "type": "join", "room_id": room})
                sent += 1
            frames = junk_frames(rng, room)
            rng.shuffle(frames)
            for frame in frames:
                await sock.send(frame)
                sent += 1
            await sock.send({"id": "alive", "type": "ping"})
            sent += 1
            await sock.until(lambda f: f.get("id") == "alive", timeout=20)
            sockets.append(sock)
        replies = [f for s in sockets for f in s.frames]
        assert not [f for f in replies if f.get("error") == "internal"]
        assert any(f.get("error") == "bad_json" for f in replies)
        assert any(f.get("error") == "unknown_command" for f in replies)
        assert any(f.get("error") == "invalid_request" for f in replies)

        # A huge frame closes that socket (1009).
        huge = await RawSocket.open(server, fuzzer.token)
        await huge.recv()
        await huge.send("[" + "1," * 40_000 + "1]")
        sent += 1
        assert await huge.close_code() == 1009

        # Through all of it the watcher kept getting the room's events, in order.
        ok(await act(host, room, "mute", muted=True))
        event = await watcher.until(lambda f: f.get("type") == "event"
                                    and f["event"]["type"] == "mute_changed")
        assert event["event"]["user_id"] == host.id
        seqs = [f["seq"] for f in watcher.frames if "seq" in f]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        # And the server still serves new clients and HTTP.
        ok(await host.http.get(f"/rooms/{room}"))
        fresh = await RawSocket.open(server, good.token)
        assert (await fresh.recv())["type"] == "hello"
        await fresh.close()
        await watcher.close()
        print(f"websocket fuzz: {sent} frames sent")
        assert sent > 1000


async def test_a_flooding_client_is_closed_and_the_others_carry_on(
        make_server: Callable[..., Any]) -> None:
    async with make_server() as server:
        host, good, bad = [await member(server, n) for n in ("host", "good", "bad")]
        room = ok(await host.http.post("/rooms", json={"title": "Flooded"}), 201)["id"]
        ok(await act(host, room, "join"))
        watcher = await RawSocket.open(server, good.token)
        await watcher.recv()
        await watcher.send({"id": "w", "type": "join", "room_id": room})
        await watcher.until(lambda f: f.get("id") == "w")

        async with websockets.connect(ws_url(server, bad.token)) as flood:
            await flood.recv()
            sent = 0
            try:
                while sent < 5000:
                    await flood.send(json.dumps({"type": "raise_hand", "id": sent}))
                    sent += 1
            except websockets.ConnectionClosed:
                pass
            frames = []
            try:
                while True:
                    frames.append(json.loads(await asyncio.wait_for(flood.recv(), 10)))
            except websockets.ConnectionClosed as exc:
                assert exc.rcvd is not None and exc.rcvd.code == 4008
            assert any(f.get("error") == "rate_limited" for f in frames)
            print(f"websocket flood: {sent} frames sent before the 4008 close")
        ok(await act(host, room, "mute", muted=True))
        await watcher.until(lambda f: f.get("type") == "event"
                            and f["event"]["type"] == "mute_changed")
        await watcher.close()


async def test_deeply_nested_frames_get_bad_json_and_the_socket_stays(
        make_server: Callable[..., Any]) -> None:
    """JSON nested 20,000 deep made the parser raise RecursionError, which dropped the socket
    without a close frame; the protocol promises ``bad_json``. HTTP bodies get a 4xx too."""
    async with make_server() as server:
        m = await member(server, "deep")
        sock = await RawSocket.open(server, m.token)
        await sock.recv()  # hello
        for frame in ("[" * 20_000, "[" * 20_000 + "]" * 20_000,
                      '{"a":' * 10_000 + "1" + "}" * 10_000):
            await sock.send(frame)
            error = await sock.until(lambda f: f.get("type") == "error")
            assert error["error"] == "bad_json", error
        await sock.send({"id": "after", "type": "ping"})
        assert (await sock.until(lambda f: f.get("type") == "pong"))["type"] == "pong"
        response = await m.http.post("/rooms", content="[" * 20_000,
                                     headers={"Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, response.status_code

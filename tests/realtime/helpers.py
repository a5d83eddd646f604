"""Helpers for the realtime tests: raw sockets, frame spies, markers, sequence checks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from podium.client import Event, Realtime
from tests.api.helpers import Member, fresh_fields, ok
from tests.conftest import Server


def ws_url(server: Server, token: str | None = None, **query: Any) -> str:
    params = {"token": token, **query} if token else dict(query)
    text = "&".join(f"{k}={v}" for k, v in params.items())
    return server.url.replace("http://", "ws://") + "/api/v1/ws" + (f"?{text}" if text else "")


class RawSocket:
    """A WebSocket without the client library: every frame the server sends, as sent."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, server: Server, token: str | None = None, **kwargs: Any) -> RawSocket:
        headers = kwargs.pop("headers", None)
        ws = await websockets.connect(ws_url(server, token, **kwargs), additional_headers=headers,
                                      max_size=2**22)
        return cls(ws)

    async def send(self, frame: Any) -> None:
        await self.ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def until(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        """Read frames until one matches (skipping pings)."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout)
                if predicate(frame):
                    return frame

    async def close_code(self, timeout: float = 10.0) -> int | None:
        """Read until the server closes; the close code it sent."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.recv(timeout)
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None

    async def close(self) -> None:
        await self.ws.close()


def spy(rt: Realtime) -> list[int]:
    """Every sequence number the server sends this client, repeats included (the client
    itself silently drops frames it has already seen)."""
    seen: list[int] = []
    original = rt._on_frame

    async def on_frame(frame: dict[str, Any]) -> None:
        if "seq" in frame:
            seen.append(frame["seq"])
        await original(frame)

    rt._on_frame = on_frame  # type: ignore[method-assign]
    return seen


def seqs(rt: Realtime) -> list[int]:
    return [f["seq"] for f in rt.events]


def assert_gapless(numbers: list[int], first: int = 1) -> None:
    assert numbers == list(range(first, first + len(numbers))), numbers


def room_events(rt: Realtime, after: int = 0) -> list[Event]:
    return [f["event"] for f in rt.events[after:] if f["type"] == "event"]


async def marker(actor: Realtime, *observers: Realtime) -> None:
    """A public event every observer must receive: anything sent before it arrived first.

    ``actor`` must be on stage: it flips its own mute. Observers wait for that event's room
    revision, which no other event has.
    """
    starts = [len(o.events) for o in observers]  # the marker cannot be before these
    await toggle_mute(actor)
    me = actor.user["id"]
    frame = next(f for f in reversed(actor.events) if f["type"] == "event"
                 and f["event"]["type"] == "mute_changed" and f["event"]["user_id"] == me)
    room_id, rev = frame["room_id"], frame["rev"]
    for observer, start in zip(observers, starts, strict=True):
        await observer.wait_for(lambda o=observer, s=start: any(  # type: ignore[misc]
            f.get("rev") == rev and f.get("room_id") == room_id for f in o.events[s:]))


async def toggle_mute(rt: Realtime) -> bool:
    """Someone on stage flips their own mute: one public event. Returns the new state."""
    assert rt.room is not None and rt.room["me"] is not None
    muted = not rt.room["me"]["muted"]
    await rt.send("set_muted", muted=muted)
    assert rt.room["me"]["muted"] is muted  # its own event came before the reply
    return muted


async def connected(m: Member, room_id: str | None = None) -> Realtime:
    rt = await m.client.connect()
    if room_id is not None:
        await rt.join(room_id)
    return rt


async def assert_matches_fresh_view(rt: Realtime, m: Member) -> None:
    """The reducer-kept room equals what GET /rooms/{id} says right now, for this member."""
    assert rt.room is not None
    fresh = ok(await m.http.get(f"/rooms/{rt.room['room_id']}"))
    kept, want = fresh_fields(rt.room), fresh_fields(fresh)
    assert kept == want, (m.account.username, {k: (kept[k], want[k]) for k in kept
                                               if kept[k] != want[k]})

"""The official async Python client: HTTP API, realtime WebSocket with resume, and audio.

    async with PodiumClient("http://127.0.0.1:8000", token="pod_...") as client:
        room = await client.create_room("Friday chat")
        rt = await client.connect()
        await rt.join(room["id"])
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import websockets

from podium.client.reducer import apply_event

Event = dict[str, Any]


class PodiumError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class PodiumClient:
    def __init__(self, server: str, token: str | None = None) -> None:
        self.server = server.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # Cookie sessions (after sign_in) need the CSRF header on every state-changing request.
        headers["X-Podium-CSRF"] = "1"
        self.token = token
        self.http = httpx.AsyncClient(base_url=self.server + "/api/v1", headers=headers,
                                      timeout=30.0)

    async def __aenter__(self) -> PodiumClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
                raise PodiumError(response.status_code, body["error"], body["message"])
            except (ValueError, KeyError, TypeError):
                raise PodiumError(response.status_code, "error", response.text) from None
        return response.json()

    async def me(self) -> dict[str, Any]:
        return await self.request("GET", "/auth/me")  # type: ignore[no-any-return]

    async def sign_in(self, username: str, password: str) -> dict[str, Any]:
        return await self.request("POST", "/auth/signin",  # type: ignore[no-any-return]
                                  json={"username": username, "password": password})

    async def create_room(self, title: str, description: str = "",
                          kind: str = "open", record: bool = False) -> dict[str, Any]:
        return await self.request("POST", "/rooms",  # type: ignore[no-any-return]
                                  json={"title": title, "description": description, "kind": kind,
                                        "record": record})

    # Recording, replays and clips (docs/replays.md) -------------------------------------

    async def set_recording(self, room_id: str, on: bool) -> dict[str, Any]:
        return await self.request("POST", f"/rooms/{room_id}/recording",  # type: ignore[no-any-return]
                                  json={"on": on})

    async def room_replay(self, room_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/rooms/{room_id}/replay")  # type: ignore[no-any-return]

    async def replay(self, replay_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/replays/{replay_id}")  # type: ignore[no-any-return]

    async def update_replay(self, replay_id: str, **fields: Any) -> dict[str, Any]:
        """``trim_start_ms``, ``access`` ("members", "followers", "host"), ``title``."""
        return await self.request("PATCH", f"/replays/{replay_id}",  # type: ignore[no-any-return]
                                  json=fields)

    async def delete_replay(self, replay_id: str) -> None:
        await self.request("DELETE", f"/replays/{replay_id}")

    async def user_replays(self, username: str) -> list[dict[str, Any]]:
        return await self.request("GET", f"/users/{username}/replays")  # type: ignore[no-any-return]

    async def user_clips(self, username: str) -> list[dict[str, Any]]:
        return await self.request("GET", f"/users/{username}/clips")  # type: ignore[no-any-return]

    async def replay_audio(self, replay_id: str) -> bytes:
        """The replay as Ogg Opus bytes (from its trimmed start)."""
        return await self._bytes(f"/replays/{replay_id}/audio.ogg")

    async def clip_live(self, room_id: str, title: str | None = None) -> dict[str, Any]:
        """The last 30 seconds of a recorded room you are in."""
        return await self.request("POST", f"/rooms/{room_id}/clips",  # type: ignore[no-any-return]
                                  json={"title": title} if title else {})

    async def clip_replay(self, replay_id: str, start_ms: int, end_ms: int,
                          title: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"start_ms": start_ms, "end_ms": end_ms}
        if title:
            body["title"] = title
        return await self.request("POST", f"/replays/{replay_id}/clips",  # type: ignore[no-any-return]
                                  json=body)

    async def clip(self, clip_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/clips/{clip_id}")  # type: ignore[no-any-return]

    async def clip_audio(self, clip_id: str) -> bytes:
        return await self._bytes(f"/clips/{clip_id}/audio.ogg")

    async def delete_clip(self, clip_id: str) -> None:
        await self.request("DELETE", f"/clips/{clip_id}")

    async def _bytes(self, path: str) -> bytes:
        response = await self.http.get(path)
        if response.status_code >= 400:
            await self.request("GET", path)  # raises PodiumError with the server's message
        return response.content

    async def set_captions(self, room_id: str, on: bool) -> dict[str, Any]:
        """The host: live captions on or off in the room."""
        return await self.request("POST", f"/rooms/{room_id}/captions",  # type: ignore[no-any-return]
                                  json={"on": on})

    async def set_caption_consent(self, on: bool) -> dict[str, Any]:
        """Whether what you say on stage may be captioned (your profile's ``captions``)."""
        return await self.request("PATCH", "/profile",  # type: ignore[no-any-return]
                                  json={"captions": on})

    async def hallway(self) -> list[dict[str, Any]]:
        return (await self.request("GET", "/rooms"))["rooms"]  # type: ignore[no-any-return]

    async def room(self, room_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/rooms/{room_id}")  # type: ignore[no-any-return]

    async def connect(self) -> Realtime:
        """Open the realtime channel (authenticated with the token or session cookie)."""
        rt = Realtime(self)
        await rt.open()
        return rt


class Realtime:
    """One WebSocket, resumable: ``reconnect()`` picks up after the last event seen."""

    def __init__(self, client: PodiumClient) -> None:
        self.client = client
        self.ws: Any = None
        self.session: str | None = None
        self.last_seq = 0
        self.user: dict[str, Any] = {}
        self.room: dict[str, Any] | None = None
        self.events: list[Event] = []  # every numbered frame received, in order
        self.resumed = False
        self.notes = 0  # the newest notification id known: a resume elsewhere replays after it
        self._replies: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self._closing = False
        # Set when a reconnection got a new session (another node, or the old one forgotten):
        # media connected through the old node may be gone too (see podium.cli.bot).
        self.moved = asyncio.Event()

    def _url(self) -> str:
        base = self.client.server.replace("http://", "ws://").replace("https://", "wss://")
        query = []  # the token goes in a header: URLs end up in logs
        if self.session:
            query += [f"resume={self.session}", f"last_seq={self.last_seq}"]
            if self.room is not None:
                # Lets any node of a cluster resume us from the room's history (docs/realtime.md).
                query += [f"room={self.room['room_id']}", f"rev={self.room['rev']}"]
            query.append(f"notes={self.notes}")
        return f"{base}/api/v1/ws?{'&'.join(query)}"

    async def open(self) -> None:
        cookies = "; ".join(f"{k}={v}" for k, v in self.client.http.cookies.items())
        headers = {"Cookie": cookies} if cookies else {}
        if self.client.token:
            headers = {"Authorization": f"Bearer {self.client.token}"}
        self.ws = await websockets.connect(self._url(), additional_headers=headers,
                                           max_size=2**22)
        hello = json.loads(await self.ws.recv())
        if hello.get("type") != "hello":
            raise PodiumError(0, hello.get("error", "bad_hello"), str(hello))
        self.resumed = bool(hello["resumed"])
        if self.session is not None and hello["session"] != self.session:
            self.moved.set()
        self.session = hello["session"]
        self.user = hello["user"]
        self.notes = max(self.notes, int(hello.get("notes", 0)))
        if not self.resumed:
            self.last_seq = hello["seq"]
        self.closed.clear()
        self._reader = asyncio.create_task(self._read())

    async def reconnect(self) -> None:
        """Drop the socket (as a network failure would) and resume."""
        await self.drop()
        await self.open()

    async def drop(self) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._fail_pending(PodiumError(0, "disconnected", "The connection closed."))

    async def close(self) -> None:
        self._closing = True
        await self.drop()

    async def stay_connected(self, give_up_after: float = 60.0) -> None:
        """Reopen the socket whenever it drops (resuming, on any node of the server) until
        ``close()``; raises the last error once reconnecting has failed for ``give_up_after``."""
        pause = iter((0.1, 0.25, 0.5, 1.0, 2.0))
        while not self._closing:
            await self.closed.wait()
            started = time.monotonic()
            while not self._closing:
                try:
                    await self.open()
                    pause = iter((0.1, 0.25, 0.5, 1.0, 2.0))
                    break
                except (OSError, TimeoutError, websockets.WebSocketException, PodiumError):
                    if time.monotonic() - started > give_up_after:
                        raise
                    await asyncio.sleep(next(pause, 2.0))  # back off between attempts

    def _fail_pending(self, error: Exception) -> None:
        for future in self._replies.values():
            if not future.done():
                future.set_exception(error)
        self._replies.clear()

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                await self._on_frame(json.loads(text))
        except websockets.ConnectionClosed:
            pass
        finally:
            self._fail_pending(PodiumError(0, "disconnected", "The connection closed."))
            self.closed.set()
            async with self._changed:
                self._changed.notify_all()

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind in ("reply", "error") and frame.get("id") in self._replies:
            future = self._replies.pop(frame["id"])
            if kind == "reply":
                future.set_result(frame.get("data"))
            else:
                future.set_exception(PodiumError(0, frame["error"], frame["message"]))
            return
        if kind == "ping":
            await self.ws.send('{"type":"pong"}')
            return
        if "seq" in frame:
            if frame["seq"] <= self.last_seq:
                return  # already seen (cannot happen with a correct server; guard anyway)
            self.last_seq = frame["seq"]
            self._track(frame)
            self.events.append(frame)
            async with self._changed:
                self._changed.notify_all()

    def _track(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "notification":
            self.notes = max(self.notes, int(frame["notification"]["id"]))
        elif frame["type"] == "snapshot":
            self.room = frame["room"]
        elif (frame["type"] == "event" and self.room
              and frame["room_id"] == self.room["room_id"] and frame["rev"] > self.room["rev"]):
            apply_event(self.room, frame["event"], self.user["id"])
            self.room["rev"] = frame["rev"]

    async def send(self, kind: str, timeout: float = 20.0, **fields: Any) -> Any:
        """Send a command and wait for its reply; raises PodiumError on an error frame."""
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies[self._next_id] = future
        await self.ws.send(json.dumps({"id": self._next_id, "type": kind, **fields}))
        return await asyncio.wait_for(future, timeout)

    async def join(self, room_id: str) -> dict[str, Any]:
        await self.send("join", room_id=room_id)
        await self.wait_for(lambda: self.room is not None and self.room["room_id"] == room_id)
        assert self.room is not None
        return self.room

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait until ``condition()`` holds, re-checking at each frame received."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("condition not met in time")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_event(self, kind: str, timeout: float = 20.0,
                         match: Callable[[Event], bool] = lambda e: True,
                         after: int = 0) -> Event:
        """The first room event of ``kind`` (after frame index ``after``) matching ``match``."""
        found: list[Event] = []

        def seen() -> bool:
            for frame in self.events[after:]:
                event = frame.get("event")
                if frame["type"] == "event" and event and event["type"] == kind and match(event):
                    found.append(event)
                    return True
            return False

        await self.wait_for(seen, timeout)
        return found[0]

    def my_role(self) -> str | None:
        me = (self.room or {}).get("me")
        return me["role"] if me else None


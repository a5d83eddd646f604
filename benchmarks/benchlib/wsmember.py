"""One member's WebSocket to ``podium serve`` for the control-plane benchmark: numbered
frames checked, room events' arrival times kept by revision, commands with replies."""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import re
import time
from array import array
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

# '{"seq":N,"type":"event","room_id":"R","rev":V,...' (realtime/session.py push_message): read
# without decoding the whole frame; anything else is decoded.
EVENT = re.compile(r'\{"seq":(\d+),"type":"event","room_id":"[^"]*","rev":(\d+)')
SEQ = re.compile(r'\{"seq":(\d+),')
PONG = '{"type":"pong"}'
REPLAY_FRAMES = 5000  # podium.realtime.session.REPLAY_FRAMES


def write_json(path: str, value: Any) -> None:
    with open(path, "w") as fh:
        json.dump(value, fh)


class Recorder:
    """What this process saw: event arrivals by revision, frames a second, errors."""

    def __init__(self) -> None:
        self.arrivals: dict[int, array[float]] = {}
        self.per_second: collections.Counter[int] = collections.Counter()
        self.frames = 0
        self.bytes = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.connect_ms: list[float] = []
        self.join_ms: list[float] = []
        self.late_ms: list[float] = []  # how late a connection started against its schedule
        self.churn: collections.Counter[str] = collections.Counter()

    def arrival(self, rev: int, now: float) -> None:
        got = self.arrivals.get(rev)
        if got is None:
            got = self.arrivals[rev] = array("d")
        got.append(now)

    def write(self, path: str, keep: set[int] | None = None) -> dict[str, Any]:
        """This process's figures to ``path``: the arrivals of the revisions in ``keep`` (the
        events the director caused; all when None)."""
        data = {"arrivals": {rev: [round(t, 5) for t in ts] for rev, ts in self.arrivals.items()
                             if keep is None or rev in keep},
                "per_second": dict(self.per_second), "connect_ms": self.connect_ms,
                "join_ms": self.join_ms, "late_ms": self.late_ms}  # fmt: skip
        write_json(path, data)
        return {"frames": self.frames, "bytes": self.bytes, "errors": dict(self.errors),
                "churn": dict(self.churn)}  # fmt: skip


class CommandFailed(RuntimeError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class Member:
    """One member's WebSocket: numbered frames checked, event arrivals recorded, commands."""

    def __init__(self, ws_url: str, token: str, rec: Recorder, *, compression: str | None,
                 full: bool = False, cookie: str = "") -> None:  # fmt: skip
        self.ws_url, self.token, self.rec, self.compression = ws_url, token, rec, compression
        # a browser's credential: the session cookie (no Origin header: not a cross-site page)
        self.headers = ({"Cookie": f"podium_session={cookie}"} if cookie
                        else {"Authorization": f"Bearer {token}"})
        self.full = full  # decode every event (actors: they wait for the events they cause)
        self.ws: ClientConnection | None = None
        self.session = ""
        self.user_id = 0
        self.seq = 0
        self.kept = 0  # numbered frames of this session (what its replay buffer may hold)
        self.kept_bytes = 0
        self.room: str | None = None
        self.closing = False
        self.ids = itertools.count(1)
        self.replies: dict[int, asyncio.Future[Any]] = {}
        self.waiters: dict[tuple[str, int], asyncio.Future[int]] = {}
        self.reader: asyncio.Task[None] | None = None

    async def connect(self, resume: bool = False) -> dict[str, Any]:
        url = self.ws_url
        if resume:
            url += f"?resume={self.session}&last_seq={self.seq}"
        self.closing = False
        self.ws = await connect(url, additional_headers=self.headers,
                                compression=self.compression, ping_interval=None,
                                max_size=1 << 20, open_timeout=120, close_timeout=2)  # fmt: skip
        hello: dict[str, Any] = json.loads(await self.ws.recv())
        if hello.get("type") != "hello":
            raise RuntimeError(f"first frame was not hello: {str(hello)[:100]}")
        if resume and not hello["resumed"]:
            self.rec.errors["resume refused"] += 1
        if not hello["resumed"]:
            self.seq = int(hello["seq"])
            self.kept = self.kept_bytes = 0
        self.session, self.user_id = hello["session"], hello["user"]["id"]
        self.reader = asyncio.create_task(self._read(self.ws))
        return hello

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for text in ws:
                self._frame(text if isinstance(text, str) else text.decode(), time.monotonic())
        except ConnectionClosed:
            pass
        if not self.closing:
            self.rec.errors[f"socket closed by server {ws.close_code}"] += 1
        for fut in [*self.replies.values(), *self.waiters.values()]:
            if not fut.done():
                fut.set_exception(ConnectionError("socket closed"))

    def _frame(self, text: str, now: float) -> None:
        rec = self.rec
        rec.frames += 1
        rec.bytes += len(text)
        rec.per_second[int(now)] += 1
        m = EVENT.match(text) or SEQ.match(text)
        if m is None:
            self._unnumbered(json.loads(text))
            return
        seq = int(m[1])
        self.kept += 1
        self.kept_bytes += len(text)
        if seq != self.seq + 1:
            rec.errors["sequence gap" if seq > self.seq + 1 else "sequence repeated"] += 1
        self.seq = seq
        if m.re is EVENT:
            rec.arrival(int(m[2]), now)
            if self.full:
                frame = json.loads(text)
                event = frame["event"]
                fut = self.waiters.pop((event["type"], event.get("user_id", 0)), None)
                if fut is not None and not fut.done():
                    fut.set_result(int(frame["rev"]))

    def _unnumbered(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ping" and self.ws is not None:
            asyncio.ensure_future(self._send(PONG))
        elif kind in ("reply", "error"):
            fut = self.replies.pop(frame.get("id") or 0, None)
            if kind == "error" and fut is None:  # a command's failure is its caller's to count
                self.rec.errors[f"error frame {frame.get('error')}"] += 1
            if fut is not None and not fut.done():
                if kind == "reply":
                    fut.set_result(frame.get("data"))
                else:
                    fut.set_exception(CommandFailed(frame["error"], frame.get("message", "")))

    async def _send(self, text: str) -> None:
        try:
            assert self.ws is not None
            await self.ws.send(text)
        except ConnectionClosed:
            pass

    async def command(self, kind: str, **fields: Any) -> Any:
        """Send a command and wait for its reply (``CommandFailed`` for an error frame)."""
        request_id = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.replies[request_id] = fut
        assert self.ws is not None
        await self.ws.send(json.dumps({"id": request_id, "type": kind, **fields}))
        return await asyncio.wait_for(fut, 60)

    def expect(self, kind: str, user_id: int) -> asyncio.Future[int]:
        """The revision of the next ``kind`` event about ``user_id`` this socket receives."""
        fut = asyncio.get_running_loop().create_future()
        self.waiters[(kind, user_id)] = fut
        return fut

    async def join(self, room: str) -> None:
        started = time.monotonic()
        await self.command("join", room_id=room)
        self.rec.join_ms.append(round((time.monotonic() - started) * 1000, 2))
        self.room = room

    async def close(self, abort: bool = False) -> None:
        self.closing = True
        if self.ws is None:
            return
        if abort:  # the connection just goes (a phone losing signal): no close handshake
            self.ws.transport.abort()
        else:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.wait([self.reader], timeout=10)


def replay_estimate_mb(members: list[Member]) -> float:
    """What the server's replay buffers of these members' sessions hold, estimated from what
    they received: the last REPLAY_FRAMES numbered frames of each session, as Python strings
    in a deque of (seq, text) tuples (~140 bytes each besides the text)."""
    total = 0.0
    for m in members:
        if m.kept:
            share = min(1.0, REPLAY_FRAMES / m.kept)
            total += share * (m.kept_bytes + 140 * m.kept)
    return round(total / 2**20, 1)

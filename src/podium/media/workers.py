"""``WorkerPool``: peer hosts in worker processes, so the listener fan-out uses every core.

Each worker (``python -m podium.media.worker``) runs one ``PeerHost`` and talks to this
process over a Unix socket pair: pickled, length-prefixed tuples. Per room and tick there
is **one** ``frame`` message per worker that has peers in the room (the shared mix plus
the mix-minus of that worker's heard speakers); workers send back the uplink of heard users
(raw Opus RTP payloads: the mixer decodes them), peer-gone events and replies to control
requests.

A worker that dies takes its peers with it: they are reported gone (so clients reconnect)
and the worker is respawned; new connections go to the live workers meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import socket
import struct
import sys
from pathlib import Path
from typing import Any, Protocol

import podium
from podium.media.engine import MediaEngineError
from podium.media.host import GoneSink, RoomFrame, RtpSink

log = logging.getLogger(__name__)

LENGTH = struct.Struct("!I")
READY_TIMEOUT = 60.0
MAX_BACKLOG = 4 * 1024 * 1024  # a stalled peer's media messages are dropped beyond this
_SRC_DIR = str(Path(podium.__file__).resolve().parent.parent)  # workers import podium from here


class PeerPool(Protocol):
    """What the engine needs from wherever the peers live (``PeerHost`` or ``WorkerPool``)."""

    async def connect(
        self, room_id: str, user_id: int, peer_id: int, sdp: str, heard: frozenset[int]
    ) -> str: ...

    async def disconnect(self, room_id: str, user_id: int) -> None: ...

    def set_heard(self, room_id: str, heard: frozenset[int], shared_samples: int) -> None: ...

    def deliver(self, room_id: str, frame: RoomFrame) -> None: ...

    async def close_room(self, room_id: str) -> None: ...

    async def close(self) -> None: ...

    def counts(self) -> tuple[int, int, int]: ...


def encode(message: tuple[Any, ...]) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return LENGTH.pack(len(body)) + body


async def read_message(reader: asyncio.StreamReader) -> tuple[Any, ...]:
    (size,) = LENGTH.unpack(await reader.readexactly(LENGTH.size))
    message: tuple[Any, ...] = pickle.loads(await reader.readexactly(size))
    return message


class _Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: asyncio.subprocess.Process | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.ready = asyncio.get_running_loop().create_future()
        self.peers: dict[tuple[str, int], int] = {}  # (room, user) -> peer_id
        self.rooms: dict[str, int] = {}  # room -> number of its peers here
        self.replies: dict[int, asyncio.Future[Any]] = {}
        self.alive = False

    def send(self, message: tuple[Any, ...], media: bool = False) -> None:
        writer = self.writer
        if writer is None or not self.alive or writer.is_closing():
            if media:
                return
            raise MediaEngineError("media worker unavailable")
        if media and writer.transport.get_write_buffer_size() > MAX_BACKLOG:
            return  # the worker is not keeping up: old audio is worthless, drop it
        writer.write(encode(message))

    def in_room(self, room_id: str) -> bool:
        return room_id in self.rooms

    def add(self, room_id: str, user_id: int, peer_id: int) -> None:
        if (room_id, user_id) not in self.peers:
            self.rooms[room_id] = self.rooms.get(room_id, 0) + 1
        self.peers[(room_id, user_id)] = peer_id

    def remove(self, room_id: str, user_id: int) -> None:
        if self.peers.pop((room_id, user_id), None) is not None:
            self.rooms[room_id] -= 1
            if not self.rooms[room_id]:
                del self.rooms[room_id]


class WorkerPool:
    def __init__(
        self,
        count: int,
        hosts: tuple[str, ...],
        ice_servers: tuple[list[str], list[str], str, str],
        on_rtp: RtpSink,
        on_gone: GoneSink,
        loss_floor: int = 0,
        remote_networks: tuple[str, ...] = (),
    ) -> None:
        self._count = count
        self._config = json.dumps(
            {
                "hosts": list(hosts),
                "ice_servers": list(ice_servers),
                "loss_floor": loss_floor,
                "remote_networks": list(remote_networks),
            }
        )
        self._on_rtp = on_rtp
        self._on_gone = on_gone
        self._workers: list[_Worker] = []
        self._where: dict[tuple[str, int], _Worker] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_request = 0
        self._closing = False
        self.respawns = 0

    async def start(self) -> None:
        self._workers = [await self._spawn(i) for i in range(self._count)]
        async with asyncio.timeout(READY_TIMEOUT):
            await asyncio.gather(*(w.ready for w in self._workers))

    async def close(self) -> None:
        self._closing = True
        for worker in self._workers:
            if worker.writer is not None:
                worker.writer.close()  # EOF: the worker closes its peers and exits
        for worker in self._workers:
            if worker.proc is not None:
                try:
                    async with asyncio.timeout(5.0):
                        await worker.proc.wait()
                except TimeoutError:
                    worker.proc.kill()
                    await worker.proc.wait()
        tasks = list(self._tasks)
        await asyncio.gather(*tasks, return_exceptions=True)
        self._where.clear()

    # -- PeerPool ----------------------------------------------------------------------------

    async def connect(
        self, room_id: str, user_id: int, peer_id: int, sdp: str, heard: frozenset[int]
    ) -> str:
        live = [w for w in self._workers if w.alive]
        if not live:
            raise MediaEngineError("no media worker is running")
        worker = min(live, key=lambda w: len(w.peers))
        worker.add(room_id, user_id, peer_id)
        self._where[(room_id, user_id)] = worker
        answer = await self._request(worker, "connect", room_id, user_id, peer_id, sdp, heard)
        return str(answer)

    async def disconnect(self, room_id: str, user_id: int) -> None:
        worker = self._where.pop((room_id, user_id), None)
        if worker is None:
            return
        worker.remove(room_id, user_id)
        if worker.alive:
            await self._request(worker, "disconnect", room_id, user_id)

    def set_heard(self, room_id: str, heard: frozenset[int], shared_samples: int) -> None:
        for worker in self._workers:
            if worker.alive and worker.in_room(room_id):
                worker.send(("heard", room_id, heard, shared_samples))

    def deliver(self, room_id: str, frame: RoomFrame) -> None:
        for worker in self._workers:
            if not worker.in_room(room_id):
                continue
            minus = {u: p for u, p in frame.minus.items() if (room_id, u) in worker.peers}
            message = ("frame", room_id, frame.pos, minus, frame.shared, frame.shared_pos)
            worker.send(message, media=True)

    async def close_room(self, room_id: str) -> None:
        users = [uid for (room, uid) in self._where if room == room_id]
        await asyncio.gather(*(self.disconnect(room_id, uid) for uid in users))

    def counts(self) -> tuple[int, int, int]:
        rooms = {room for room, _ in self._where}
        return len(rooms), len(self._where), 0  # worker tasks are counted by the workers

    # -- introspection (tests, benchmarks) ---------------------------------------------------

    async def worker_counts(self) -> list[tuple[int, int, int]]:
        """(rooms, peers, tasks) as each live worker's own ``PeerHost`` sees them."""
        live = [w for w in self._workers if w.alive]
        counts = await asyncio.gather(*(self._request(w, "counts") for w in live))
        return [tuple(c) for c in counts]

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers if w.proc is not None and w.alive]

    # -- processes ---------------------------------------------------------------------------

    async def _spawn(self, index: int) -> _Worker:
        worker = _Worker(index)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        src = _SRC_DIR
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        worker.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "podium.media.worker", str(theirs.fileno()), self._config,
            pass_fds=(theirs.fileno(),), env=env,
            # Its own session: a Ctrl+C in the terminal reaches only the server, which stops
            # the workers itself (they also exit when the socket closes, should it die).
            start_new_session=True,
        )  # fmt: skip
        theirs.close()
        reader, worker.writer = await asyncio.open_unix_connection(sock=ours)
        worker.alive = True
        task = asyncio.create_task(self._read(worker, reader), name=f"podium-worker-{index}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return worker

    async def _read(self, worker: _Worker, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                self._dispatch(worker, await read_message(reader))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            await self._lost(worker)

    def _dispatch(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "rtp":
            _, room_id, user_id, timestamp, payload = message
            self._on_rtp(room_id, user_id, timestamp, payload)
        elif kind == "gone":
            _, room_id, user_id, peer_id = message
            if worker.peers.get((room_id, user_id)) == peer_id:
                worker.remove(room_id, user_id)
                self._where.pop((room_id, user_id), None)
            self._on_gone(room_id, user_id, peer_id)
        elif kind == "reply":
            _, request, ok, value = message
            future = worker.replies.pop(request, None)
            if future is not None and not future.done():
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(MediaEngineError(value))
        elif kind == "ready" and not worker.ready.done():
            worker.ready.set_result(None)

    async def _request(self, worker: _Worker, op: str, *args: Any) -> Any:
        self._next_request += 1
        request = self._next_request
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        worker.replies[request] = future
        worker.send((op, request, *args))
        return await future

    async def _lost(self, worker: _Worker) -> None:
        """The worker's socket closed: it exited or died. Report its peers, then respawn."""
        worker.alive = False
        if worker.writer is not None:
            worker.writer.close()
        for future in worker.replies.values():
            if not future.done():
                future.set_exception(MediaEngineError("the media worker stopped"))
        worker.replies.clear()
        if worker.proc is not None:
            await worker.proc.wait()
        if self._closing:
            return
        code = worker.proc.returncode if worker.proc else None
        log.error("media worker %d exited (code %s); respawning", worker.index, code)
        lost = list(worker.peers.items())
        worker.peers.clear()
        worker.rooms.clear()
        for (room_id, user_id), peer_id in lost:
            if self._where.get((room_id, user_id)) is worker:
                del self._where[(room_id, user_id)]
            self._on_gone(room_id, user_id, peer_id)
        self.respawns += 1
        replacement = await self._spawn(worker.index)
        self._workers[worker.index] = replacement

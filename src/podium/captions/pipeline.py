"""``Captioner``: from speakers' decoded audio to captions, without ever blocking the audio.

The media engine calls a room's sink with each opted-in speaker's 20 ms frames from its
mixer tick. The sink cuts speech chunks (``segmenter``) and offers each to the recognisers'
bounded queue with a non-blocking put: when the queue is full the chunk is dropped and
counted. Recognisers run in their own niced processes (``worker``); a thread here waits for
their results and hands each caption to ``on_caption`` on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from podium.captions import worker
from podium.captions.segmenter import Pcm, Segmenter

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
CaptionSink = Callable[[int, Pcm, int], None]
"""(user_id, 20 ms of 48 kHz int16 audio, position on the room's clock in samples)."""


@dataclass(frozen=True, slots=True)
class Caption:
    room_id: str
    user_id: int
    text: str
    start_ms: int  # since the room's origin (``Captioner.open_room``)
    end_ms: int
    final: bool = True
    recognised_in: float = 0.0  # seconds of recogniser CPU (wall) for the chunk
    waited: float = 0.0  # seconds from the chunk's cut to its caption


@dataclass
class CaptionStats:
    chunks: int = 0  # offered to the recognisers
    dropped: int = 0  # refused by a full queue
    processed: int = 0  # chunks the recognisers finished (with or without text)
    captions: int = 0
    audio_seconds: float = 0.0  # speech recognised
    busy_seconds: float = 0.0  # recogniser wall time spent on it (waits for CPU included)
    cpu_seconds: float = 0.0  # recogniser CPU time spent on it
    respawns: int = 0


@dataclass(eq=False)
class _Room:
    origin: float  # wall-clock time of the room's 0 ms
    max_ms: int
    segmenters: dict[int, Segmenter] = field(default_factory=dict)


class Captioner:
    def __init__(self, on_caption: Callable[[Caption], None], *, workers: int = 1,
                 queue_chunks: int = 8, max_chunk_seconds: float = 4.0,
                 engine: str = "auto") -> None:
        self._on_caption = on_caption
        self._count = workers
        self._engine = engine
        self._max_ms = int(max_chunk_seconds * 1000)
        self._ctx = multiprocessing.get_context("spawn")
        self._inbox: Any = self._ctx.Queue(maxsize=queue_chunks)
        self._outbox: Any = self._ctx.Queue()
        self._procs: list[Any] = []
        self._rooms: dict[str, _Room] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: threading.Thread | None = None
        self._closing = False
        self._ready: asyncio.Future[str] | None = None
        self.engine_name: str | None = None
        self.stats = CaptionStats()
        self._changed: asyncio.Condition | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ready = self._loop.create_future()
        self._changed = asyncio.Condition()
        self._procs = [self._spawn() for _ in range(self._count)]
        self._reader = threading.Thread(target=self._read, name="podium-captions", daemon=True)
        self._reader.start()

    async def ready(self, timeout: float = 120.0) -> str:
        """The recogniser's name once one has loaded (raises if none could)."""
        assert self._ready is not None, "start() first"
        async with asyncio.timeout(timeout):
            return await asyncio.shield(self._ready)

    def idle(self) -> bool:
        """Every chunk cut so far was recognised (or dropped) and nobody's speech is pending."""
        s = self.stats
        pending = any(seg.speech_ms for r in self._rooms.values() for seg in r.segmenters.values())
        return not pending and s.processed + s.dropped == s.chunks

    async def wait(self, condition: Callable[[], bool], timeout: float = 60.0) -> None:
        """Until ``condition()`` holds, checked whenever a recogniser reports (tests, benches)."""
        assert self._changed is not None, "start() first"
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(condition)

    async def close(self) -> None:
        self._closing = True
        for _ in self._procs:
            try:
                self._inbox.put_nowait(None)
            except queue.Full:
                break
        await asyncio.to_thread(self._stop_processes)
        if self._reader is not None:
            await asyncio.to_thread(self._reader.join, 5.0)
        self._inbox.cancel_join_thread()  # unsent chunks are worthless: never wait on them
        self._inbox.close()
        self._outbox.close()
        self._rooms.clear()

    def _stop_processes(self) -> None:
        for proc in self._procs:
            proc.join(3.0)
            if proc.is_alive():
                proc.kill()
                proc.join(3.0)

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.is_alive()]

    # -- rooms -------------------------------------------------------------------------------

    def open_room(self, room_id: str, origin: float) -> CaptionSink:
        """Start captioning a room whose captions count time from ``origin`` (``time.time()``);
        returns the sink to give the media engine."""
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = _Room(origin, self._max_ms)

        def sink(user_id: int, pcm: Pcm, pos: int) -> None:
            self._push(room, room_id, user_id, pcm)

        return sink

    def close_room(self, room_id: str) -> None:
        room = self._rooms.pop(room_id, None)
        if room is not None:
            for seg in room.segmenters.values():
                self._offer(room_id, seg.flush())

    def forget_speaker(self, room_id: str, user_id: int) -> None:
        """A speaker stopped being captioned: send what they said so far, keep nothing."""
        room = self._rooms.get(room_id)
        seg = room.segmenters.pop(user_id, None) if room else None
        if seg is not None:
            self._offer(room_id, seg.flush())

    def _push(self, room: _Room, room_id: str, user_id: int, pcm: Pcm) -> None:
        seg = room.segmenters.get(user_id)
        if seg is None:
            seg = room.segmenters[user_id] = Segmenter(user_id, room.max_ms)
        now_ms = int((time.time() - room.origin) * 1000)
        self._offer(room_id, seg.push(pcm, now_ms))

    def _offer(self, room_id: str, chunk: Any) -> None:
        if chunk is None or self._closing:
            return
        self.stats.chunks += 1
        try:
            self._inbox.put_nowait((room_id, chunk, time.monotonic()))
        except queue.Full:
            self.stats.dropped += 1  # the recognisers are behind: this speech goes uncaptioned

    # -- recogniser processes ----------------------------------------------------------------

    def _spawn(self) -> Any:
        proc = self._ctx.Process(target=worker.run, args=(self._inbox, self._outbox, self._engine),
                                 name="podium-captions-worker", daemon=True)
        proc.start()
        return proc

    def _read(self) -> None:
        """Thread: wait for the recognisers' messages; respawn one that died."""
        while not self._closing:
            try:
                message = self._outbox.get(timeout=POLL_SECONDS)
            except queue.Empty:
                self._check_processes()
                continue
            except (EOFError, OSError, ValueError):
                return
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self._handle, message)

    def _check_processes(self) -> None:
        for i, proc in enumerate(self._procs):
            if not proc.is_alive() and not self._closing and self.engine_name is not None:
                log.error("caption recogniser exited (code %s); respawning", proc.exitcode)
                self.stats.respawns += 1
                self._procs[i] = self._spawn()

    def _handle(self, message: tuple[Any, ...]) -> None:
        try:
            self._dispatch(message)
        finally:
            if self._changed is not None:
                asyncio.ensure_future(self._notify())

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def _dispatch(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            self.engine_name = str(message[1])
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(self.engine_name)
            log.info("captions: recogniser %s ready", self.engine_name)
        elif kind == "failed":
            log.error("captions: no recogniser could load: %s", message[1])
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(RuntimeError(str(message[1])))
        elif kind == "error":
            self.stats.processed += 1
            log.warning("captions: a chunk failed: %s", message[1])
        elif kind == "caption":
            _, room_id, user_id, start_ms, end_ms, text, spent, queued_at, cpu = message
            self.stats.processed += 1
            self.stats.cpu_seconds += cpu
            self.stats.audio_seconds += (end_ms - start_ms) / 1000
            self.stats.busy_seconds += spent
            if not text or room_id not in self._rooms:
                return
            self.stats.captions += 1
            caption = Caption(room_id, user_id, text, start_ms, end_ms, True, spent,
                              time.monotonic() - queued_at)
            try:
                self._on_caption(caption)
            except Exception:  # noqa: BLE001 - a consumer's bug must not stop the reader
                log.exception("caption consumer failed")

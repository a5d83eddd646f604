"""A recogniser process: takes speech chunks from the inbox, puts captions in the outbox.

Started by ``pipeline.Captioner`` (multiprocessing, spawn). It lowers its own priority first
(nice 19, and ``SCHED_IDLE`` where Linux allows): it gets only CPU time nothing else wants,
so when the machine is busy captions lag (or chunks are dropped upstream), audio does not.
"""

from __future__ import annotations

import contextlib
import os
import queue
import time
from typing import Any

from podium.captions.segmenter import Chunk

PARENT_CHECK_SECONDS = 1.0


def lower_priority(idle: bool) -> None:
    """nice 19; with ``idle``, ``SCHED_IDLE`` too (Linux; elsewhere nice 19 alone)."""
    with contextlib.suppress(OSError):
        os.nice(19 - os.nice(0))
    if idle:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def run(inbox: Any, outbox: Any, engine: str) -> None:
    """Process entry point. ``None`` in the inbox stops it; so does the server's death (a
    ``kill -9`` of the server must leave no recogniser behind)."""
    parent = os.getppid()
    lower_priority(idle=False)  # loading (once, ~0.5 s of CPU) at nice 19: a busy machine
    from podium.captions.recognizer import load  # would starve SCHED_IDLE for minutes

    try:
        recognizer = load(engine)
    except Exception as exc:  # noqa: BLE001 - reported to the server, which logs it
        outbox.put(("failed", f"{type(exc).__name__}: {exc}"))
        return
    lower_priority(idle=True)
    outbox.put(("ready", recognizer.name))
    while True:
        try:
            item = inbox.get(timeout=PARENT_CHECK_SECONDS)
        except queue.Empty:
            if os.getppid() != parent:
                return
            continue
        if item is None:
            return
        room_id, chunk, queued_at = item
        assert isinstance(chunk, Chunk)
        started, cpu = time.perf_counter(), time.process_time()
        try:
            text = recognizer.transcribe(chunk.pcm)
        except Exception as exc:  # noqa: BLE001 - one bad chunk must not stop captions
            outbox.put(("error", f"{type(exc).__name__}: {exc}"))
            continue
        spent = time.perf_counter() - started
        outbox.put(("caption", room_id, chunk.user_id, chunk.start_ms,
                    chunk.start_ms + chunk.duration_ms, text, spent, queued_at,
                    time.process_time() - cpu))

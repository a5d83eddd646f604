"""Garbage collection that keeps clear of the audio clock.

CPython's cyclic collector stops the process while it runs, and a full (oldest generation)
collection takes time in proportion to every object the process holds. Measured through the
real server (benchmarks/storm.py): during a storm of joins, media workers holding 500 peers
(~400 objects each) ran full collections of 200-450 ms, the main process (~150,000 objects
from its imports alone) 60-85 ms, and every listener heard a gap as long.

So in the server and its media workers:

* everything alive at start-up (modules, classes, settings) is **frozen** (``gc.freeze``):
  never scanned again;
* the collector never starts a full collection by itself; young collections (cheap: only
  objects made since the last one) run as usual;
* ``Collector.tick()``, called right after the audio clock's work for a tick (a packet time
  before the next), runs a full collection of what is not frozen and freezes what survives,
  so each one scans only what was made since the one before: every ``MINOR_SECONDS``, and
  sooner while much is being made (a storm of joins), after ``MINOR_AFTER_YOUNG`` collections
  of the middle generation (each moves at most ~7,000 objects to the oldest), so that none
  has more than a few milliseconds of work;
* objects frozen while alive that later become cyclic garbage (a closed peer leaves ~300)
  wait for a **major** collection: unfreeze, collect, freeze again. It is as slow as before,
  so it runs rarely (hourly, or sooner after ``note_released`` counted
  ``MAJOR_AFTER_RELEASED`` closed peers), also right after a tick: a pause in proportion to
  what the process holds (~40 ms of CPU for a worker holding 500 peers).

A process without an audio clock calls ``tick`` from ``run`` once a second instead.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

MINOR_SECONDS = 5.0
MINOR_AFTER_YOUNG = 2
MAJOR_SECONDS = 3600.0
MAJOR_AFTER_RELEASED = 200  # e.g. peers closed since the last major collection
SLOW_MS = 50.0  # collections slower than this are logged (they may have been heard)
_NEVER = 1_000_000_000  # a threshold no count reaches: no automatic full collection


class Collector:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._now = clock
        self._started = False
        self._next_minor = 0.0
        self._next_major = 0.0
        self.released = 0
        self.minor = self.major = 0  # collections run (tests, /metrics)

    def start(self) -> None:
        """Freeze what exists now and take the oldest generation off automatic collection."""
        if self._started:
            return
        self._started = True
        gc.collect()
        gc.freeze()
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, _NEVER)
        now = self._now()
        self._next_minor = now + MINOR_SECONDS
        self._next_major = now + MAJOR_SECONDS

    def note_released(self, count: int = 1) -> None:
        """Something long-lived (a peer) was let go: its cycles wait for a major collection."""
        self.released += count

    def tick(self) -> None:
        """Call right after time-critical work: runs a collection if one is due."""
        if not self._started:
            return
        now = self._now()
        if now >= self._next_major or self.released >= MAJOR_AFTER_RELEASED:
            self._collect(major=True)
            self._next_major = now + MAJOR_SECONDS
            self._next_minor = now + MINOR_SECONDS
            self.released = 0
        elif now >= self._next_minor or gc.get_count()[2] >= MINOR_AFTER_YOUNG:
            self._collect(major=False)
            self._next_minor = now + MINOR_SECONDS

    async def run(self, every: float = 1.0) -> None:
        """For processes whose audio clock may be idle: tick on a timer as well."""
        while True:
            await asyncio.sleep(every)
            self.tick()

    def _collect(self, major: bool) -> None:
        started = time.perf_counter()
        if major:
            gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        if major:
            self.major += 1
        else:
            self.minor += 1
        took = (time.perf_counter() - started) * 1000
        if took > SLOW_MS:
            log.info("%s garbage collection took %.0f ms (%d found)",
                     "major" if major else "minor", took, found)


collector = Collector()  # one per process

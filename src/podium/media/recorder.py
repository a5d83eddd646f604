"""``OggRecorder``: a room's recording, written by its own thread off the audio clock.

The engine's mixer hands it each listeners' packet as it goes out (``put``: a non-blocking
put on a bounded queue; if the writer ever falls that far behind, packets are dropped and
counted, never waited for). The thread frames them into Ogg pages of about a second and
``fsync``s each page, so a ``kill -9`` of the server loses at most the last second or two.

Time: the recording's clock is samples of audio written. A packet's place comes from the
engine's room clock (``pos``); where that clock starts again (the engine re-made the room after
everyone's audio left) the place is taken from the wall clock, and what was missed is filled
with silence. A pause (recording turned off and on) is not recorded: the clock stops with it.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from podium.media import ogg

log = logging.getLogger(__name__)

QUEUE_PACKETS = 3000  # a minute of 20 ms packets
PAGE_SECONDS = 1.0
# No packet for this long: the engine stopped sending (nobody's audio connected); the next
# packet is placed by the wall clock.
STALL_SECONDS = 0.5
RATE = ogg.SAMPLE_RATE

ErrorCallback = Callable[[str], None]
"""Called (from the writer thread) with a reason ("disk_full", "too_large", "io_error") when
the recording stopped by itself."""


class OggRecorder:
    def __init__(self, path: Path, serial: int, max_bytes: int, on_error: ErrorCallback,
                 title: str = "") -> None:
        self.path = path
        self._serial = serial
        self._max_bytes = max_bytes
        self._on_error = on_error
        self._queue: queue.Queue[tuple[int, bytes, float] | str] = queue.Queue(QUEUE_PACKETS)
        self.dropped = 0
        self.failed: str | None = None
        # Owned by the writer thread once started ------------------------------------------
        self._file = open(path, "ab")  # noqa: SIM115 - closed by the thread
        self._size = self._file.tell()
        self._seq = 2
        self._granule = 0  # samples written
        self._batch: list[bytes] = []
        self._segments = 0
        self._page_start = 0
        self._offset: int | None = None  # recording position minus engine position
        self._last_pos = -1
        self._last_at = 0.0  # when the last packet was handed over
        # The wall clock's share (both threads read it; set by the caller's thread)
        self._base = 0  # recorded samples when the current session started
        self._since: float | None = None  # monotonic start of the current session
        self._flushed = threading.Condition()
        self._flush_count = 0
        if self._size == 0:
            self._write(ogg.header_pages(serial, title))
        else:  # resuming a file (a pause): carry on after its last page
            data = path.read_bytes()
            for pg in ogg.pages(data):
                self._seq, self._granule = pg.seq + 1, pg.granule
        self._page_start = self._granule
        self._thread = threading.Thread(target=self._run, name=f"podium-rec-{serial}",
                                        daemon=True)
        self._thread.start()

    # -- called on the event loop ---------------------------------------------------------------

    def resume(self) -> None:
        """Sessions start here: the wall clock runs from now."""
        self._base = self.position_samples()
        self._since = time.monotonic()
        self._queue_put("epoch")

    def pause(self) -> None:
        self._base = self.position_samples()
        self._since = None

    def position_samples(self) -> int:
        """Where the recording is now (while paused: where it stopped): the wall clock's
        place, or further if the engine's packets got ahead of it (the writer's count)."""
        if self._since is None:
            return max(self._base, self._granule)
        return max(self._base + int((time.monotonic() - self._since) * RATE), self._granule)

    def put(self, pos: int, packet: bytes) -> None:
        """One listeners' packet at ``pos`` on the engine's room clock (``b""``: lost)."""
        if self._since is not None:
            self._queue_put((pos, packet, time.monotonic()))

    def _queue_put(self, item: tuple[int, bytes, float] | str) -> None:
        if self.failed is not None:
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout: float = 5.0) -> bool:
        """Write out what is queued, and the current page (blocking: call from a thread)."""
        with self._flushed:
            target = self._flush_count + 1
            self._queue_put("flush")
            return self._flushed.wait_for(lambda: self._flush_count >= target
                                          or self.failed is not None, timeout)

    def close(self) -> None:
        """Write out everything and end the stream (blocking: call from a thread)."""
        self._queue_put("close")
        self._thread.join(timeout=30)

    # -- the writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        last_flush = time.monotonic()
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.25)
                except queue.Empty:
                    item = None
                if item == "close":
                    self._fill_to_wall(time.monotonic())
                    self._flush_page(eos=True)
                    return
                if item == "epoch":
                    self._offset = None
                elif item == "flush":
                    self._fill_to_wall(time.monotonic())
                    self._flush_page()
                    last_flush = time.monotonic()
                    with self._flushed:
                        self._flush_count += 1
                        self._flushed.notify_all()
                elif isinstance(item, tuple):
                    self._add(*item)
                if time.monotonic() - last_flush >= PAGE_SECONDS and self._batch:
                    self._flush_page()
                    last_flush = time.monotonic()
        except OSError as exc:
            self._fail("disk_full" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
                       else "io_error", exc)
        except _TooLarge:
            self._fail("too_large", None)
        finally:
            self._file.close()

    def _fail(self, reason: str, exc: OSError | None) -> None:
        log.warning("recording %s stopped: %s (%s)", self.path.name, reason, exc)
        self.failed = reason
        try:  # a half-written page is dropped: truncating needs no free space
            os.truncate(self.path, self._size)
        except OSError:
            log.debug("could not truncate %s", self.path, exc_info=True)
        with self._flushed:
            self._flushed.notify_all()
        self._on_error(reason)

    def _wall_samples(self, at: float) -> int:
        since = self._since
        if since is None:
            return self._base
        return self._base + int((at - since) * RATE)

    def _fill_to_wall(self, at: float) -> None:
        """Silence for time the engine sent nothing (no audio connected): the recording keeps
        the room's time. Only between epochs; within one the engine's clock rules."""
        if self._offset is None or at - self._last_at > STALL_SECONDS:
            self._offset = None
            self._fill(self._wall_samples(at) - ogg.SILENCE_SAMPLES)

    def _add(self, pos: int, packet: bytes, at: float) -> None:
        if self._offset is None or pos <= self._last_pos or at - self._last_at > STALL_SECONDS:
            # A new epoch: the engine's clock (re)started. Place it by the wall clock.
            wall = self._wall_samples(at)
            start = max(self._granule, wall - wall % ogg.SILENCE_SAMPLES)
            self._offset = start - pos
        self._last_pos, self._last_at = pos, at
        place = pos + self._offset
        if place < self._granule:
            self.dropped += 1  # overlaps what is written (cannot happen within an epoch)
            return
        self._fill(place)
        self._append(packet or ogg.SILENCE)

    def _fill(self, until: int) -> None:
        while self._granule + ogg.SILENCE_SAMPLES <= until:
            self._append(ogg.SILENCE)

    def _append(self, packet: bytes) -> None:
        size = ogg.lacing_size(packet)
        if self._batch and (self._segments + size > ogg.MAX_SEGMENTS
                            or self._granule - self._page_start >= RATE * PAGE_SECONDS):
            self._flush_page()
        self._batch.append(packet)
        self._segments += size
        self._granule += ogg.packet_samples(packet) or ogg.SILENCE_SAMPLES

    def _flush_page(self, eos: bool = False) -> None:
        if not self._batch and not eos:
            return
        data = ogg.page(self._batch, self._granule, self._serial, self._seq,
                        ogg.FLAG_EOS if eos else 0)
        self._seq += 1
        self._batch, self._segments, self._page_start = [], 0, self._granule
        self._write(data)

    def _write(self, data: bytes) -> None:
        if self._size + len(data) > self._max_bytes:
            raise _TooLarge
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._size += len(data)


class _TooLarge(Exception):
    pass

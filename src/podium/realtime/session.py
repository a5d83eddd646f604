"""One client's event stream: sequence numbers, a replay buffer for resume, a send queue."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from podium.bus import Message
from podium.services.credentials import Credential

REPLAY_FRAMES = 5000  # frames kept for a client that reconnects
SEND_QUEUE = 2000  # a client further behind than this is disconnected and must resume


class ClientSession:
    """Outlives its WebSocket for the resume window, buffering what it would have sent."""

    def __init__(self, user_id: int) -> None:
        self.id = secrets.token_urlsafe(18)
        self.user_id = user_id
        self.seq = 0
        self.replay: deque[tuple[int, str]] = deque(maxlen=REPLAY_FRAMES)
        self.queue: asyncio.Queue[str] | None = None
        self.room_id: str | None = None
        self.credential: Credential | None = None  # what the socket opened with
        self.detached_at: float | None = None
        self.unsubscribers: dict[str, Callable[[], None]] = {}
        # Notifications replayed from the database on a resume on another node: their live
        # copy, if it comes after, is not sent again.
        self.replayed_notes: set[object] = set()

    # Sending -----------------------------------------------------------------

    def push(self, frame: dict[str, Any]) -> None:
        """Number a frame, keep it for replay, and queue it if connected."""
        self.seq += 1
        body = json.dumps(frame, separators=(",", ":"))
        self._queue_text(self.seq, '{"seq":%d,%s' % (self.seq, body[1:]))

    def push_message(self, message: Message) -> None:
        """A bus message, serialised once however many sessions receive it."""
        body = message.get("_body")
        if body is None:
            body = json.dumps({"type": "event", **{k: v for k, v in message.items() if k != "to"}},
                              separators=(",", ":"))
            message["_body"] = body
        self.seq += 1
        self._queue_text(self.seq, '{"seq":%d,%s' % (self.seq, body[1:]))

    def _queue_text(self, seq: int, text: str) -> None:
        self.replay.append((seq, text))
        if self.queue is not None:
            if self.queue.qsize() >= SEND_QUEUE:
                self.queue.put_nowait("")  # the sender reads an empty frame as "too slow: close"
                self.queue = None
            else:
                self.queue.put_nowait(text)

    def send_unsequenced(self, frame: dict[str, Any]) -> None:
        """Replies, errors and pings: not events, so not numbered or replayed."""
        if self.queue is not None:
            self.queue.put_nowait(json.dumps(frame, separators=(",", ":")))

    # Resuming ----------------------------------------------------------------

    def can_resume_from(self, last_seq: int) -> bool:
        if last_seq > self.seq or last_seq < 0:
            return False
        if last_seq == self.seq:
            return True
        return bool(self.replay) and self.replay[0][0] <= last_seq + 1

    def frames_after(self, last_seq: int) -> list[str]:
        return [text for seq, text in self.replay if seq > last_seq]

    def attach(self) -> asyncio.Queue[str]:
        self.queue = asyncio.Queue()
        self.detached_at = None
        return self.queue

    def detach(self) -> None:
        self.queue = None
        self.detached_at = time.monotonic()

    def unsubscribe(self, key: str) -> None:
        stop = self.unsubscribers.pop(key, None)
        if stop:
            stop()

    def unsubscribe_all(self) -> None:
        for key in list(self.unsubscribers):
            self.unsubscribe(key)


class TokenBucket:
    """Allows ``rate`` messages a second with bursts of ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

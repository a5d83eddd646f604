"""An ``EventBus`` over Redis pub/sub, so several nodes deliver the same topics in the same order.

Experimental (``PODIUM_EVENT_BUS=redis``): a room's authoritative state still lives in one node's
memory, so this bus only fans events out; several nodes *owning* a room is future work (#7).

Why pub/sub and not Streams: Redis delivers the messages of one channel to every subscriber in
the order the server received them, which is the ordering guarantee we need (all nodes see one
order), with no per-topic stream to create, trim or garbage-collect, and with SUBSCRIBE/UNSUBSCRIBE
following the gateway's per-room subscriptions exactly. What pub/sub does not give is resume: a
node that is disconnected from Redis misses what was published meanwhile. Room events carry a
revision number (``rev``), so a gap is detectable, but clients do not act on one yet; Streams
(``XADD`` + ``XREAD`` from the last id) would be the upgrade when nodes share rooms.

Per node: one subscriber connection (``PubSub``) driven by one reader task, plus a small pool
for ``PUBLISH``. Handlers run in the reader task, one message at a time, in channel order; a
node's own messages come back through Redis too, so every node (the publisher included) sees the
same order. A lost connection is re-established with backoff and every topic re-subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from podium.bus import Handler, Message

if TYPE_CHECKING:  # redis is an optional dependency (pip install 'podium[redis]')
    import redis.asyncio as redis
    from redis.asyncio.client import PubSub


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError)

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05  # the reader wakes at least this often to apply (un)subscriptions
MAX_BACKOFF = 5.0
PUBLISH_ATTEMPTS = 3


@dataclass
class BusStats:
    published: int = 0
    delivered: int = 0  # messages received from Redis for a topic with local handlers
    publish_errors: int = 0
    handler_errors: int = 0
    reconnects: int = 0
    lag_last: float = 0.0  # seconds from PUBLISH (publisher's clock) to delivery here
    lag_max: float = 0.0
    lag_sum: float = 0.0
    lag_count: int = 0


class RedisBus:
    """``EventBus`` over Redis pub/sub. ``await start()`` before use, ``await close()`` after."""

    def __init__(self, url: str, prefix: str = "podium:") -> None:
        self.url = url
        self.prefix = prefix
        self.node = secrets.token_hex(4)
        self.stats = BusStats()
        import redis.asyncio as redis_asyncio

        self._redis: redis.Redis = redis_asyncio.Redis.from_url(url)
        self._errors = _redis_errors()
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)
        self._confirmed: set[str] = set()  # topics Redis has confirmed we are subscribed to
        self._sent: set[str] = set()  # topics we asked Redis for (confirmed or not)
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.connected = False

    # Life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="redis-bus")

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except self._errors:
            return False

    async def synced(self, timeout: float = 5.0) -> None:
        """Wait until Redis has confirmed exactly the topics that have handlers here."""
        async def done() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self._confirmed == set(self._handlers))

        await asyncio.wait_for(done(), timeout)

    # EventBus -----------------------------------------------------------------------------------

    async def publish(self, topic: str, message: Message) -> None:
        body = json.dumps({"n": self.node, "t": time.time(), "m": message},
                          separators=(",", ":"), default=str)
        delay = 0.05
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                await self._redis.publish(self.prefix + topic, body)
                self.stats.published += 1
                return
            except self._errors as exc:
                if attempt == PUBLISH_ATTEMPTS - 1:
                    self.stats.publish_errors += 1
                    log.error("event bus: publish to %s lost: %s", topic, exc,
                              extra={"topic": topic})
                    return
                await asyncio.sleep(delay)
                delay *= 4

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        self._handlers[topic].append(handler)
        self._wake.set()

        def unsubscribe() -> None:
            handlers = self._handlers.get(topic)
            if handlers and handler in handlers:
                handlers.remove(handler)
                if not handlers:
                    del self._handlers[topic]
                    self._wake.set()

        return unsubscribe

    def topic_count(self) -> int:
        return len(self._handlers)

    # The reader ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.1
        while not self._closed:
            pubsub = self._redis.pubsub()
            try:
                await self._reconcile(pubsub, force=True)
                self.connected = True
                backoff = 0.1
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except self._errors as exc:
                self.stats.reconnects += 1
                log.warning("event bus: Redis connection lost (%s); retrying in %.1f s",
                            exc, backoff)
            finally:
                self.connected = False
                await self._forget()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _forget(self) -> None:
        async with self._changed:
            self._confirmed.clear()
            self._sent.clear()
            self._changed.notify_all()

    async def _reconcile(self, pubsub: PubSub, force: bool = False) -> None:
        """Send SUBSCRIBE / UNSUBSCRIBE so Redis follows the local handler table."""
        wanted = set(self._handlers)
        if force:
            self._sent.clear()
        add = sorted(wanted - self._sent)
        drop = sorted(self._sent - wanted)
        if add:
            await pubsub.subscribe(*(self.prefix + t for t in add))
            self._sent.update(add)
        if drop:
            await pubsub.unsubscribe(*(self.prefix + t for t in drop))
            self._sent.difference_update(drop)
        if not wanted and not self._sent:
            # Nothing subscribed: PubSub has no connection yet; prove Redis is there anyway.
            await self._redis.ping()

    async def _read(self, pubsub: PubSub) -> None:
        while not self._closed:
            if self._wake.is_set():
                self._wake.clear()
                await self._reconcile(pubsub)
            if pubsub.connection is None:
                # Never subscribed: no connection to read; wait for a subscription, and check
                # on Redis now and then so an outage is noticed.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS * 20)
                if not self._wake.is_set():
                    await self._redis.ping()
                continue
            raw = await pubsub.get_message(timeout=POLL_SECONDS)
            if raw is not None:
                await self._handle(raw)

    async def _handle(self, raw: dict[str, Any]) -> None:
        kind = raw.get("type")
        channel = raw.get("channel")
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        topic = name[len(self.prefix):] if name.startswith(self.prefix) else name
        if kind in ("subscribe", "unsubscribe"):
            async with self._changed:
                if kind == "subscribe":
                    self._confirmed.add(topic)
                else:
                    self._confirmed.discard(topic)
                self._changed.notify_all()
            return
        if kind != "message":
            return
        handlers = self._handlers.get(topic)
        if not handlers:
            return  # unsubscribed locally; Redis hears about it on the next reconcile
        try:
            envelope = json.loads(raw["data"])
            message: Message = envelope["m"]
            lag = max(0.0, time.time() - float(envelope["t"]))
        except (ValueError, KeyError, TypeError):
            log.warning("event bus: malformed message on %s", topic)
            return
        s = self.stats
        s.delivered += 1
        s.lag_last = lag
        s.lag_max = max(s.lag_max, lag)
        s.lag_sum += lag
        s.lag_count += 1
        for handler in list(handlers):  # copy: a handler may unsubscribe
            try:
                handler(message)
            except Exception:
                s.handler_errors += 1
                log.exception("event bus: handler failed on %s", topic, extra={"topic": topic})

"""The event bus: services publish to topics, connections subscribe.

Topics: ``room:<id>`` (room events), ``user:<id>`` (one member's own events), ``hallway``.
The in-process bus delivers synchronously and in order; a Redis bus joins it for several nodes
(``podium.realtime.redis_bus``). It sits below the services, which publish on it, and the
gateway, which subscribes: neither needs the other for this.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

Message = dict[str, Any]
Handler = Callable[[Message], None]


class EventBus(Protocol):
    async def publish(self, topic: str, message: Message) -> None: ...

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        """Start delivering ``topic`` to ``handler``; the returned function stops it."""


class InProcessBus:
    def __init__(self) -> None:
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)

    async def publish(self, topic: str, message: Message) -> None:
        # Copy: a handler may unsubscribe while we iterate.
        for handler in list(self._handlers.get(topic, ())):
            handler(message)

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        self._handlers[topic].append(handler)

        def unsubscribe() -> None:
            handlers = self._handlers.get(topic)
            if handlers and handler in handlers:
                handlers.remove(handler)
                if not handlers:
                    del self._handlers[topic]

        return unsubscribe

    def topic_count(self) -> int:
        return len(self._handlers)


class SplitBus:
    """Several nodes: room and hallway topics are delivered from this node's copies of the
    rooms (``redis_roomlog`` publishes them to ``local``); members' own topics go through
    ``remote`` (Redis pub/sub), since their sessions may be on any node."""

    LOCAL = ("room:", "hallway")

    def __init__(self, local: InProcessBus, remote: EventBus) -> None:
        self.local = local
        self.remote = remote

    def _bus(self, topic: str) -> EventBus:
        return self.local if topic.startswith(self.LOCAL) else self.remote

    async def publish(self, topic: str, message: Message) -> None:
        await self._bus(topic).publish(topic, message)

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        return self._bus(topic).subscribe(topic, handler)

    def topic_count(self) -> int:
        return self.local.topic_count() + int(getattr(self.remote, "topic_count", lambda: 0)())

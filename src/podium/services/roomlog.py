"""Where a room's changes go once made: straight to this node's bus, or through Redis.

Every change to a live room (a command, an audience batch, a ``speaking`` update, a hallway
refresh) is made under the room's lock and ends as one ``Entry``: the command that changed the
state (if any), the time it was applied at, and the messages to publish, in order. One node
publishes the entry at once (``LocalRoomLog``). Several nodes append it to the room's log in
Redis (``podium.realtime.redis_roomlog`` implements ``RoomLog``), and every node applies it to
its copy of the room and publishes its messages to its own clients.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from podium.bus import EventBus, Message
from podium.domain import commands as c
from podium.services.live import Entry, LiveRoom


class Replicas(Protocol):
    """What a room log needs from the room service to keep this node's copies of rooms."""

    rooms: dict[str, LiveRoom]

    def replica(self, info: dict[str, object], state: dict[str, object], rev: int) -> LiveRoom:
        """A copy of a room started elsewhere (not yet in ``rooms``)."""

    def replicated(self, live: LiveRoom, events: list[c.RoomEvent],
                   out: list[tuple[str, Message]]) -> None:
        """Another node's entry was applied to this copy (its events, its messages)."""

    async def after_change(self, live: LiveRoom) -> None:
        """This node's side of a state change: media heard set, ended rooms, gone members."""


class RoomLog(Protocol):
    shared: bool  # several nodes hold the rooms

    def locked(self, live: LiveRoom) -> contextlib.AbstractAsyncContextManager[None]:
        """Exclusive write access to the room, with this node's copy brought up to date."""

    async def commit(self, live: LiveRoom, entry: Entry) -> None:
        """Record and publish an entry made under ``locked``."""

    async def created(self, live: LiveRoom) -> None:
        """A room was started on this node: make it known to the others."""

    async def presence(self, live: LiveRoom) -> dict[int, float]:
        """When each member was last seen connected on any node (empty: this node only)."""

    def leads(self) -> bool:
        """Whether this node runs the room ticks (timeouts, empty stages, reminders)."""

    async def start(self, replicas: Replicas) -> set[str]:
        """Begin; returns the live rooms loaded from elsewhere."""

    async def close(self) -> None: ...


class LocalRoomLog:
    """One node: the room lock is the room's asyncio lock, entries are published at once."""

    shared = False

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    @contextlib.asynccontextmanager
    async def locked(self, live: LiveRoom) -> AsyncIterator[None]:
        yield

    async def commit(self, live: LiveRoom, entry: Entry) -> None:
        await publish_entry(live, entry.out, self.bus.publish)

    async def created(self, live: LiveRoom) -> None:
        return None

    async def presence(self, live: LiveRoom) -> dict[int, float]:
        return {}

    def leads(self) -> bool:
        return True

    async def start(self, replicas: Replicas) -> set[str]:
        return set()

    async def close(self) -> None:
        return None


async def publish_entry(live: LiveRoom, out: list[tuple[str, Message]],
                        publish: Callable[[str, Message], Awaitable[None]]) -> None:
    """Publish an entry's messages in order, remembering room events for resume."""
    for topic, message in out:
        if topic.startswith("room:"):
            live.note(message)
        await publish(topic, message)

"""In-memory state of one live room on this node, and the coalescing of audience changes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from podium.domain.commands import EventType, RoomEvent
from podium.domain.state import RoomState

MAX_DELTA = 100  # audience names carried per batch; the count is always exact


@dataclass
class RoomInfo:
    room_id: str
    title: str
    description: str
    kind: str
    host_id: int
    created_at: float


@dataclass
class AudienceBatch:
    """Audience joins and leaves waiting to go out as one ``audience_changed`` event.

    A room with thousands of listeners must not send every client one event per join.
    """

    joined: dict[int, dict[str, object]] = field(default_factory=dict)
    left: set[int] = field(default_factory=set)

    def add(self, event: RoomEvent) -> None:
        user_id = event.subject
        assert user_id is not None
        if event.type is EventType.MEMBER_JOINED:
            self.left.discard(user_id)
            self.joined[user_id] = dict(event.data)
        elif user_id in self.joined:
            del self.joined[user_id]  # came and went inside one batch: nobody needs to know
        else:
            self.left.add(user_id)

    def __bool__(self) -> bool:
        return bool(self.joined or self.left)

    def take(self, count: int) -> dict[str, object]:
        joined = list(self.joined.values())
        left = sorted(self.left)
        self.joined, self.left = {}, set()
        return {
            "type": "audience_changed",
            "count": count,
            "joined": joined[:MAX_DELTA],
            "left": left[:MAX_DELTA],
            "truncated": len(joined) > MAX_DELTA or len(left) > MAX_DELTA,
        }


@dataclass
class LiveRoom:
    info: RoomInfo
    state: RoomState
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    rev: int = 0
    batch: AudienceBatch = field(default_factory=AudienceBatch)
    flush_handle: asyncio.TimerHandle | None = None
    holders: dict[int, set[str]] = field(default_factory=dict)
    absent_since: dict[int, float] = field(default_factory=dict)
    heard: frozenset[int] = frozenset()
    speaking: frozenset[int] = frozenset()
    speaking_sent_at: float = 0.0
    summary_sent_at: float = 0.0

    @property
    def room_id(self) -> str:
        return self.info.room_id

    def summary(self) -> dict[str, object]:
        """The room as the hallway lists it."""
        return {
            "id": self.info.room_id,
            "title": self.info.title,
            "description": self.info.description,
            "kind": self.info.kind,
            "host_id": self.info.host_id,
            "created_at": self.info.created_at,
            "stage": [m.public() for m in self.state.stage],
            "listener_count": self.state.audience_count,
            "status": self.state.status.value,
        }

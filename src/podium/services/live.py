"""In-memory state of one live room on this node, and the coalescing of audience changes."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from podium.bus import Message
from podium.domain import commands as c
from podium.domain.commands import EventType, RoomEvent
from podium.domain.state import RoomState
from podium.services.credentials import Credential

MAX_DELTA = 100  # audience names carried per batch; the count is always exact
REPLAY_EVENTS = 5000  # room events kept for clients that resume (on any node)


@dataclass
class Entry:
    """One change to a live room, made under its lock (``podium.services.roomlog``): the
    command that changed the state (if any), when it was applied, the messages to publish."""

    command: c.Command | None = None
    now: float = 0.0
    out: list[tuple[str, Message]] = field(default_factory=list)


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
    # Member -> what authenticated their audio connection: it ends with that credential.
    media_credentials: dict[int, Credential | None] = field(default_factory=dict)
    # Member -> the room revision of the change that took them out: their sockets get the
    # room's messages up to it (the news of their leaving included), then no more.
    gone_at: dict[int, int] = field(default_factory=dict)
    absent_since: dict[int, float] = field(default_factory=dict)
    heard: frozenset[int] = frozenset()
    speaking: frozenset[int] = frozenset()
    speaking_sent_at: float = 0.0
    summary_sent_at: float = 0.0
    entry: Entry | None = None  # the change being made under the room's lock, if any
    # (rev, message) of the room's latest events, whoever made them: resume replays these.
    replay: deque[tuple[int, dict[str, Any]]] = field(
        default_factory=lambda: deque(maxlen=REPLAY_EVENTS))
    applied: tuple[int, int] = (0, 0)  # id of the last Redis log entry applied (several nodes)
    since_checkpoint: int = 0

    def note(self, message: dict[str, Any]) -> None:
        """A room event went out: keep it for resume and follow its revision."""
        rev = int(message["rev"])
        if self.replay and rev <= self.replay[-1][0]:
            return
        self.replay.append((rev, message))
        event = message["event"]
        if event.get("type") == "speaking" and rev >= self.rev:  # not behind a newer one
            self.speaking = frozenset(event["user_ids"])
        self.rev = max(self.rev, rev)

    def events_after(self, rev: int, user_id: int) -> list[dict[str, Any]] | None:
        """Room events after ``rev`` that ``user_id`` may see; None if some are gone."""
        if not self.replay or rev >= self.replay[-1][0]:
            return []  # nothing newer here yet (a lagging node's live feed brings the rest)
        if self.replay[0][0] > rev + 1:
            return None
        return [m for r, m in self.replay
                if r > rev and (m.get("to") is None or user_id in m["to"])]

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
            "recording": self.state.recording,
        }

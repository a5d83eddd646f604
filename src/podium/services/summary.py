"""What a room came to, for its host and moderators when it ends: how long it ran, its peak
audience, how many people came, who spoke, how many hands went up.

Counted from the room's own events as they happen (a set insert per join: join storms stay
cheap); when the room ends the summary goes to the host's and the moderators' sessions
(``room_summary`` on ``user:<id>``), the peak is written to the room's row, and it can be read
again (``GET /rooms/{id}/summary``) for a day on the node that held the room.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update

from podium.bus import EventBus
from podium.clock import Clock
from podium.domain.commands import EventType, RoomEvent
from podium.domain.roles import Role
from podium.domain.state import RoomState
from podium.services.errors import Forbidden, NotFound
from podium.services.live import LiveRoom
from podium.services.rooms import RoomService
from podium.storage.db import Database
from podium.storage.tables import Room

KEPT_SECONDS = 24 * 3600
KEPT_ROOMS = 1000


@dataclass
class _Tally:
    created_at: float
    people: set[int] = field(default_factory=set)
    speakers: set[int] = field(default_factory=set)
    peak_listeners: int = 0
    hands_raised: int = 0


class SummaryService:
    def __init__(self, db: Database, bus: EventBus, clock: Clock, rooms: RoomService) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self._live: dict[str, _Tally] = {}
        # room id -> (ended at, summary, who may read it); oldest first, bounded.
        self._ended: OrderedDict[str, tuple[float, dict[str, Any], frozenset[int]]] = (
            OrderedDict())
        rooms.event_hooks.append(self._on_events)

    def _tally(self, live: LiveRoom, before: RoomState) -> _Tally:
        tally = self._live.get(live.room_id)
        if tally is None:  # first events seen here: count who is there already
            tally = self._live[live.room_id] = _Tally(live.info.created_at)
            tally.people.update(before.members)
            tally.speakers.update(m.user_id for m in before.stage)
        return tally

    async def _on_events(self, live: LiveRoom, before: RoomState,
                         events: list[RoomEvent]) -> None:
        tally = self._tally(live, before)
        for event in events:
            on_stage = event.data.get("role") not in (None, Role.LISTENER.value)
            if event.type is EventType.MEMBER_JOINED and event.subject is not None:
                tally.people.add(event.subject)
                tally.peak_listeners = max(tally.peak_listeners, live.state.audience_count)
                if on_stage:  # the host (back) on stage
                    tally.speakers.add(event.subject)
            elif (event.type is EventType.ROLE_CHANGED and event.subject is not None
                  and on_stage):
                tally.speakers.add(event.subject)
            elif event.type is EventType.HAND_RAISED:
                tally.hands_raised += 1
            elif event.type is EventType.ROOM_ENDED:
                await self._ended_room(live, before, tally, str(event.data.get("reason", "")))

    async def _ended_room(self, live: LiveRoom, before: RoomState, tally: _Tally,
                          reason: str) -> None:
        del self._live[live.room_id]
        now = self.clock.now()
        summary = {
            "room_id": live.room_id, "title": live.info.title, "reason": reason,
            "duration_seconds": round(max(0.0, now - tally.created_at)),
            "peak_listeners": tally.peak_listeners, "people": len(tally.people),
            "speakers": len(tally.speakers), "hands_raised": tally.hands_raised,
        }
        readers = frozenset({live.info.host_id} | set(before.moderator_ids))
        self._ended[live.room_id] = (now, summary, readers)
        while self._ended and (len(self._ended) > KEPT_ROOMS
                               or now - next(iter(self._ended.values()))[0] > KEPT_SECONDS):
            self._ended.popitem(last=False)
        async with self.db.transaction() as s:
            await s.execute(update(Room).where(Room.id == live.room_id)
                            .values(peak_listeners=tally.peak_listeners))
        for user_id in sorted(readers):
            await self.bus.publish(f"user:{user_id}", {"type": "room_summary",
                                                        "summary": summary})

    def get(self, room_id: str, user_id: int, is_admin: bool = False) -> dict[str, Any]:
        kept = self._ended.get(room_id)
        if kept is None:
            raise NotFound("summary_not_found",
                           "No summary for this room (it is live, unknown, or over a day old).")
        if user_id not in kept[2] and not is_admin:
            raise Forbidden("not_a_moderator", "Only the room's host and moderators see this.")
        return kept[1]

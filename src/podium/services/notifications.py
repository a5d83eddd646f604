"""The notification centre: stored per member, pushed live to their sessions (``user:<id>``).

Kinds: ``new_follower``, ``ping``, ``speak_invite``, ``followed_started_room``,
``followed_on_stage``, ``event_starting`` (to an event's hosts at its start time) and
``event_live`` (to those who asked to be told). See docs/social.md.

Some are coalesced, so that repeating an action is no way to flood someone: ``send(...,
quiet=...)`` skips a recipient already told the same thing (same kind, room and event, and by
default the same actor) within that time.

Notifications settle when what they asked for is done: an invitation to speak once it is
accepted or declined, a ping or "started a room" once the member is in that room (``settle``).
Each one says whether its room is still live (``room_live``), so an ended room is not offered
as a place to go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, func, select, update

from podium.bus import EventBus
from podium.clock import Clock
from podium.domain.roles import RoomStatus
from podium.services.errors import NotFound
from podium.storage.db import Database
from podium.storage.tables import Notification, Room, User

PAGE = 50
MISSED = 100  # notifications replayed to a session resumed on another node, at most


def at(value: datetime | None) -> float | None:
    """Seconds since the epoch; SQLite hands back naive datetimes, which are UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


@dataclass(frozen=True, slots=True)
class Note:
    """One notification to send: who it is about, and where it leads."""

    kind: str
    text: str
    actor_id: int | None = None
    room_id: str | None = None
    event_id: int | None = None


class NotificationService:
    def __init__(self, db: Database, bus: EventBus, clock: Clock) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        # Coalesced sends check and store under this lock, so two at once cannot both pass.
        self._coalescing = asyncio.Lock()
        # (member, room) pairs this process told about a room and that are not settled yet:
        # joining a room costs a query only for those (a join storm must stay cheap).
        self._about_room: dict[tuple[int, str], set[str]] = {}

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def send(self, recipients: Iterable[int], note: Note, quiet: timedelta | None = None,
                   any_actor: bool = False) -> int:
        """Store one notification per recipient (never to the actor), then push each live.

        ``quiet``: leave out recipients told the same (kind, room, event and actor; any actor
        if ``any_actor``) within that time."""
        to = sorted({r for r in recipients if r != note.actor_id})
        if not to:
            return 0
        if quiet is None:
            return await self._store(to, note)
        async with self._coalescing:
            return await self._store(to, note, quiet, any_actor)

    async def _store(self, to: list[int], note: Note, quiet: timedelta | None = None,
                     any_actor: bool = False) -> int:
        now = self._now()
        async with self.db.transaction() as s:
            if quiet is not None:
                told = set(await s.scalars(self._told(to, note, now - quiet, any_actor)))
                to = [u for u in to if u not in told]
                if not to:
                    return 0
            rows = [Notification(user_id=u, kind=note.kind, actor_id=note.actor_id,
                                 room_id=note.room_id, event_id=note.event_id,
                                 text=note.text[:300], created_at=now) for u in to]
            s.add_all(rows)
            await s.flush()
            actor = await s.get(User, note.actor_id) if note.actor_id else None
            unread = dict((await s.execute(
                select(Notification.user_id, func.count()).where(
                    Notification.user_id.in_(to), Notification.read_at.is_(None))
                .group_by(Notification.user_id))).all())
        for row in rows:
            if row.room_id is not None:
                self._about_room.setdefault((row.user_id, row.room_id), set()).add(row.kind)
            await self.bus.publish(f"user:{row.user_id}", {
                "type": "notification", "notification": self._out(row, actor, True),
                "unread": unread.get(row.user_id, 0)})
        return len(rows)

    def has_unsettled(self, user_id: int, room_id: str, kinds: Iterable[str]) -> bool:
        return not self._about_room.get((user_id, room_id), set()).isdisjoint(kinds)

    def forget_room(self, room_id: str) -> None:
        for key in [k for k in self._about_room if k[1] == room_id]:
            del self._about_room[key]

    async def settle(self, user_id: int, room_id: str, kinds: Iterable[str]) -> list[int]:
        """Mark this member's unread notifications of these kinds about the room read, and
        tell their open tabs (``notifications_read``). Returns the ids settled."""
        wanted = list(kinds)
        left = self._about_room.get((user_id, room_id))
        if left is not None:
            left.difference_update(wanted)
            if not left:
                del self._about_room[(user_id, room_id)]
        async with self.db.transaction() as s:
            ids = list(await s.scalars(select(Notification.id).where(
                Notification.user_id == user_id, Notification.room_id == room_id,
                Notification.kind.in_(wanted), Notification.read_at.is_(None))))
            if ids:
                await s.execute(update(Notification).where(Notification.id.in_(ids))
                                .values(read_at=self._now()))
        if ids:
            await self.bus.publish(f"user:{user_id}", {
                "type": "notifications_read", "ids": ids, "unread": await self.unread(user_id)})
        return ids

    @staticmethod
    def _told(to: list[int], note: Note, since: datetime, any_actor: bool) -> Select[int]:
        """Which of ``to`` got this notification since then."""
        query = select(Notification.user_id).where(
            Notification.user_id.in_(to), Notification.kind == note.kind,
            Notification.created_at >= since,
            Notification.room_id.is_not_distinct_from(note.room_id),
            Notification.event_id.is_not_distinct_from(note.event_id))
        if not any_actor:
            query = query.where(Notification.actor_id.is_not_distinct_from(note.actor_id))
        return query

    @staticmethod
    def _out(row: Notification, actor: User | None,
             room_live: bool | None = None) -> dict[str, object]:
        """``room_live``: whether the room it is about is live (None: about no room)."""
        return {
            "id": row.id, "kind": row.kind, "text": row.text,
            "actor": ({"id": actor.id, "username": actor.username,
                       "display_name": actor.display_name} if actor else None),
            "room_id": row.room_id, "event_id": row.event_id,
            "created_at": at(row.created_at), "read": row.read_at is not None,
            "room_live": room_live if row.room_id is not None else None,
        }

    async def page(self, user_id: int, before: int | None = None, limit: int = PAGE,
                   unread_only: bool = False) -> dict[str, object]:
        """Newest first; pass the last ``id`` seen as ``before`` for the next page."""
        query = (select(Notification, User, Room.status)
                 .outerjoin(User, User.id == Notification.actor_id)
                 .outerjoin(Room, Room.id == Notification.room_id)
                 .where(Notification.user_id == user_id))
        if before is not None:
            query = query.where(Notification.id < before)
        if unread_only:
            query = query.where(Notification.read_at.is_(None))
        async with self.db.transaction() as s:
            rows = (await s.execute(query.order_by(Notification.id.desc())
                                    .limit(limit + 1))).all()
        items = [self._out(n, u, status == RoomStatus.LIVE.value) for n, u, status in rows[:limit]]
        more = len(rows) > limit
        return {"notifications": items, "unread": await self.unread(user_id),
                "next_before": items[-1]["id"] if more and items else None}

    async def newest_id(self, user_id: int) -> int:
        """The id of the member's newest notification (0 if none): a realtime client's
        starting point, from which a resume on another node replays (``missed``)."""
        async with self.db.transaction() as s:
            newest = await s.scalar(select(func.max(Notification.id))
                                    .where(Notification.user_id == user_id))
        return int(newest or 0)

    async def missed(self, user_id: int, after: int,
                     limit: int = MISSED) -> list[dict[str, object]]:
        """The member's notifications after ``after`` (the newest ``limit``), oldest first,
        as the ``notification`` frames their sessions were sent."""
        query = (select(Notification, User).outerjoin(User, User.id == Notification.actor_id)
                 .where(Notification.user_id == user_id, Notification.id > after)
                 .order_by(Notification.id.desc()).limit(limit))
        async with self.db.transaction() as s:
            rows = (await s.execute(query)).all()
        unread = await self.unread(user_id) if rows else 0
        return [{"type": "notification", "notification": self._out(n, u), "unread": unread}
                for n, u in reversed(rows)]

    async def unread(self, user_id: int) -> int:
        async with self.db.transaction() as s:
            count = await s.scalar(select(func.count()).select_from(Notification).where(
                Notification.user_id == user_id, Notification.read_at.is_(None)))
        return int(count or 0)

    async def mark_read(self, user_id: int, notification_id: int) -> int:
        async with self.db.transaction() as s:
            row = await s.get(Notification, notification_id)
            if row is None or row.user_id != user_id:
                raise NotFound("notification_not_found", "No such notification.")
            if row.read_at is None:
                row.read_at = self._now()
        return await self.unread(user_id)

    async def mark_all_read(self, user_id: int) -> int:
        async with self.db.transaction() as s:
            await s.execute(update(Notification).where(
                Notification.user_id == user_id, Notification.read_at.is_(None))
                .values(read_at=self._now()))
        return 0

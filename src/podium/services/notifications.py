"""The notification centre: stored per member, pushed live to their sessions (``user:<id>``).

Kinds: ``new_follower``, ``ping``, ``speak_invite``, ``followed_started_room``,
``followed_on_stage``, ``event_starting`` (to an event's hosts at its start time) and
``event_live`` (to those who asked to be told). See docs/social.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update

from podium.clock import Clock
from podium.realtime.bus import EventBus
from podium.services.errors import NotFound
from podium.storage.db import Database
from podium.storage.tables import Notification, User

PAGE = 50


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

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def send(self, recipients: Iterable[int], note: Note) -> int:
        """Store one notification per recipient (never to the actor), then push each live."""
        to = sorted({r for r in recipients if r != note.actor_id})
        if not to:
            return 0
        now = self._now()
        rows = [Notification(user_id=u, kind=note.kind, actor_id=note.actor_id,
                             room_id=note.room_id, event_id=note.event_id,
                             text=note.text[:300], created_at=now) for u in to]
        async with self.db.transaction() as s:
            s.add_all(rows)
            await s.flush()
            actor = await s.get(User, note.actor_id) if note.actor_id else None
            unread = dict((await s.execute(
                select(Notification.user_id, func.count()).where(
                    Notification.user_id.in_(to), Notification.read_at.is_(None))
                .group_by(Notification.user_id))).all())
        for row in rows:
            await self.bus.publish(f"user:{row.user_id}", {
                "type": "notification", "notification": self._out(row, actor),
                "unread": unread.get(row.user_id, 0)})
        return len(rows)

    @staticmethod
    def _out(row: Notification, actor: User | None) -> dict[str, object]:
        return {
            "id": row.id, "kind": row.kind, "text": row.text,
            "actor": ({"id": actor.id, "username": actor.username,
                       "display_name": actor.display_name} if actor else None),
            "room_id": row.room_id, "event_id": row.event_id,
            "created_at": at(row.created_at), "read": row.read_at is not None,
        }

    async def page(self, user_id: int, before: int | None = None, limit: int = PAGE,
                   unread_only: bool = False) -> dict[str, object]:
        """Newest first; pass the last ``id`` seen as ``before`` for the next page."""
        query = (select(Notification, User).outerjoin(User, User.id == Notification.actor_id)
                 .where(Notification.user_id == user_id))
        if before is not None:
            query = query.where(Notification.id < before)
        if unread_only:
            query = query.where(Notification.read_at.is_(None))
        async with self.db.transaction() as s:
            rows = (await s.execute(query.order_by(Notification.id.desc())
                                    .limit(limit + 1))).all()
        items = [self._out(n, u) for n, u in rows[:limit]]
        more = len(rows) > limit
        return {"notifications": items, "unread": await self.unread(user_id),
                "next_before": items[-1]["id"] if more and items else None}

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

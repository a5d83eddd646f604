"""Scheduled events: plan a room, ask to be told, start it; reminders on the rooms' clock.

Start times are stored in UTC with the IANA zone they were planned in (for calendars and for
showing them). Calendar output (``.ics``) is in ``services/calendar.py``.

Who may see an event, ask to be told ("RSVP") and be let in when it starts is whoever may join
its room (``domain.roles.may_join``): everyone for an open event; the host, co-hosts and people
the host or a co-host follows for a social one; the host and co-hosts for a closed one. To
anyone else the event does not exist (404 ``event_not_found``, left out of every list). An
RSVP lets nobody in by itself: at the start only the people who RSVP'd and still may join are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, delete, func, or_, select

from podium.clock import Clock
from podium.domain.roles import RoomKind, may_join
from podium.services.accounts import Account, AccountService
from podium.services.errors import Conflict, Forbidden, Gone, Invalid, NotFound
from podium.services.live import LiveRoom
from podium.services.notifications import Note, NotificationService, at
from podium.services.rooms import RoomService
from podium.services.social import SocialService
from podium.services.text import TextError, clean_text
from podium.storage.db import Database
from podium.storage.tables import Event, EventHost, EventRsvp, Follow, User

MAX_COHOSTS = 10
HORIZON = timedelta(days=366)
STILL_UPCOMING = timedelta(hours=2)  # an event not started yet stays listed this long


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def zone(name: str) -> ZoneInfo:
    try:
        if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("invalid_timezone",
                      "Give the time zone as an IANA name, e.g. 'Europe/Paris'.") from None


@dataclass
class EventInfo:
    """An event with who runs it: what the API and the calendar show."""

    row: Event
    host: User
    cohosts: list[User]
    rsvp_count: int

    @property
    def host_ids(self) -> set[int]:
        return {self.row.host_id, *(u.id for u in self.cohosts)}

    def status(self, live_rooms: dict[str, LiveRoom]) -> str:
        if self.row.cancelled_at is not None:
            return "cancelled"
        if self.row.room_id is not None:
            return "live" if self.row.room_id in live_rooms else "ended"
        return "scheduled"

    def starts(self) -> datetime:
        return utc(self.row.starts_at)


def clean_title(title: str) -> str:
    try:
        return clean_text(title, max_length=100)
    except TextError:
        raise Invalid("invalid_title", "Titles are 1 to 100 characters.") from None


def clean_description(description: str) -> str:
    try:
        return clean_text(description, max_length=1000, min_length=0, multiline=True)
    except TextError:
        raise Invalid("invalid_description",
                      "Descriptions are at most 1,000 characters.") from None


def recleaned(value: str, multiline: bool = False) -> str:
    """Stored text cleaned again where it is shown elsewhere (a room, a calendar): events
    stored before titles were cleaned may hold control or invisible characters."""
    # NFC may make a text longer (at most threefold): its length was checked when stored.
    return clean_text(value, max_length=3 * len(value), min_length=0, multiline=multiline)


def _not_found() -> NotFound:
    return NotFound("event_not_found", "No such event.")


def _person(user: User) -> dict[str, object]:
    return {"id": user.id, "username": user.username, "display_name": user.display_name}


class EventService:
    def __init__(self, db: Database, clock: Clock, accounts: AccountService, rooms: RoomService,
                 social: SocialService, notifications: NotificationService,
                 public_url: str) -> None:
        self.db = db
        self.clock = clock
        self.accounts = accounts
        self.rooms = rooms
        self.social = social
        self.notifications = notifications
        self.public_url = public_url.rstrip("/")

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def start(self) -> None:
        self.rooms.tickers.append(self.tick)

    # Who may see an event -----------------------------------------------------------

    def may_see(self, info: EventInfo, user_id: int) -> bool:
        """Whoever may join the event's room (see the module docstring)."""
        hosts = info.host_ids
        followed = any(self.social.graph.follows(h, user_id) for h in hosts)
        return may_join(RoomKind(info.row.kind), user_id, info.row.host_id, frozenset(hosts),
                        followed)

    @staticmethod
    def visible_to(user_id: int) -> ColumnElement[bool]:
        """``may_see`` as SQL, for lists that page."""
        cohosts = select(EventHost.event_id).where(EventHost.user_id == user_id)
        followed_by_cohost = (select(EventHost.event_id)
                              .join(Follow, Follow.follower_id == EventHost.user_id)
                              .where(Follow.followee_id == user_id))
        followed_by_host = select(Follow.follower_id).where(Follow.followee_id == user_id)
        return or_(Event.kind == RoomKind.OPEN.value, Event.host_id == user_id,
                   Event.id.in_(cohosts),
                   and_(Event.kind == RoomKind.SOCIAL.value,
                        or_(Event.host_id.in_(followed_by_host),
                            Event.id.in_(followed_by_cohost))))

    async def visible(self, viewer: Account, event_id: int) -> EventInfo:
        """The event, if this member may see it; else the same 404 as a missing one."""
        info = await self.info(event_id)
        if not self.may_see(info, viewer.id):
            raise _not_found()
        return info

    # Reading -------------------------------------------------------------------

    async def load(self, rows: list[Event]) -> list[EventInfo]:
        if not rows:
            return []
        ids = [e.id for e in rows]
        async with self.db.transaction() as s:
            hosts = {u.id: u for u in await s.scalars(
                select(User).where(User.id.in_({e.host_id for e in rows})))}
            co = (await s.execute(select(EventHost.event_id, User)
                                  .join(User, User.id == EventHost.user_id)
                                  .where(EventHost.event_id.in_(ids))
                                  .order_by(User.username))).all()
            counts = dict((await s.execute(
                select(EventRsvp.event_id, func.count()).where(EventRsvp.event_id.in_(ids))
                .group_by(EventRsvp.event_id))).all())
        return [EventInfo(e, hosts[e.host_id], [u for eid, u in co if eid == e.id],
                          counts.get(e.id, 0)) for e in rows]

    async def info(self, event_id: int) -> EventInfo:
        async with self.db.transaction() as s:
            row = await s.get(Event, event_id)
        if row is None:
            raise _not_found()
        return (await self.load([row]))[0]

    async def rsvped(self, user_id: int, event_ids: list[int]) -> set[int]:
        async with self.db.transaction() as s:
            return set(await s.scalars(select(EventRsvp.event_id).where(
                EventRsvp.user_id == user_id, EventRsvp.event_id.in_(event_ids))))

    def out(self, info: EventInfo, rsvped: bool) -> dict[str, object]:
        row = info.row
        starts = info.starts()
        return {
            "id": row.id, "title": row.title, "description": row.description,
            "starts_at": starts.isoformat().replace("+00:00", "Z"), "starts_at_ts": at(starts),
            "timezone": row.timezone, "local_start": starts.astimezone(zone(row.timezone))
            .isoformat(), "kind": row.kind, "host": _person(info.host),
            "cohosts": [_person(u) for u in info.cohosts], "rsvp_count": info.rsvp_count,
            "rsvped": rsvped, "status": info.status(self.rooms.rooms), "room_id": row.room_id,
            "ics_url": f"/api/v1/events/{row.id}.ics",
        }

    async def render(self, viewer: Account, infos: list[EventInfo]) -> list[dict[str, object]]:
        """The events as this member sees them: those they may not see are left out."""
        infos = [i for i in infos if self.may_see(i, viewer.id)]
        mine = await self.rsvped(viewer.id, [i.row.id for i in infos])
        return [self.out(i, i.row.id in mine) for i in infos]

    async def get(self, viewer: Account, event_id: int) -> dict[str, object]:
        info = await self.visible(viewer, event_id)
        return (await self.render(viewer, [info]))[0]

    async def upcoming(self, viewer: Account, offset: int = 0, limit: int = 50,
                       host_id: int | None = None) -> dict[str, object]:
        """Events not yet started or cancelled, soonest first (optionally one member's)."""
        query = select(Event).where(Event.cancelled_at.is_(None), Event.room_id.is_(None),
                                    Event.starts_at > self._now() - STILL_UPCOMING,
                                    self.visible_to(viewer.id))
        if host_id is not None:
            cohosted = select(EventHost.event_id).where(EventHost.user_id == host_id)
            query = query.where((Event.host_id == host_id) | Event.id.in_(cohosted))
        async with self.db.transaction() as s:
            total = await s.scalar(select(func.count()).select_from(query.subquery()))
            rows = list(await s.scalars(query.order_by(Event.starts_at, Event.id)
                                        .offset(offset).limit(limit)))
        events = await self.render(viewer, await self.load(rows))
        return {"events": events, "total": int(total or 0), "offset": offset, "limit": limit}

    # Writing -------------------------------------------------------------------

    async def create(self, host: Account, title: str, description: str, starts_at: datetime,
                     timezone: str, cohosts: list[str], kind: str) -> dict[str, object]:
        title, description = clean_title(title), clean_description(description)
        if kind not in {k.value for k in RoomKind}:
            raise Invalid("invalid_kind", "Room type is 'open', 'social' or 'closed'.")
        tz = zone(timezone)
        local = starts_at if starts_at.tzinfo is not None else starts_at.replace(tzinfo=tz)
        start = local.astimezone(UTC)
        now = self._now()
        if start <= now:
            raise Invalid("invalid_start", "The start time must be in the future.")
        if start > now + HORIZON:
            raise Invalid("invalid_start", "Events are planned at most a year ahead.")
        names = sorted({n.lower() for n in cohosts} - {host.username})
        if len(names) > MAX_COHOSTS:
            raise Invalid("too_many_cohosts", f"An event has at most {MAX_COHOSTS} co-hosts.")
        people = [await self.accounts.by_username(n) for n in names]
        row = Event(title=title, description=description, starts_at=start, timezone=tz.key,
                    kind=kind, host_id=host.id, created_at=now)
        async with self.db.transaction() as s:
            s.add(row)
            await s.flush()
            s.add_all(EventHost(event_id=row.id, user_id=p.id) for p in people)
        return self.out((await self.load([row]))[0], False)

    async def _scheduled(self, viewer: Account, event_id: int) -> EventInfo:
        info = await self.visible(viewer, event_id)
        if info.row.cancelled_at is not None:
            raise Gone("event_cancelled", "This event was cancelled.")
        if info.row.room_id is not None:
            raise Conflict("event_started", "This event has already started.")
        return info

    async def rsvp(self, viewer: Account, event_id: int, going: bool) -> dict[str, object]:
        info = (await self._scheduled(viewer, event_id) if going
                else await self.visible(viewer, event_id))
        async with self.db.transaction() as s:
            await s.execute(delete(EventRsvp).where(EventRsvp.event_id == event_id,
                                                    EventRsvp.user_id == viewer.id))
            if going:
                s.add(EventRsvp(event_id=event_id, user_id=viewer.id, created_at=self._now()))
        info = await self.info(info.row.id)
        return self.out(info, going)

    async def cancel(self, actor: Account, event_id: int) -> dict[str, object]:
        info = await self._scheduled(actor, event_id)
        if actor.id != info.row.host_id:
            raise Forbidden("forbidden", "Only the event's host can cancel it.")
        async with self.db.transaction() as s:
            row = await s.get(Event, event_id)
            assert row is not None
            row.cancelled_at = self._now()
        return self.out(await self.info(event_id), False)

    async def start_room(self, actor: Account, event_id: int) -> LiveRoom:
        """A host starts the event's room: co-hosts and those who asked (and may join) are let
        in and told."""
        info = await self._scheduled(actor, event_id)
        if actor.id not in info.host_ids:
            raise Forbidden("forbidden", "Only the event's host or co-hosts can start it.")
        async with self.db.transaction() as s:
            asked = set(await s.scalars(select(EventRsvp.user_id)
                                        .where(EventRsvp.event_id == event_id)))
        rsvps = {u for u in asked if self.may_see(info, u)}  # an RSVP alone lets nobody in
        row = info.row
        title = recleaned(row.title)[:100] or "Event"  # cleaned at creation; older rows too
        description = recleaned(row.description, multiline=True)[:500]
        live = await self.rooms.create(actor, title, description, row.kind,
                                       allowed=frozenset(rsvps | info.host_ids),
                                       announce=False)
        async with self.db.transaction() as s:
            stored = await s.get(Event, event_id)
            assert stored is not None
            stored.room_id, stored.started_at = live.room_id, self._now()
        await self.notifications.send(rsvps | (info.host_ids - {actor.id}), Note(
            "event_live", f"“{title}” is live now.", actor_id=actor.id,
            room_id=live.room_id, event_id=event_id))
        await self.social.announce(live, exclude=rsvps | info.host_ids)
        return live

    async def tick(self) -> None:
        """At an event's start time, prompt its hosts to start the room (once)."""
        now = self._now()
        async with self.db.transaction() as s:
            due = list(await s.scalars(select(Event).where(
                Event.starts_at <= now, Event.starts_at > now - timedelta(days=1),
                Event.reminded_at.is_(None), Event.cancelled_at.is_(None),
                Event.room_id.is_(None))))
            for row in due:
                row.reminded_at = now
        for info in await self.load(due):
            await self.notifications.send(info.host_ids, Note(
                "event_starting", f"It's time for “{info.row.title}”: start the room.",
                event_id=info.row.id))

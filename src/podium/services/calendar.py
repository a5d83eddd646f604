"""Calendars: one ``.ics`` per event, and each member's private feed of their events.

The feed URL carries a secret (no cookie: calendar apps fetch it on their own). Only its
SHA-256 digest is stored; making a new one replaces the old, and it can be revoked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from icalendar import Calendar, vCalAddress, vText
from icalendar import Event as VEvent
from sqlalchemy import delete, select

from podium.clock import Clock
from podium.services.accounts import Account
from podium.services.errors import NotFound
from podium.services.events import EventInfo, EventService, recleaned, utc, zone
from podium.services.security import digest, new_secret
from podium.storage.db import Database
from podium.storage.tables import CalendarToken, Event, EventHost, EventRsvp

FEED_PAST = timedelta(days=30)  # the feed keeps recent events, so calendars do not lose them
DURATION = timedelta(hours=1)  # events have no end: calendars show an hour


class CalendarService:
    def __init__(self, db: Database, clock: Clock, events: EventService,
                 public_url: str) -> None:
        self.db = db
        self.clock = clock
        self.events = events
        self.public_url = public_url.rstrip("/")
        self.domain = urlsplit(self.public_url).hostname or "podium"

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # .ics ----------------------------------------------------------------------

    def _calendar(self, name: str) -> Calendar:
        cal = Calendar()
        cal.add("prodid", "-//Podium//Podium events//EN")
        cal.add("version", "2.0")
        cal.add("calscale", "GREGORIAN")
        cal.add("x-wr-calname", name)
        return cal

    def _vevent(self, info: EventInfo) -> VEvent:
        row = info.row
        start = info.starts().astimezone(zone(row.timezone))
        event = VEvent()
        event.add("uid", f"event-{row.id}@{self.domain}")
        event.add("dtstamp", utc(row.created_at))
        event.add("dtstart", start)  # with TZID: calendars show it in the zone it was planned
        event.add("dtend", start + DURATION)
        event.add("summary", recleaned(row.title))
        link = f"{self.public_url}/events/{row.id}"
        event.add("description", f"{recleaned(row.description, multiline=True)}\n\n{link}".strip())
        event.add("url", link)
        organizer = vCalAddress(f"{self.public_url}/users/{info.host.username}")
        organizer.params["cn"] = vText(recleaned(info.host.display_name))
        event.add("organizer", organizer)
        if row.cancelled_at is not None:
            event.add("status", "CANCELLED")
        else:
            event.add("status", "CONFIRMED")
        return event

    def render(self, infos: list[EventInfo], name: str) -> bytes:
        cal = self._calendar(name)
        for info in infos:
            cal.add_component(self._vevent(info))
        cal.add_missing_timezones()  # a VTIMEZONE for every TZID used
        return bytes(cal.to_ical())

    async def event_ics(self, viewer: Account, event_id: int) -> bytes:
        info = await self.events.visible(viewer, event_id)
        return self.render([info], recleaned(info.row.title))

    # The private feed ------------------------------------------------------------

    async def rotate(self, user_id: int) -> str:
        """A new feed secret; the old URL stops working at once."""
        token = new_secret("cal_")
        async with self.db.transaction() as s:
            await s.execute(delete(CalendarToken).where(CalendarToken.user_id == user_id))
            s.add(CalendarToken(user_id=user_id, token_hash=digest(token),
                                created_at=self._now()))
        return token

    async def revoke(self, user_id: int) -> None:
        async with self.db.transaction() as s:
            await s.execute(delete(CalendarToken).where(CalendarToken.user_id == user_id))

    async def has_feed(self, user_id: int) -> datetime | None:
        async with self.db.transaction() as s:
            row = await s.get(CalendarToken, user_id)
        return row.created_at if row else None

    def feed_url(self, token: str) -> str:
        return f"{self.public_url}/api/v1/calendar/{token}.ics"

    async def feed(self, token: str) -> bytes:
        """The events a member hosts, co-hosts or asked to be told about (and may see)."""
        async with self.db.transaction() as s:
            owner = await s.scalar(select(CalendarToken.user_id)
                                   .where(CalendarToken.token_hash == digest(token)))
            if owner is None:
                raise NotFound("calendar_not_found", "No such calendar.")
            mine = (select(EventRsvp.event_id).where(EventRsvp.user_id == owner)
                    .union(select(EventHost.event_id).where(EventHost.user_id == owner)))
            rows = list(await s.scalars(
                select(Event).where((Event.host_id == owner) | Event.id.in_(mine),
                                    Event.starts_at > self._now() - FEED_PAST)
                .order_by(Event.starts_at, Event.id).limit(500)))
        infos = [i for i in await self.events.load(rows) if self.events.may_see(i, owner)]
        return self.render(infos, "Podium")

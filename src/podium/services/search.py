"""Search people (username, display name), live rooms and upcoming events (title).

As-you-type: every word typed must begin a word of the result ("ali sm" finds "Alice Smith").
SQLite answers from FTS5 tables kept by triggers; PostgreSQL from trigram GIN indexes (both
made by migration 0002), with a word-start check so both give the same answers. Ordering is
the same on both: an exact username first, then usernames that start with the first word,
then shorter usernames, then alphabetical.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, select, text

from podium.clock import Clock
from podium.services.accounts import Account
from podium.services.events import STILL_UPCOMING, EventService
from podium.services.rooms import RoomService
from podium.services.social import SocialService
from podium.storage.db import Database
from podium.storage.tables import Avatar, Event, Room, User

WORD = re.compile(r"\w+")
MAX_TERMS = 5
MAX_TERM = 40


def terms(query: str) -> list[str]:
    """The words of a query, lower-case, at most a few (each a run of letters, digits, _)."""
    words = WORD.findall(unicodedata.normalize("NFC", query).lower())
    return [w[:MAX_TERM] for w in words[:MAX_TERMS]]


def fts_match(words: list[str]) -> str:
    """An FTS5 query: every word as a quoted prefix (words hold no quotes: see ``WORD``)."""
    return " ".join(f'"{w}"*' for w in words)


def _like_escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _pg_words(column: Any, words: list[str]) -> ColumnElement[bool]:
    """Every word starts a word of ``column`` (trigram index narrows, the regex decides)."""
    return and_(*(and_(column.like(f"%{_like_escape(w)}%", escape="\\"),
                       column.op("~")(f"(^|[^[:alnum:]_]){w}")) for w in words))


class SearchService:
    def __init__(self, db: Database, clock: Clock, rooms: RoomService, social: SocialService,
                 events: EventService) -> None:
        self.db = db
        self.clock = clock
        self.rooms = rooms
        self.social = social
        self.events = events
        self.sqlite = db.url.startswith("sqlite")

    async def people_ids(self, words: list[str], limit: int) -> list[int]:
        first = _like_escape(words[0]) + "%"
        whole = " ".join(words)
        order = (case((User.username == whole, 0), else_=1),
                 case((User.username.like(first, escape="\\"), 0), else_=1),
                 func.length(User.username), User.username)
        if self.sqlite:
            fts = text("users_fts MATCH :match").bindparams(match=fts_match(words))
            hits = (select(text("rowid")).select_from(text("users_fts")).where(fts)
                    .scalar_subquery())
            query = select(User.id).where(User.id.in_(hits))
        else:
            haystack = func.lower(User.username + literal(" ") + User.display_name)
            query = select(User.id).where(_pg_words(haystack, words))
        query = query.where(User.suspended.is_(False)).order_by(*order).limit(limit)
        async with self.db.transaction() as s:
            return list(await s.scalars(query))

    async def room_ids(self, words: list[str], limit: int) -> list[str]:
        """Live rooms whose title matches, newest first (not yet filtered per viewer)."""
        if self.sqlite:
            fts = text("rooms_fts MATCH :match").bindparams(match=fts_match(words))
            hits = (select(text("room_id")).select_from(text("rooms_fts")).where(fts)
                    .scalar_subquery())
            query = select(Room.id).where(Room.id.in_(hits))
        else:
            query = select(Room.id).where(_pg_words(func.lower(Room.title), words))
        query = (query.where(Room.status == "live")
                 .order_by(Room.created_at.desc(), Room.id).limit(limit))
        async with self.db.transaction() as s:
            return list(await s.scalars(query))

    async def event_ids(self, words: list[str], limit: int) -> list[int]:
        """Upcoming events whose title matches, soonest first."""
        if self.sqlite:
            fts = text("events_fts MATCH :match").bindparams(match=fts_match(words))
            hits = (select(text("rowid")).select_from(text("events_fts")).where(fts)
                    .scalar_subquery())
            query = select(Event.id).where(Event.id.in_(hits))
        else:
            query = select(Event.id).where(_pg_words(func.lower(Event.title), words))
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        query = (query.where(Event.cancelled_at.is_(None), Event.room_id.is_(None),
                             Event.starts_at > now - STILL_UPCOMING)
                 .order_by(Event.starts_at, Event.id).limit(limit))
        async with self.db.transaction() as s:
            return list(await s.scalars(query))

    async def search(self, viewer: Account, query: str, kinds: set[str],
                     limit: int) -> dict[str, object]:
        words = terms(query)
        result: dict[str, object] = {"query": query, "people": [], "rooms": [], "events": []}
        if not words:
            return result
        if "people" in kinds:
            ids = await self.people_ids(words, limit)
            async with self.db.transaction() as s:
                rows = {u.id: (u, etag) for u, etag in (await s.execute(
                    select(User, Avatar.etag).outerjoin(Avatar, Avatar.user_id == User.id)
                    .where(User.id.in_(ids))))}
            result["people"] = [self.social.person(viewer.id, *rows[i]) for i in ids]
        if "rooms" in kinds:
            # Over-fetch: rooms this viewer may not join are dropped here, not in SQL.
            found = await self.room_ids(words, limit * 4)
            visible = [self.rooms.rooms[r] for r in found if r in self.rooms.rooms
                       and self.rooms.may_see(self.rooms.rooms[r], viewer.id)]
            result["rooms"] = [self.rooms.hallway_entry(live, viewer.id)
                               for live in visible[:limit]]
        if "events" in kinds:
            ids = await self.event_ids(words, limit)
            async with self.db.transaction() as s:
                rows_e = {e.id: e for e in await s.scalars(select(Event).where(Event.id.in_(ids)))}
            infos = await self.events.load([rows_e[i] for i in ids])
            result["events"] = await self.events.render(viewer, infos)
        return result


"""Reports from members, and the admins' review of them (docs/moderation.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import func, select

from podium.services.accounts import Account, AccountService
from podium.services.errors import Conflict, Invalid, NotFound
from podium.services.ratelimit import RateLimiter
from podium.services.rooms import RoomService
from podium.services.text import TextError, clean_text
from podium.storage.db import Database
from podium.storage.tables import Report, Room, User

CATEGORIES = ("spam", "harassment", "hate", "impersonation", "other")
STATUSES = ("open", "resolved", "dismissed")
MAX_TEXT = 1000
MAX_NOTE = 1000


def at(value: datetime | None) -> float | None:
    """Seconds since the epoch. SQLite hands back naive datetimes: they are UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


class Moderation(Protocol):
    """What reports use of ``ModerationService`` (which owns this service): a protocol, so
    the two modules do not import each other."""

    db: Database
    accounts: AccountService
    rooms: RoomService
    limiter: RateLimiter

    def now(self) -> datetime: ...

    async def audit(self, actor_id: int | None, action: str, target_id: int | None = None,
                    room_id: str | None = None, report_id: int | None = None,
                    detail: dict[str, object] | None = None) -> None: ...


class ReportService:
    def __init__(self, moderation: Moderation) -> None:
        self.m = moderation

    async def usernames(self, ids: set[int]) -> dict[int, str]:
        if not ids:
            return {}
        async with self.m.db.transaction() as s:
            rows = (await s.execute(select(User.id, User.username)
                                    .where(User.id.in_(sorted(ids))))).all()
        return {i: name for i, name in rows}

    async def create(self, actor: Account, username: str, category: str, text: str,
                     room_id: str | None) -> dict[str, object]:
        if category not in CATEGORIES:
            raise Invalid("invalid_category", "Category is one of: " + ", ".join(CATEGORIES))
        try:
            text = clean_text(text, max_length=MAX_TEXT, multiline=True)
        except TextError:
            raise Invalid("invalid_text", f"Say what happened in 1 to {MAX_TEXT} "
                                          "characters.") from None
        target = await self.m.accounts.by_username(username)
        if target.id == actor.id:
            raise Invalid("cannot_report_self", "You cannot report yourself.")
        await self.m.limiter.check("report", actor.id)
        async with self.m.db.transaction() as s:
            row = Report(reporter_id=actor.id, reported_id=target.id, room_id=room_id,
                         category=category, text=text, status="open", created_at=self.m.now(),
                         note="")
            s.add(row)
            await s.flush()
            report_id = row.id
        return {"id": report_id, "status": "open"}

    async def page(self, status: str, offset: int, limit: int) -> dict[str, object]:
        if status not in STATUSES:
            raise Invalid("invalid_status", "Status is 'open', 'resolved' or 'dismissed'.")
        async with self.m.db.transaction() as s:
            total = await s.scalar(select(func.count()).select_from(Report)
                                   .where(Report.status == status))
            rows = (await s.execute(
                select(Report, Room.title).outerjoin(Room, Room.id == Report.room_id)
                .where(Report.status == status)
                .order_by(Report.created_at.desc(), Report.id.desc())
                .offset(offset).limit(limit))).all()
        ids = {u for r, _ in rows for u in (r.reporter_id, r.reported_id, r.handled_by_id)
               if u is not None}
        names = await self.usernames(ids)
        suspended = await self._suspended({r.reported_id for r, _ in rows})
        return {"total": int(total or 0), "offset": offset, "limit": limit, "reports": [
            {"id": r.id, "category": r.category, "text": r.text, "status": r.status,
             "created_at": at(r.created_at),
             "reporter": {"id": r.reporter_id, "username": names.get(r.reporter_id)},
             "reported": {"id": r.reported_id, "username": names.get(r.reported_id),
                          "suspended": r.reported_id in suspended},
             "room": {"id": r.room_id, "title": title,
                      "live": r.room_id in self.m.rooms.rooms} if r.room_id else None,
             "handled_by": names.get(r.handled_by_id) if r.handled_by_id else None,
             "handled_at": at(r.handled_at), "note": r.note} for r, title in rows]}

    async def _suspended(self, ids: set[int]) -> set[int]:
        if not ids:
            return set()
        async with self.m.db.transaction() as s:
            rows = await s.scalars(select(User.id).where(User.id.in_(sorted(ids)),
                                                         User.suspended.is_(True)))
            return set(rows)

    async def handle(self, admin: Account, report_id: int, action: str,
                     note: str) -> dict[str, object]:
        if action not in ("resolve", "dismiss"):
            raise Invalid("invalid_action", "Action is 'resolve' or 'dismiss'.")
        try:
            note = clean_text(note, max_length=MAX_NOTE, min_length=0, multiline=True)
        except TextError:
            raise Invalid("invalid_note", f"Notes are at most {MAX_NOTE} characters.") from None
        status = "resolved" if action == "resolve" else "dismissed"
        async with self.m.db.transaction() as s:
            row = await s.get(Report, report_id)
            if row is None:
                raise NotFound("report_not_found", "No such report.")
            if row.status != "open":
                raise Conflict("report_closed", "This report was already handled.")
            row.status, row.note = status, note
            row.handled_by_id, row.handled_at = admin.id, self.m.now()
            reported = row.reported_id
        await self.m.audit(admin.id, f"report_{status}", reported, report_id=report_id,
                           detail={"note": note})
        return {"id": report_id, "status": status}

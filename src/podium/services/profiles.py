"""Member profiles: display name, bio, avatar, who invited them, counts, rooms and events."""

from __future__ import annotations

import asyncio
import unicodedata
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from podium.clock import Clock
from podium.services import avatars
from podium.services.accounts import Account, AccountService, clean_display_name
from podium.services.errors import Invalid, NotFound
from podium.services.events import EventService
from podium.services.rooms import RoomService
from podium.services.social import SocialService, avatar_url
from podium.storage.db import Database
from podium.storage.tables import Avatar, User

MAX_BIO = 300
DECODES = 2  # avatar decodes at a time in this process: each may take ~130 MB for a moment


def clean_bio(text: str) -> str:
    """NFC, no control or invisible formatting characters, at most two line breaks in a row."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    kept = "".join(ch for ch in text if ch == "\n" or (
        unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn") or ch in "\u200c\u200d"))
    lines = [" ".join(line.split()) for line in kept.split("\n")]
    out = "\n".join(lines).strip()
    while "\n\n\n" in out:
        out = out.replace("\n\n\n", "\n\n")
    if len(out) > MAX_BIO:
        raise Invalid("invalid_bio", f"Bios are at most {MAX_BIO} characters.")
    return out


class ProfileService:
    def __init__(self, db: Database, clock: Clock, accounts: AccountService, rooms: RoomService,
                 social: SocialService, events: EventService) -> None:
        self.db = db
        self.clock = clock
        self.accounts = accounts
        self.rooms = rooms
        self.social = social
        self.events = events
        self._decoding = asyncio.Semaphore(DECODES)  # one per service: the app's own loop

    async def profile(self, viewer: Account, username: str) -> dict[str, object]:
        async with self.db.transaction() as s:
            user = await s.scalar(select(User).where(User.username == username.lower()))
            if user is None or (user.suspended and not viewer.is_admin):  # as social.visible
                raise NotFound("user_not_found", "No such member.")
            inviter = await s.get(User, user.invited_by_id) if user.invited_by_id else None
            etag = await s.scalar(select(Avatar.etag).where(Avatar.user_id == user.id))
        hosting = [self.rooms.hallway_entry(live, viewer.id) for live in self.rooms.rooms.values()
                   if live.info.host_id == user.id and live.state.live
                   and self.rooms.may_see(live, viewer.id)]
        upcoming = await self.events.upcoming(viewer, 0, 20, host_id=user.id)
        return {
            "id": user.id, "username": user.username, "display_name": user.display_name,
            "bio": user.bio, "avatar_url": avatar_url(user.username, etag),
            "invited_by": ({"id": inviter.id, "username": inviter.username,
                            "display_name": inviter.display_name} if inviter else None),
            **self.social.relation(viewer.id, user.id),
            "is_me": viewer.id == user.id,
            # Consent to captions: one's own setting, shown to oneself only.
            **({"captions": user.captions} if viewer.id == user.id else {}),
            "hosting": hosting, "upcoming_events": upcoming["events"],
        }

    async def update(self, actor: Account, display_name: str | None,
                     bio: str | None, captions: bool | None = None) -> dict[str, object]:
        values: dict[str, str | bool] = {}
        if captions is not None:
            values["captions"] = captions
        if display_name is not None:
            values["display_name"] = clean_display_name(display_name)
        if bio is not None:
            values["bio"] = clean_bio(bio)
        if values:
            async with self.db.transaction() as s:
                await s.execute(update(User).where(User.id == actor.id).values(**values))
        return await self.profile(actor, actor.username)

    async def set_avatar(self, actor: Account, data: bytes) -> dict[str, object]:
        encoded, etag = await self._process(data)
        try:
            await self._store_avatar(actor.id, encoded, etag)
        except IntegrityError:  # another upload of theirs made the row meanwhile: replace it
            await self._store_avatar(actor.id, encoded, etag)
        return {"avatar_url": avatar_url(actor.username, etag)}

    async def _store_avatar(self, user_id: int, encoded: bytes, etag: str) -> None:
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        async with self.db.transaction() as s:
            changed = await s.execute(update(Avatar).where(Avatar.user_id == user_id)
                                      .values(data=encoded, etag=etag, updated_at=now))
            if not changed.rowcount:  # type: ignore[attr-defined]
                s.add(Avatar(user_id=user_id, data=encoded, content_type=avatars.CONTENT_TYPE,
                             etag=etag, updated_at=now))

    async def _process(self, data: bytes) -> tuple[bytes, str]:
        """Decode in a thread, ``DECODES`` at a time. A thread cannot be stopped, so a request
        cancelled meanwhile keeps its slot until its thread is done."""
        async with self._decoding:
            work = asyncio.ensure_future(asyncio.to_thread(avatars.process, data))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                await asyncio.wait([work])
                if not work.cancelled():
                    work.exception()  # seen: nobody is left to be told
                raise

    async def delete_avatar(self, actor: Account) -> None:
        async with self.db.transaction() as s:
            await s.execute(delete(Avatar).where(Avatar.user_id == actor.id))

    async def avatar(self, viewer: Account, username: str) -> Avatar:
        user = await self.social.visible(viewer, username)
        async with self.db.transaction() as s:
            row = await s.get(Avatar, user.id)
        if row is None:
            raise NotFound("avatar_not_found", "This member has no picture.")
        return row

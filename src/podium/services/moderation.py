"""Trust and safety: room bans, blocks, reports, suspensions and the audit log (docs/moderation.md).

Blocks are kept in memory as well as in the database, like follows: room admission, the
hallway and the "blocked people on stage" warning ask "did A block B?" synchronously. Every
moderator and admin action is written to ``audit_log``.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, or_, select

from podium.bus import Message
from podium.clock import Clock
from podium.domain import commands as c
from podium.domain.commands import EventType, RoomEvent
from podium.domain.roles import Role, is_moderator, may_act_on
from podium.domain.state import RoomState
from podium.services.accounts import Account, AccountService
from podium.services.errors import Forbidden, Invalid, NotFound, ServiceError
from podium.services.live import LiveRoom
from podium.services.ports import Connections
from podium.services.ratelimit import RateLimiter
from podium.services.reports import ReportService, at
from podium.services.rooms import RoomService
from podium.services.social import SocialService
from podium.services.text import TextError, clean_text
from podium.storage.db import Database
from podium.storage.tables import AuditEntry, Block, Follow, RoomBan

log = logging.getLogger(__name__)
MAX_BAN_MINUTES = 525_600  # a year; no duration means for good (while the room lives)

# Room commands that are moderator actions, and the audit action each is recorded as.
AUDITED: dict[type, str] = {
    c.InviteToSpeak: "invite_to_speak", c.MoveToAudience: "move_to_audience",
    c.MakeModerator: "make_moderator", c.RevokeModerator: "revoke_moderator",
    c.Mute: "mute", c.AllowUser: "allow_user", c.SetHandPolicy: "set_hand_policy",
    c.EndRoom: "end_room", c.LowerHand: "lower_hand",
}


class BlockSet:
    """blocker -> {blocked}."""

    def __init__(self) -> None:
        self.out: defaultdict[int, set[int]] = defaultdict(set)

    def blocks(self, blocker_id: int, blocked_id: int) -> bool:
        out = self.out.get(blocker_id)
        return out is not None and blocked_id in out

    def add(self, blocker_id: int, blocked_id: int) -> None:
        self.out[blocker_id].add(blocked_id)

    def remove(self, blocker_id: int, blocked_id: int) -> None:
        self.out.get(blocker_id, set()).discard(blocked_id)


class ModerationService:
    def __init__(self, db: Database, clock: Clock, accounts: AccountService, rooms: RoomService,
                 social: SocialService, gateway: Connections, limiter: RateLimiter) -> None:
        self.db = db
        self.clock = clock
        self.accounts = accounts
        self.rooms = rooms
        self.social = social
        self.gateway = gateway
        self.limiter = limiter
        self.blocks = BlockSet()
        self.reports = ReportService(self)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def start(self) -> None:
        async with self.db.transaction() as s:
            rows = (await s.execute(select(Block.blocker_id, Block.blocked_id))).all()
        for blocker, blocked in rows:
            self.blocks.add(blocker, blocked)
        self.rooms.blocks = self.blocks
        self.social.blocks = self.blocks
        self.rooms.bus.subscribe("cluster", self._on_shared)
        self.rooms.is_banned = self.is_banned
        self.rooms.command_hooks.append(self._audit_command)
        self.rooms.event_hooks.append(self._remove_blocked_by_new_moderators)

    # The audit log ---------------------------------------------------------------

    async def audit(self, actor_id: int | None, action: str, target_id: int | None = None,
                    room_id: str | None = None, report_id: int | None = None,
                    detail: dict[str, object] | None = None) -> None:
        async with self.db.transaction() as s:
            s.add(AuditEntry(actor_id=actor_id, action=action, target_id=target_id,
                             room_id=room_id, report_id=report_id,
                             detail=json.dumps(detail or {}, sort_keys=True)[:1000],
                             created_at=self.now()))

    async def _audit_command(self, live: LiveRoom, command: c.Command,
                             events: list[RoomEvent]) -> None:
        action = AUDITED.get(type(command))
        if action is None or not events:
            return
        actor = getattr(command, "actor", None)
        target = getattr(command, "target", None)
        if isinstance(command, c.LowerHand) and target in (None, actor):
            return  # lowering your own hand is not a moderator action
        if isinstance(command, c.EndRoom) and command.reason is not None:
            return  # the service ended it (a suspension), audited there
        detail: dict[str, object] = {}
        if isinstance(command, c.SetHandPolicy):
            detail["policy"] = command.policy
        await self.audit(actor, action, target, live.room_id, detail=detail)

    async def audit_page(self, offset: int, limit: int) -> dict[str, object]:
        async with self.db.transaction() as s:
            total = await s.scalar(select(func.count()).select_from(AuditEntry))
            rows = (await s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())
                                    .offset(offset).limit(limit))).all()
        ids = {u for r in rows for u in (r.actor_id, r.target_id) if u is not None}
        names = await self.reports.usernames(ids)
        return {"total": int(total or 0), "offset": offset, "limit": limit, "entries": [
            {"id": r.id, "action": r.action, "at": at(r.created_at),
             "actor": names.get(r.actor_id) if r.actor_id else None,
             "target": names.get(r.target_id) if r.target_id else None,
             "room_id": r.room_id, "report_id": r.report_id,
             "detail": json.loads(r.detail or "{}")} for r in rows]}

    # Room bans -------------------------------------------------------------------

    async def is_banned(self, room_id: str, user_id: int) -> bool:
        async with self.db.transaction() as s:
            ban = await s.get(RoomBan, (room_id, user_id))
        if ban is None:
            return False
        return ban.expires_at is None or (at(ban.expires_at) or 0.0) > self.clock.now()

    def _moderating(self, room_id: str, actor: Account) -> LiveRoom:
        live = self.rooms.get(room_id)
        if not is_moderator(live.state.role_of(actor.id)):
            raise Forbidden("forbidden", "Only a moderator can do that.")
        return live

    async def ban(self, room_id: str, actor: Account, target_id: int,
                  minutes: int | None) -> dict[str, object]:
        """Remove ``target_id`` from the room and keep them out for ``minutes`` (or for good)."""
        live = self._moderating(room_id, actor)
        if minutes is not None and not 0 < minutes <= MAX_BAN_MINUTES:
            raise Invalid("invalid_duration", "Bans last 1 to 525600 minutes, or for good.")
        if target_id == actor.id:
            raise Invalid("invalid_target", "You cannot remove yourself; leave instead.")
        if not may_act_on(actor.id, target_id, live.state.host_id):
            raise Forbidden("forbidden", "Nobody can remove the host from their room.")
        target = await self.accounts.get(target_id)
        expires = self.now() + timedelta(minutes=minutes) if minutes else None
        async with self.db.transaction() as s:
            ban = await s.get(RoomBan, (room_id, target.id))
            if ban is None:
                s.add(RoomBan(room_id=room_id, user_id=target.id, banned_by_id=actor.id,
                              created_at=self.now(), expires_at=expires))
            else:
                ban.banned_by_id, ban.created_at, ban.expires_at = actor.id, self.now(), expires
        # The ban is in place before the removal: a quick rejoin is already refused.
        await self.rooms.execute(room_id, c.RemoveMember(actor.id, target.id))
        await self.audit(actor.id, "room_ban", target.id, room_id, detail={"minutes": minutes})
        return {"user_id": target.id, "expires_at": at(expires)}

    async def unban(self, room_id: str, actor: Account, target_id: int) -> None:
        self._moderating(room_id, actor)
        async with self.db.transaction() as s:
            result = await s.execute(delete(RoomBan).where(RoomBan.room_id == room_id,
                                                           RoomBan.user_id == target_id))
        if not getattr(result, "rowcount", 0):
            raise NotFound("not_banned", "That person is not banned from this room.")
        await self.audit(actor.id, "room_unban", target_id, room_id)

    async def bans(self, room_id: str, actor: Account) -> list[dict[str, object]]:
        self._moderating(room_id, actor)
        now = self.now()
        async with self.db.transaction() as s:
            rows = (await s.scalars(select(RoomBan).where(
                RoomBan.room_id == room_id,
                or_(RoomBan.expires_at.is_(None), RoomBan.expires_at > now)))).all()
        names = await self.reports.usernames({r.user_id for r in rows})
        return [{"user_id": r.user_id, "username": names.get(r.user_id),
                 "expires_at": at(r.expires_at)} for r in rows]

    # Blocks ----------------------------------------------------------------------

    async def block(self, actor: Account, username: str) -> dict[str, object]:
        target = await self.accounts.by_username(username)
        if target.id == actor.id:
            raise Invalid("cannot_block_self", "You cannot block yourself.")
        if not self.blocks.blocks(actor.id, target.id):
            async with self.db.transaction() as s:
                if await s.get(Block, (actor.id, target.id)) is None:
                    s.add(Block(blocker_id=actor.id, blocked_id=target.id,
                                created_at=self.now()))
                # Follows either way end with a block.
                await s.execute(delete(Follow).where(or_(
                    (Follow.follower_id == actor.id) & (Follow.followee_id == target.id),
                    (Follow.follower_id == target.id) & (Follow.followee_id == actor.id))))
            self.blocks.add(actor.id, target.id)
            self.social.graph.remove(actor.id, target.id)
            self.social.graph.remove(target.id, actor.id)
            await self.social.share("block", actor.id, target.id)
        await self._after_block(actor, target)
        return {"blocked": True, "user_id": target.id}

    async def unblock(self, actor: Account, username: str) -> dict[str, object]:
        target = await self.accounts.by_username(username)
        async with self.db.transaction() as s:
            await s.execute(delete(Block).where(Block.blocker_id == actor.id,
                                                Block.blocked_id == target.id))
        self.blocks.remove(actor.id, target.id)
        await self.social.share("unblock", actor.id, target.id)
        await self._after_block(actor, target)
        return {"blocked": False, "user_id": target.id}

    def _on_shared(self, message: Message) -> None:
        """Blocks made on another node (see SocialService.share)."""
        if message["type"] == "block":
            self.blocks.add(int(message["a"]), int(message["b"]))
        elif message["type"] == "unblock":
            self.blocks.remove(int(message["a"]), int(message["b"]))

    async def _after_block(self, actor: Account, target: Account) -> None:
        """The blocker's stage warning and live hallway follow at once: the target's rooms are
        announced again, and each viewer's hallway filter drops (or restores) them."""
        self.gateway.refresh_blocked_for(actor.id)
        for live in list(self.rooms.rooms.values()):
            if live.info.host_id == target.id:
                await self.rooms.announce(live)

    async def _remove_blocked_by_new_moderators(self, live: LiveRoom, before: RoomState,
                                                events: list[RoomEvent]) -> None:
        """Someone who became a moderator (promoted, succeeding, the host back): the people
        they blocked may not be in the room, as they could not join it (the host stays)."""
        for event in events:
            user_id = event.data.get("user_id")
            if (event.type not in (EventType.ROLE_CHANGED, EventType.MEMBER_JOINED)
                    or event.data.get("role") != Role.MODERATOR.value
                    or not isinstance(user_id, int) or is_moderator(before.role_of(user_id))):
                continue
            for target in [u for u in live.state.members if u != live.state.host_id
                           and self.blocks.blocks(user_id, u)]:
                try:
                    await self.rooms.execute(live.room_id,
                                             c.RemoveMember(user_id, target, reason="blocked"))
                except ServiceError:
                    return  # no longer a moderator (or the room ended) meanwhile: nothing to do

    async def blocked_people(self, actor: Account) -> list[dict[str, object]]:
        ids = sorted(self.blocks.out.get(actor.id, set()))
        names = await self.reports.usernames(set(ids))
        return [{"id": i, "username": names.get(i)} for i in ids]

    # Suspension ------------------------------------------------------------------

    async def set_suspended(self, admin: Account, username: str, suspended: bool,
                            note: str = "") -> dict[str, object]:
        try:
            note = clean_text(note, max_length=1000, min_length=0, multiline=True)
        except TextError:
            raise Invalid("invalid_note", "Notes are at most 1000 characters.") from None
        target = await self.accounts.by_username(username)
        if target.id == admin.id and suspended:
            raise Invalid("cannot_suspend_self", "You cannot suspend yourself.")
        await self.accounts.set_suspended(target.id, suspended)
        ended: list[str] = []
        if suspended:
            ended = await self._take_effect(target.id)
        await self.audit(admin.id, "suspend" if suspended else "reinstate", target.id,
                         detail={"note": note, "rooms_ended": ended})
        return {"user_id": target.id, "suspended": suspended, "rooms_ended": ended}

    async def _take_effect(self, user_id: int) -> list[str]:
        """Everywhere at once: rooms they host end, media gone. (Their sockets were closed with
        4003 by the suspension itself: ``AccountService.set_suspended``.)"""
        ended = []
        for live in list(self.rooms.rooms.values()):
            try:
                if live.info.host_id == user_id:
                    await self.rooms.execute(live.room_id, c.EndRoom(user_id, "host_suspended"))
                    ended.append(live.room_id)
                elif user_id in live.state.members:
                    await self.rooms.execute(live.room_id, c.Leave(user_id))
                    await self.rooms.media.disconnect(live.room_id, user_id)
            except Exception:  # noqa: BLE001 - one room must not stop the rest
                log.exception("suspension in room %s", live.room_id)
        return ended

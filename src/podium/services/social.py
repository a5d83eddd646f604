"""Follows, pings, and the notifications that rooms give rise to.

The follow graph is kept in memory as well as in the database: room admission (social rooms),
the hallway (filtered and ranked per viewer, also for live frames) and ping rules ask "does A
follow B?" many times a second, synchronously. The database stays the authority; the graph is
loaded at start and changed only after a commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from podium.bus import Message
from podium.clock import Clock
from podium.domain.commands import EventType, RoomEvent
from podium.domain.roles import Role
from podium.domain.state import RoomState
from podium.services.accounts import Account, AccountService
from podium.services.errors import Forbidden, Invalid, NotFound
from podium.services.live import LiveRoom
from podium.services.notifications import Note, NotificationService
from podium.services.rooms import Blocks, NoBlocks, RoomService
from podium.storage.db import Database
from podium.storage.tables import Avatar, Follow, User


class FollowGraph:
    """follower -> {followee: notify?} and followee -> {followers}."""

    def __init__(self) -> None:
        self.following: defaultdict[int, dict[int, bool]] = defaultdict(dict)
        self.followers: defaultdict[int, set[int]] = defaultdict(set)

    def follows(self, follower_id: int, followee_id: int) -> bool:
        out = self.following.get(follower_id)
        return out is not None and followee_id in out

    def notify(self, follower_id: int, followee_id: int) -> bool | None:
        return self.following.get(follower_id, {}).get(followee_id)

    def add(self, follower_id: int, followee_id: int, notify: bool) -> None:
        self.following[follower_id][followee_id] = notify
        self.followers[followee_id].add(follower_id)

    def remove(self, follower_id: int, followee_id: int) -> None:
        self.following.get(follower_id, {}).pop(followee_id, None)
        self.followers.get(followee_id, set()).discard(follower_id)

    def to_notify(self, followee_id: int) -> list[int]:
        """Followers who asked to be told when this person starts a room or takes the stage."""
        return sorted(f for f in self.followers.get(followee_id, ())
                      if self.following[f].get(followee_id))

    def counts(self, user_id: int) -> tuple[int, int]:
        return len(self.followers.get(user_id, ())), len(self.following.get(user_id, ()))


# Repeating an action is no way to flood someone's notifications: "X followed you" at most once
# a day per pair (unfollowing and following again is not news), and an invitation to speak in
# a room once in ten minutes however often it is declined and made again.
FOLLOW_QUIET = timedelta(days=1)
INVITE_QUIET = timedelta(minutes=10)
# What a notification asked for is done: on stage (or the invitation declined), or in the room.
SETTLED_ON_STAGE = ("speak_invite",)
SETTLED_ON_JOIN = ("ping", "followed_started_room", "followed_on_stage", "event_live")


def avatar_url(username: str, etag: str | None) -> str | None:
    return f"/api/v1/users/{username}/avatar?v={etag}" if etag else None


class SocialService:
    def __init__(self, db: Database, clock: Clock, accounts: AccountService, rooms: RoomService,
                 notifications: NotificationService) -> None:
        self.db = db
        self.clock = clock
        self.accounts = accounts
        self.rooms = rooms
        self.notifications = notifications
        self.graph = FollowGraph()
        self.blocks: Blocks = NoBlocks()  # the moderation service sets its own
        self._pinged: set[tuple[str, int, int]] = set()
        self._announced_on_stage: set[tuple[str, int]] = set()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def start(self) -> None:
        async with self.db.transaction() as s:
            rows = (await s.execute(select(Follow.follower_id, Follow.followee_id,
                                           Follow.notify))).all()
        for follower, followee, notify in rows:
            self.graph.add(follower, followee, notify)
        self.rooms.follows = self.graph
        self.rooms.bus.subscribe("cluster", self._on_shared)
        self.rooms.start_hooks.append(self._room_started)
        self.rooms.event_hooks.append(self._room_events)

    # Follows -------------------------------------------------------------------

    async def _target(self, username: str) -> Account:
        target = await self.accounts.by_username(username)
        if target.suspended:
            raise NotFound("user_not_found", "No such member.")
        return target

    async def visible(self, viewer: Account, username: str) -> Account:
        """A member as others may look them up: a suspended one is unknown (as a name nobody
        has), except to admins."""
        user = await self.accounts.by_username(username)
        if user.suspended and not viewer.is_admin:
            raise NotFound("user_not_found", "No such member.")
        return user

    async def follow(self, actor: Account, username: str, notify: bool = True) -> dict[str, object]:
        target = await self._target(username)
        if target.id == actor.id:
            raise Invalid("cannot_follow_self", "You cannot follow yourself.")
        if self.blocks.blocks(target.id, actor.id):
            raise Forbidden("blocked", "You cannot follow this member.")
        created = False
        if not self.graph.follows(actor.id, target.id):
            try:
                async with self.db.transaction() as s:
                    s.add(Follow(follower_id=actor.id, followee_id=target.id, notify=notify,
                                 created_at=self._now()))
                created = True
            except IntegrityError:
                pass  # followed meanwhile (another request): the same outcome
            self.graph.add(actor.id, target.id, notify)
            await self.share("follow", actor.id, target.id, notify)
        if created:
            await self.notifications.send([target.id], Note(
                "new_follower", f"{actor.display_name} (@{actor.username}) followed you.",
                actor_id=actor.id), quiet=FOLLOW_QUIET)
        return self.relation(actor.id, target.id)

    async def unfollow(self, actor: Account, username: str) -> dict[str, object]:
        target = await self.accounts.by_username(username)
        async with self.db.transaction() as s:
            await s.execute(delete(Follow).where(Follow.follower_id == actor.id,
                                                 Follow.followee_id == target.id))
        self.graph.remove(actor.id, target.id)
        await self.share("unfollow", actor.id, target.id)
        return self.relation(actor.id, target.id)

    async def set_notify(self, actor: Account, username: str, notify: bool) -> dict[str, object]:
        target = await self.accounts.by_username(username)
        if not self.graph.follows(actor.id, target.id):
            raise NotFound("not_following", "You do not follow this member.")
        async with self.db.transaction() as s:
            await s.execute(update(Follow).where(Follow.follower_id == actor.id,
                                                 Follow.followee_id == target.id)
                            .values(notify=notify))
        self.graph.add(actor.id, target.id, notify)
        await self.share("follow", actor.id, target.id, notify)
        return self.relation(actor.id, target.id)

    async def share(self, kind: str, a: int, b: int, notify: bool = False) -> None:
        """Other nodes keep the follow graph in memory too: tell them (topic ``cluster``)."""
        await self.rooms.bus.publish("cluster", {"type": kind, "a": a, "b": b, "notify": notify})

    def _on_shared(self, message: Message) -> None:
        a, b = int(message["a"]), int(message["b"])
        if message["type"] == "follow":
            self.graph.add(a, b, bool(message["notify"]))
        elif message["type"] in ("unfollow", "block"):  # a block ends follows either way
            self.graph.remove(a, b)
            if message["type"] == "block":
                self.graph.remove(b, a)

    def relation(self, viewer_id: int, other_id: int) -> dict[str, object]:
        followers, following = self.graph.counts(other_id)
        return {"following": self.graph.follows(viewer_id, other_id),
                "follows_you": self.graph.follows(other_id, viewer_id),
                "notify": self.graph.notify(viewer_id, other_id),
                "followers_count": followers, "following_count": following}

    async def people(self, viewer: Account, username: str, direction: str, offset: int,
                     limit: int) -> dict[str, object]:
        """Someone's followers (``direction="followers"``) or who they follow, newest first."""
        user = await self.visible(viewer, username)
        mine, theirs = ((Follow.followee_id, Follow.follower_id) if direction == "followers"
                        else (Follow.follower_id, Follow.followee_id))
        async with self.db.transaction() as s:
            total = await s.scalar(select(func.count()).select_from(Follow).where(mine == user.id))
            rows = (await s.execute(
                select(User, Avatar.etag).join(Follow, theirs == User.id)
                .outerjoin(Avatar, Avatar.user_id == User.id)
                .where(mine == user.id)
                .order_by(Follow.created_at.desc(), User.id.desc())
                .offset(offset).limit(limit))).all()
        return {"total": int(total or 0), "offset": offset, "limit": limit,
                "people": [self.person(viewer.id, u, etag) for u, etag in rows]}

    def person(self, viewer_id: int, user: User, etag: str | None) -> dict[str, object]:
        return {"id": user.id, "username": user.username, "display_name": user.display_name,
                "avatar_url": avatar_url(user.username, etag),
                "following": self.graph.follows(viewer_id, user.id),
                "follows_you": self.graph.follows(user.id, viewer_id)}

    # Pings ---------------------------------------------------------------------

    async def ping(self, room_id: str, actor: Account, target_id: int) -> dict[str, object]:
        """Ask someone into the room you are in: the rules are ``domain.roles.may_ping``."""
        try:
            target = await self.accounts.get(target_id)
        except NotFound:
            raise NotFound("user_not_found", "No such member.") from None
        if target.suspended:
            raise NotFound("user_not_found", "No such member.")
        if self.blocks.blocks(target.id, actor.id):
            raise Forbidden("blocked", "You cannot ping this member.")
        live = await self.rooms.ping(room_id, actor, target.id)
        key = (room_id, actor.id, target.id)
        notified = key not in self._pinged
        if notified:  # once per room, pinger and person: a ping is not a way to spam someone
            self._pinged.add(key)
            await self.notifications.send([target.id], Note(
                "ping", f"{actor.display_name} pinged you to join “{live.info.title}”.",
                actor_id=actor.id, room_id=room_id))
        return {"ok": True, "notified": notified}

    # What rooms give rise to -----------------------------------------------------

    async def announce(self, live: LiveRoom, exclude: Iterable[int] = ()) -> None:
        """Tell the host's followers (who asked, and may join) that a room started."""
        skip = set(exclude)
        host = await self.accounts.get(live.info.host_id)
        to = [f for f in self.graph.to_notify(host.id)
              if f not in skip and self.rooms.may_see(live, f)]
        await self.notifications.send(to, Note(
            "followed_started_room", f"{host.display_name} started “{live.info.title}”.",
            actor_id=host.id, room_id=live.room_id))

    async def _room_started(self, live: LiveRoom, announce: bool) -> None:
        if announce:
            await self.announce(live)

    async def _room_events(self, live: LiveRoom, before: RoomState,
                           events: list[RoomEvent]) -> None:
        for event in events:
            if event.type is EventType.SPEAK_INVITED and event.subject is not None:
                by = before.member(int(str(event.data.get("by"))))
                name = by.display_name if by else "A moderator"
                await self.notifications.send([event.subject], Note(
                    "speak_invite", f"{name} invited you to speak in “{live.info.title}”.",
                    actor_id=by.user_id if by else None, room_id=live.room_id),
                    quiet=INVITE_QUIET, any_actor=True)
            elif event.type is EventType.ROLE_CHANGED and event.subject is not None:
                await self._took_stage(live, before, event)
                if event.data.get("role") != Role.LISTENER.value:  # the invitation is done
                    await self._settle(event.subject, live.room_id, SETTLED_ON_STAGE)
            elif event.type is EventType.INVITE_DECLINED and event.subject is not None:
                await self._settle(event.subject, live.room_id, SETTLED_ON_STAGE)
            elif event.type is EventType.MEMBER_JOINED and event.subject is not None:
                await self._settle(event.subject, live.room_id, SETTLED_ON_JOIN)
            elif event.type is EventType.ROOM_ENDED:
                self._forget(live.room_id)
                self.notifications.forget_room(live.room_id)

    async def _settle(self, user_id: int, room_id: str, kinds: tuple[str, ...]) -> None:
        if self.notifications.has_unsettled(user_id, room_id, kinds):
            await self.notifications.settle(user_id, room_id, kinds)

    async def _took_stage(self, live: LiveRoom, before: RoomState, event: RoomEvent) -> None:
        user_id = event.subject
        assert user_id is not None
        was = before.role_of(user_id)
        if was not in (None, Role.LISTENER) or event.data.get("role") == Role.LISTENER.value:
            return
        if (live.room_id, user_id) in self._announced_on_stage:
            return  # once per room: stepping down and up again is not news
        self._announced_on_stage.add((live.room_id, user_id))
        state = live.state
        to = [f for f in self.graph.to_notify(user_id)
              if f not in state.members and self.rooms.may_see(live, f)]
        name = str(event.data.get("display_name", "Someone"))
        await self.notifications.send(to, Note(
            "followed_on_stage", f"{name} is speaking in “{live.info.title}”.",
            actor_id=user_id, room_id=live.room_id))

    def _forget(self, room_id: str) -> None:
        self._pinged = {k for k in self._pinged if k[0] != room_id}
        self._announced_on_stage = {k for k in self._announced_on_stage if k[0] != room_id}

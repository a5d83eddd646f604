"""Room actions: every change to a room goes through ``RoomService.execute``.

Live room state is held in memory (one writer per room at a time, under its lock); the database
keeps the durable facts (the room, its end, who was let into a closed room). Each change ends as
one entry of the room's log (``podium.services.roomlog``): published at once on a single node,
or appended to Redis and applied by every node's copy of the room when there are several. Events
go out only after the database commit, each with the room's next revision number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import select, update

from podium.bus import EventBus, Message
from podium.clock import Clock
from podium.config import Settings
from podium.domain import commands as c
from podium.domain.codec import decode_state
from podium.domain.commands import EventType, RoomError, RoomEvent
from podium.domain.roles import RoomKind, RoomStatus, may_join, refusal
from podium.domain.room import apply, new_room
from podium.domain.state import RoomState
from podium.domain.views import audience, snapshot
from podium.media.engine import MediaEngine, MediaEngineError, SessionDescription
from podium.services.accounts import Account
from podium.services.credentials import Credential, Ended, ends_any
from podium.services.errors import (
    Forbidden,
    Invalid,
    NotFound,
    TooMany,
    Unauthorized,
    from_room_error,
)
from podium.services.live import AudienceBatch, Entry, LiveRoom, RoomInfo
from podium.services.roomlog import LocalRoomLog, RoomLog
from podium.storage.db import Database
from podium.storage.tables import Room, RoomAccess, User

log = logging.getLogger(__name__)
SPEAKING_LEVEL = 0.08  # audio level above which someone counts as speaking
SPEAKING_INTERVAL = 0.2  # at most five "speaking" events a second per room
HALLWAY_INTERVAL = 1.0
ENDS_KEPT_SECONDS = 600.0  # how long an ended credential still stops an offer in flight


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class Follows(Protocol):
    """Who follows whom, answered from memory (the social service keeps it current)."""

    def follows(self, follower_id: int, followee_id: int) -> bool: ...


class NoFollows:
    def follows(self, follower_id: int, followee_id: int) -> bool:
        return False


class Blocks(Protocol):
    """Who blocked whom, answered from memory (the moderation service keeps it current)."""

    def blocks(self, blocker_id: int, blocked_id: int) -> bool: ...


class NoBlocks:
    def blocks(self, blocker_id: int, blocked_id: int) -> bool:
        return False


# Called after a command's events went out (outside the room's lock), and when a room starts.
EventHook = Callable[[LiveRoom, RoomState, list[RoomEvent]], Awaitable[None]]
StartHook = Callable[[LiveRoom, bool], Awaitable[None]]
# Called after a command changed a room (outside the lock), with the command itself: the audit.
CommandHook = Callable[[LiveRoom, c.Command, list[RoomEvent]], Awaitable[None]]
# Is this member banned from this room now? (moderation looks it up in the database)
BanCheck = Callable[[str, int], Awaitable[bool]]


class RoomService:
    def __init__(self, db: Database, bus: EventBus, media: MediaEngine, clock: Clock,
                 settings: Settings) -> None:
        self.db = db
        self.bus = bus
        self.media = media
        self.clock = clock
        self.settings = settings
        self.rooms: dict[str, LiveRoom] = {}
        self.follows: Follows = NoFollows()
        self.blocks: Blocks = NoBlocks()
        self.is_banned: BanCheck | None = None
        self.command_hooks: list[CommandHook] = []
        self.event_hooks: list[EventHook] = []
        self.start_hooks: list[StartHook] = []
        self.tickers: list[Callable[[], Awaitable[None]]] = []
        self.log: RoomLog = LocalRoomLog(bus)
        media.set_callbacks(self._on_levels, self._on_peer_gone)
        # Admission for audio set-up: a storm of joins waits its turn here, in order, instead
        # of every negotiation competing at once with the audio of those already listening.
        self._setups = asyncio.Semaphore(settings.media_setup_concurrency)
        self.setups_waiting = 0
        # Credentials that ended lately (monotonic time, what ended): an offer that was waiting
        # or negotiating when its credential ended must not connect afterwards.
        self._recent_ends: list[tuple[float, list[Ended]]] = []

    async def start(self) -> None:
        loaded = await self.log.start(self)
        # Live state lives in memory (and, with several nodes, in Redis): rooms left live by a
        # previous run that no node holds any more are over.
        async with self.db.transaction() as s:
            await s.execute(update(Room).where(Room.status == RoomStatus.LIVE.value,
                                               Room.id.not_in(loaded))
                            .values(status=RoomStatus.ENDED.value, ended_at=_dt(self.clock.now()),
                                    end_reason="server_restart"))

    async def close(self) -> None:
        await self.log.close()
        for live in list(self.rooms.values()):
            if live.flush_handle:
                live.flush_handle.cancel()
            if not self.log.shared:  # with several nodes the room goes on without us
                await self.media.close_room(live.room_id)
        self.rooms.clear()

    def replica(self, info: dict[str, object], state: dict[str, object], rev: int) -> LiveRoom:
        """This node's copy of a room another node started (see realtime/redis_roomlog)."""
        room_info = RoomInfo(str(info["room_id"]), str(info["title"]), str(info["description"]),
                             str(info["kind"]), int(str(info["host_id"])),
                             float(str(info["created_at"])))
        return LiveRoom(room_info, decode_state(state), rev=rev)

    # Creating and finding rooms ------------------------------------------------

    async def create(self, host: Account, title: str, description: str, kind: str,
                     allowed: frozenset[int] = frozenset(), announce: bool = True,
                     recording: bool = False) -> LiveRoom:
        """Start a room. ``allowed`` are let in from the start (an event's co-hosts and the
        people who asked to be told); ``announce`` tells the host's followers."""
        title = " ".join(title.split())
        if not 1 <= len(title) <= 100:
            raise Invalid("invalid_title", "Titles are 1 to 100 characters.")
        if len(description) > 500:
            raise Invalid("invalid_description", "Descriptions are at most 500 characters.")
        try:
            room_kind = RoomKind(kind)
        except ValueError:
            raise Invalid("invalid_kind", "Room type is 'open', 'social' or 'closed'.") from None
        hosted = sum(1 for r in self.rooms.values() if r.info.host_id == host.id)
        if hosted >= self.settings.max_rooms_per_user:
            raise TooMany("too_many_rooms", "End one of your live rooms before starting another.")
        now = self.clock.now()
        room_id = secrets.token_hex(6)
        allowed = allowed - {host.id} if room_kind is not RoomKind.OPEN else frozenset()
        async with self.db.transaction() as s:
            s.add(Room(id=room_id, title=title, description=description, kind=room_kind.value,
                       status=RoomStatus.LIVE.value, host_id=host.id, created_at=_dt(now)))
            await s.flush()
            s.add_all(RoomAccess(room_id=room_id, user_id=u, granted_by_id=host.id,
                                 created_at=_dt(now)) for u in sorted(allowed))
        info = RoomInfo(room_id, title, description, room_kind.value, host.id, now)
        live = LiveRoom(info, new_room(room_id, host.id, room_kind, now,
                                       self.settings.empty_room_grace_seconds, allowed,
                                       recording))
        self.rooms[room_id] = live
        await self.log.created(live)
        await self.announce(live)
        for hook in self.start_hooks:
            await self._run_hook(hook(live, announce))
        return live

    async def _run_hook(self, call: Awaitable[None]) -> None:
        try:
            await call
        except Exception:  # noqa: BLE001 - a failed notification must not fail the room
            log.exception("room hook failed")

    def get(self, room_id: str) -> LiveRoom:
        live = self.rooms.get(room_id)
        if live is None:
            raise NotFound("room_not_found", "This room does not exist or has ended.")
        return live

    def followed_by_moderator(self, state: RoomState, user_id: int) -> bool:
        """The fact social rooms admit on: a moderator of the room (or its host) follows you."""
        return any(self.follows.follows(m, user_id)
                   for m in state.moderator_ids | {state.host_id})

    def may_see(self, live: LiveRoom, user_id: int) -> bool:
        state = live.state
        if user_id in state.members:
            return True
        return may_join(state.kind, user_id, state.host_id, state.allowed,
                        self.followed_by_moderator(state, user_id))

    def blocked_by_moderator(self, state: RoomState, user_id: int) -> bool:
        return any(self.blocks.blocks(m, user_id) for m in state.moderator_ids)

    def listed_for(self, live: LiveRoom, viewer_id: int) -> bool:
        """In this viewer's hallway: rooms they may see, except those hosted by someone they
        blocked."""
        return (self.may_see(live, viewer_id)
                and not self.blocks.blocks(viewer_id, live.info.host_id))

    def blocked_on_stage(self, live: LiveRoom, viewer_id: int) -> list[int]:
        """People on stage whom this viewer blocked (the client shows a warning)."""
        return [m.user_id for m in live.state.stage if self.blocks.blocks(viewer_id, m.user_id)]

    def followed_on_stage(self, live: LiveRoom, viewer_id: int) -> list[int]:
        return [m.user_id for m in live.state.stage if self.follows.follows(viewer_id, m.user_id)]

    def hallway_entry(self, live: LiveRoom, viewer_id: int) -> dict[str, object]:
        """The room as the hallway lists it for this viewer (who they follow on stage)."""
        return {**live.summary(), "followed_on_stage": self.followed_on_stage(live, viewer_id),
                "blocked_on_stage": self.blocked_on_stage(live, viewer_id)}

    def hallway_page(self, account: Account, offset: int = 0,
                     limit: int = 100) -> dict[str, object]:
        """Live rooms this member may join: rooms where people they follow are on stage first
        (most such people first), then biggest, then newest."""
        ranked = []
        for live in self.rooms.values():
            if live.state.live and self.listed_for(live, account.id):
                followed = len(self.followed_on_stage(live, account.id))
                ranked.append(((-followed, -len(live.state.members), -live.info.created_at,
                                live.room_id), live))
        ranked.sort(key=lambda pair: pair[0])
        page = [self.hallway_entry(live, account.id) for _, live in ranked[offset:offset + limit]]
        return {"rooms": page, "total": len(ranked), "offset": offset, "limit": limit}

    def hallway(self, account: Account) -> list[dict[str, object]]:
        rooms: list[dict[str, object]] = self.hallway_page(account)["rooms"]  # type: ignore[assignment]
        return rooms

    def _refuse(self, live: LiveRoom) -> Forbidden:
        return Forbidden("not_invited", refusal(live.state.kind))

    def view(self, room_id: str, viewer: Account) -> dict[str, object]:
        live = self.get(room_id)
        if not self.may_see(live, viewer.id):
            raise self._refuse(live)
        return self.snapshot(live, viewer.id)

    def snapshot(self, live: LiveRoom, viewer_id: int) -> dict[str, object]:
        return {**live.summary(), **snapshot(live.state, viewer_id), "rev": live.rev,
                "speaking": sorted(live.speaking),
                "blocked_on_stage": self.blocked_on_stage(live, viewer_id)}

    def audience_page(self, room_id: str, viewer: Account, offset: int,
                      limit: int) -> dict[str, object]:
        live = self.get(room_id)
        if not self.may_see(live, viewer.id):
            raise self._refuse(live)
        page = audience(live.state, offset, limit)
        return {"count": live.state.audience_count, "offset": offset,
                "members": [m.public() for m in page]}

    # Commands ------------------------------------------------------------------

    async def join(self, room_id: str, account: Account, holder: str | None) -> LiveRoom:
        live = self.get(room_id)
        followed = self.followed_by_moderator(live.state, account.id)
        banned = (account.id not in live.state.members and self.is_banned is not None
                  and await self.is_banned(room_id, account.id))
        await self.execute(room_id, c.Join(account.id, account.username, account.display_name,
                                           followed, banned,
                                           self.blocked_by_moderator(live.state, account.id)))
        self.attach(live, account.id, holder)
        return live

    async def ping(self, room_id: str, actor: Account, target_id: int) -> LiveRoom:
        """Ask someone to come; lets them into a social or closed room (rules in the domain)."""
        live = self.get(room_id)
        await self.execute(room_id, c.Ping(actor.id, target_id,
                                           self.follows.follows(target_id, actor.id)))
        return live

    async def leave(self, room_id: str, user_id: int) -> None:
        live = self.get(room_id)
        if user_id in live.state.members:
            await self.execute(room_id, c.Leave(user_id))

    @contextlib.asynccontextmanager
    async def _writing(self, live: LiveRoom) -> AsyncIterator[Entry]:
        """Exclusive write access to a room; what the body records goes out as one entry."""
        async with live.lock, self.log.locked(live):
            entry = live.entry = Entry(now=self.clock.now())
            try:
                yield entry
            finally:
                live.entry = None
            if entry.command is not None or entry.out:
                await self.log.commit(live, entry)

    async def execute(self, room_id: str, command: c.Command) -> list[RoomEvent]:
        """Apply a command to a live room, persist what lasts, then publish its events."""
        live = self.get(room_id)
        async with self._writing(live) as entry:
            before = live.state
            if isinstance(command, c.RaiseHand):
                # The fact the "followed" hand policy needs: someone on stage follows them.
                command = replace(command, followed_by_stage=any(
                    self.follows.follows(m.user_id, command.actor) for m in live.state.stage))
            try:
                state, events = apply(live.state, command, entry.now)
            except RoomError as exc:
                raise from_room_error(exc.code, exc.message) from None
            await self._persist(live, events)
            audience_before = live.state.audience_count
            if state is not before:
                entry.command = command  # what the other nodes' copies replay
            live.state = state
            self._publish(live, events, audience_before)
            self._corrections(live)
            await self.after_change(live)
        if events:
            for hook in self.event_hooks:
                await self._run_hook(hook(live, before, events))
        for command_hook in self.command_hooks:
            await self._run_hook(command_hook(live, command, events))
        return events

    async def _persist(self, live: LiveRoom, events: list[RoomEvent]) -> None:
        for event in events:
            if event.type is EventType.ROOM_ENDED:
                async with self.db.transaction() as s:
                    await s.execute(update(Room).where(Room.id == live.room_id).values(
                        status=RoomStatus.ENDED.value, ended_at=_dt(self.clock.now()),
                        end_reason=str(event.data.get("reason", ""))))
            elif event.type is EventType.USER_ALLOWED:
                async with self.db.transaction() as s:
                    # Checked here, before the new state is installed: an unknown id is refused.
                    user = await s.get(User, event.subject)
                    if user is None or user.suspended:
                        raise NotFound("user_not_found", "No such member.")
                    if await s.get(RoomAccess, (live.room_id, event.subject)) is None:
                        s.add(RoomAccess(room_id=live.room_id, user_id=event.subject,
                                         granted_by_id=int(str(event.data["by"])),
                                         created_at=_dt(self.clock.now())))

    def _corrections(self, live: LiveRoom) -> None:
        """Messages a change implies beyond its events (made once, by the node that changed)."""
        if not live.state.live:
            self._out(live, "hallway", {"type": "room_removed", "room_id": live.room_id})
        elif live.speaking - live.state.heard:
            # Nobody who is not heard is speaking; the engine reports only heard people.
            live.speaking &= live.state.heard
            self._send(live, {"type": "speaking", "user_ids": sorted(live.speaking)})

    async def after_change(self, live: LiveRoom) -> None:
        """This node's side of a change to a room, wherever it was made: the media engine's
        heard set, ended rooms, connections of people no longer in the room."""
        if not live.state.live:
            self.rooms.pop(live.room_id, None)
            if live.flush_handle:
                live.flush_handle.cancel()
            await self.media.close_room(live.room_id)
            return
        heard = live.state.heard
        if heard != live.heard:
            live.heard = heard
            await self.media.set_heard(live.room_id, heard)
        for user_id in list(live.holders):
            if user_id not in live.state.members:
                live.holders.pop(user_id, None)
                live.absent_since.pop(user_id, None)
                live.gone_at[user_id] = live.rev
                live.media_credentials.pop(user_id, None)
                await self.media.disconnect(live.room_id, user_id)

    # Publishing ----------------------------------------------------------------

    def _publish(self, live: LiveRoom, events: list[RoomEvent],
                 audience_before: int | None = None) -> None:
        urgent = [e for e in events if not e.is_audience_only]
        for event in events:
            if event.is_audience_only:
                live.batch.add(event)
        if urgent:
            # Stage changes go out at once, after any audience changes that came before them.
            self._flush(live)
            for event in urgent:
                self._send(live, event.to_dict(), self._recipients(live, event))
            if (audience_before is not None and live.state.live
                    and audience_before != live.state.audience_count):
                # Someone went on or off stage. Clients know listeners by name only up to a
                # page (and a batch), so they cannot always count that: send the exact count.
                self._send(live, live.batch.take(live.state.audience_count))
        else:
            self._schedule_flush(live)
        self._hallway(live, force=bool(urgent))

    def _schedule_flush(self, live: LiveRoom) -> None:
        if live.batch and live.flush_handle is None and live.state.live:
            loop = asyncio.get_running_loop()
            live.flush_handle = loop.call_later(
                self.settings.audience_coalesce_seconds,
                lambda: asyncio.ensure_future(self._flush_locked(live)))

    def replicated(self, live: LiveRoom, events: list[RoomEvent],
                   out: list[tuple[str, Message]]) -> None:
        """Another node's entry reached this copy: keep the audience batch as that node did,
        so whichever node sends the room's next stage event first sends the audience changes
        made anywhere before it (as one node would)."""
        for event in events:
            if event.is_audience_only:
                live.batch.add(event)
        if any(topic.startswith("room:") and message["event"].get("type") == "audience_changed"
               for topic, message in out):
            live.batch = AudienceBatch()
        self._schedule_flush(live)

    def _recipients(self, live: LiveRoom, event: RoomEvent) -> list[int] | None:
        if not event.private:
            return None
        to = set(live.state.moderator_ids)
        if event.subject is not None:
            to.add(event.subject)
        return sorted(to)

    def _out(self, live: LiveRoom, topic: str, message: Message) -> None:
        entry = live.entry
        if entry is None:
            raise RuntimeError("room messages are made under _writing()")
        entry.out.append((topic, message))

    def _send(self, live: LiveRoom, event: dict[str, object],
              to: list[int] | None = None) -> None:
        live.rev += 1
        self._out(live, f"room:{live.room_id}", {
            "room_id": live.room_id, "rev": live.rev, "event": event, "to": to})

    async def _flush_locked(self, live: LiveRoom) -> None:
        if live.room_id in self.rooms:
            async with self._writing(live):
                self._flush(live)

    def _flush(self, live: LiveRoom) -> None:
        if live.flush_handle:
            live.flush_handle.cancel()
            live.flush_handle = None
        if live.batch:
            self._send(live, live.batch.take(live.state.audience_count))

    def _hallway(self, live: LiveRoom, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - live.summary_sent_at >= HALLWAY_INTERVAL:
            live.summary_sent_at = now
            self._out(live, "hallway", {"type": "room_updated", "room": live.summary()})

    async def broadcast(self, room_id: str, event: dict[str, object]) -> None:
        """A transient event to everyone in a live room (a caption line): no state changes."""
        live = self.rooms.get(room_id)
        if live is None:
            return
        async with self._writing(live):
            if live.room_id in self.rooms and live.state.live:
                self._send(live, event)

    async def announce(self, live: LiveRoom) -> None:
        """List the room in every hallway again now (e.g. after who may see it changed)."""
        if live.room_id in self.rooms:
            async with self._writing(live):
                self._hallway(live, force=True)

    # Presence: who is still connected ----------------------------------------------

    def attach(self, live: LiveRoom, user_id: int, holder: str | None) -> None:
        """Something (a WebSocket, a media peer) keeps this member present."""
        holders = live.holders.setdefault(user_id, set())
        if holder:
            holders.add(holder)
            live.absent_since.pop(user_id, None)
        elif not holders:
            # Joining again over HTTP renews the window: a polling bot stays present.
            live.absent_since[user_id] = self.clock.now()

    def detach(self, room_id: str, user_id: int, holder: str) -> None:
        live = self.rooms.get(room_id)
        if live is None or user_id not in live.holders:
            return
        holders = live.holders[user_id]
        holders.discard(holder)
        if not holders:
            live.absent_since[user_id] = self.clock.now()

    def _last_seen(self, live: LiveRoom, user_id: int, seen: dict[int, float],
                   now: float) -> float | None:
        """When this member was last connected, here (``holders``) or on another node."""
        here = now if live.holders.get(user_id) else live.absent_since.get(user_id)
        times = [t for t in (here, seen.get(user_id)) if t is not None]
        return max(times) if times else None

    async def tick(self) -> None:
        """Remove members gone past the resume window; end rooms whose stage stayed empty.

        With several nodes only the leading one ticks (``RoomLog.leads``)."""
        if not self.log.leads():
            return
        now = self.clock.now()
        window = self.settings.resume_window_seconds
        for live in list(self.rooms.values()):
            seen = await self.log.presence(live)
            for user_id in list(live.state.members):
                last = self._last_seen(live, user_id, seen, now)
                if last is not None and now - last >= window and live.room_id in self.rooms \
                        and user_id in live.state.members:
                    await self.execute(live.room_id, c.Leave(user_id))
            if live.room_id in self.rooms:
                await self.execute(live.room_id, c.Tick())
            if (live.room_id in self.rooms
                    and time.monotonic() - live.summary_sent_at >= HALLWAY_INTERVAL):
                async with self._writing(live):
                    self._hallway(live)
        for ticker in self.tickers:  # e.g. scheduled-event reminders, on the same clock
            await self._run_hook(ticker())

    async def run_ticker(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - the ticker must outlive one bad room
                log.exception("room tick failed")

    # Media -----------------------------------------------------------------------

    async def connect_media(self, room_id: str, user_id: int, sdp: str, kind: str,
                            credential: Credential | None = None) -> SessionDescription:
        """``credential``: what authenticated the offer; the connection ends with it."""
        live = self.get(room_id)
        if user_id not in live.state.members:
            raise Forbidden("not_in_room", "Join the room before connecting audio.")
        if kind != "offer":
            raise Invalid("invalid_sdp", "Send an SDP offer.")
        began = time.monotonic()
        waiting = True
        self.setups_waiting += 1
        try:
            async with self._setups:
                waiting = False
                self.setups_waiting -= 1
                if user_id not in live.state.members or self.rooms.get(room_id) is not live:
                    raise Forbidden("not_in_room", "You left the room while waiting to connect.")
                answer = await self.media.connect(room_id, user_id,
                                                  SessionDescription(sdp, kind))
        except MediaEngineError as exc:
            raise Invalid("invalid_sdp", str(exc)) from None
        finally:
            if waiting:  # cancelled in the queue (the client went away)
                self.setups_waiting -= 1
        if self._ended_since(began, credential, user_id):
            await self.media.disconnect(room_id, user_id)
            raise Unauthorized("signed_out", "Your sign-in ended while connecting: sign in again.")
        live.media_credentials[user_id] = credential
        self.attach(live, user_id, "media")
        return answer

    def _ended_since(self, began: float, credential: Credential | None, user_id: int) -> bool:
        return any(at >= began and ends_any(ended, credential, user_id)
                   for at, ended in self._recent_ends)

    async def end_media(self, ended: list[Ended]) -> None:
        """Credentials stopped working: hang up the audio connections they opened (the member
        then leaves after the resume window, unless they come back signed in)."""
        now = time.monotonic()
        # Kept as long as an offer can wait and negotiate (far longer than it ever should).
        self._recent_ends = [e for e in self._recent_ends if now - e[0] < ENDS_KEPT_SECONDS]
        self._recent_ends.append((now, ended))
        for live in list(self.rooms.values()):
            for user_id, credential in list(live.media_credentials.items()):
                if ends_any(ended, credential, user_id):
                    del live.media_credentials[user_id]
                    await self.media.disconnect(live.room_id, user_id)
                    self.detach(live.room_id, user_id, "media")

    async def _on_peer_gone(self, room_id: str, user_id: int) -> None:
        live = self.rooms.get(room_id)
        if live is not None:
            live.media_credentials.pop(user_id, None)
        self.detach(room_id, user_id, "media")

    async def _on_levels(self, room_id: str, levels: dict[int, float]) -> None:
        live = self.rooms.get(room_id)
        if live is None:
            return
        now = time.monotonic()  # rate limits run on real time, not the room clock
        if (self._speaking(live, levels) != live.speaking
                and now - live.speaking_sent_at >= SPEAKING_INTERVAL):
            live.speaking_sent_at = now
            async with self._writing(live):
                speaking = self._speaking(live, levels)
                if live.room_id in self.rooms and speaking != live.speaking:
                    live.speaking = speaking
                    self._send(live, {"type": "speaking", "user_ids": sorted(speaking)})

    def _speaking(self, live: LiveRoom, levels: dict[int, float]) -> frozenset[int]:
        here = frozenset(u for u, level in levels.items() if level >= SPEAKING_LEVEL)
        if not self.log.shared:
            return here
        # Several nodes: this engine hears only the audio connected to this node; the others
        # speak for theirs.
        local = frozenset(u for u, holders in live.holders.items() if "media" in holders)
        return (live.speaking - local) | here

    async def allowed_rooms(self, user_id: int) -> list[str]:
        async with self.db.transaction() as s:
            rows = await s.scalars(select(RoomAccess.room_id).where(RoomAccess.user_id == user_id))
            return list(rows)

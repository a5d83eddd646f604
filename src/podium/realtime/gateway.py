"""The WebSocket gateway: one authenticated socket per client, numbered events, resume.

Close codes: 4000 heartbeat timeout, 4001 not signed in (or the credential the socket opened
with was revoked, signed out or replaced by a new password), 4003 account suspended, 4008
flooding, 4009 too slow to keep up (resume to catch up), 1009 frame too large. See
docs/realtime.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from podium.bus import EventBus, Message
from podium.realtime.commands import CommandError, dispatch
from podium.realtime.session import ClientSession, TokenBucket
from podium.services.accounts import Account
from podium.services.credentials import Credential, Ended, ends_any
from podium.services.errors import ServiceError
from podium.services.moderation import ModerationService
from podium.services.notifications import NotificationService
from podium.services.ratelimit import RateLimiter
from podium.services.rooms import RoomService

log = logging.getLogger(__name__)
MAX_FRAME = 64 * 1024
# Defaults of the ws_rate, ws_burst and ws_flood_limit settings.
RATE, BURST, FLOOD_LIMIT = 20.0, 60.0, 100
# Commands that also count against a per-account limit (services.ratelimit), over HTTP too.
LIMITED_COMMANDS = {"raise_hand": "hand_raise"}
CLOSE_SIGNED_OUT = 4001
CLOSE_SUSPENDED = 4003
# Commands that run beside the socket's others instead of before them (see _handle).
BACKGROUND_COMMANDS = frozenset({"rtc_offer"})
CLOSE_PREFIX = "\x00close:"  # a queued frame that tells the sender to close with a code
# Room events after which a viewer's "people you blocked are on stage" list may change.
STAGE_EVENTS = {"role_changed", "member_left", "member_removed", "member_joined"}


class Gateway:
    def __init__(self, bus: EventBus, rooms: RoomService, heartbeat: float,
                 resume_window: float, *, limiter: RateLimiter | None = None,
                 rate: float = RATE, burst: float = BURST, flood_limit: int = FLOOD_LIMIT) -> None:
        self.bus = bus
        self.rooms = rooms
        self.heartbeat = heartbeat
        self.resume_window = resume_window
        self.limiter = limiter
        self.rate, self.burst, self.flood_limit = rate, burst, flood_limit
        self.sessions: dict[str, ClientSession] = {}
        self._blocked_shown: dict[str, list[int]] = {}  # session id -> blocked_on_stage sent
        self.moderation: ModerationService | None = None  # set when the app is wired
        self.notifications: NotificationService | None = None  # likewise

    # Subscriptions ------------------------------------------------------------

    def subscribe_user(self, session: ClientSession) -> None:
        """The member's own topic (``user:<id>``): notifications reach every session of theirs."""
        def deliver(message: Message) -> None:
            note = message.get("notification")
            if (session.replayed_notes and isinstance(note, dict)
                    and note.get("id") in session.replayed_notes):
                return  # already replayed from the database (see _replay_notes)
            session.push(message)

        session.unsubscribers["user"] = self.bus.subscribe(f"user:{session.user_id}", deliver)

    def subscribe_room(self, session: ClientSession, room_id: str, after_rev: int = 0) -> None:
        """Deliver the room's events to the session; those up to ``after_rev`` it has had."""
        session.unsubscribe("room")
        session.room_id = room_id

        def deliver(message: Message) -> None:
            to = message.get("to")
            if (to is not None and session.user_id not in to) or message["rev"] <= after_rev:
                return
            live = self.rooms.rooms.get(room_id)
            if live is not None and session.user_id not in live.state.members \
                    and message["rev"] > live.gone_at.get(session.user_id, -1):
                # Left by other means (HTTP, another socket, removed while away): a member's
                # room events stop with the change that took them out.
                self._forget_room(session)
                return
            session.push_message(message)
            self._after_event(session, message["event"])

        session.unsubscribers["room"] = self.bus.subscribe(f"room:{room_id}", deliver)

    def _after_event(self, session: ClientSession, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "room_ended" or (kind == "member_removed"
                                    and event.get("user_id") == session.user_id):
            self._forget_room(session)
            return
        if kind in STAGE_EVENTS:
            self.refresh_blocked(session)
        if (kind == "role_changed" and event.get("user_id") == session.user_id
              and session.room_id):
            # A new moderator needs the hand queue it could not see before; a former one must
            # drop it (it no longer receives the hand events that would keep it current).
            live = self.rooms.rooms.get(session.room_id)
            if live is not None:
                room = self.rooms.snapshot(live, session.user_id)
                session.push({"type": "snapshot", "room": room})

    def _forget_room(self, session: ClientSession) -> None:
        session.unsubscribe("room")
        session.room_id = None
        self._blocked_shown.pop(session.id, None)

    def subscribe_hallway(self, session: ClientSession, account: Account) -> None:
        shown: set[str] = set()  # rooms this viewer was told about: removals only for these

        def deliver(message: Message) -> None:
            if message["type"] == "room_updated":
                room_id = message["room"]["id"]
                live = self.rooms.rooms.get(room_id)
                if live is None or not self.rooms.listed_for(live, account.id):
                    if room_id in shown:  # no longer for this viewer (e.g. a social room)
                        shown.discard(room_id)
                        session.push({"type": "hallway", "event": {
                            "type": "room_removed", "room_id": room_id}})
                    return
                shown.add(room_id)
                message = {"type": "room_updated", "room": {
                    **message["room"],
                    "followed_on_stage": self.rooms.followed_on_stage(live, account.id),
                    "blocked_on_stage": self.rooms.blocked_on_stage(live, account.id)}}
            elif message.get("room_id") not in shown:
                return
            else:
                shown.discard(message["room_id"])
            session.push({"type": "hallway", "event": message})

        page = self.rooms.hallway_page(account, 0, len(self.rooms.rooms) + 1)
        shown.update(str(room["id"]) for room in page["rooms"])  # type: ignore[attr-defined]

        session.unsubscribe("hallway")
        session.unsubscribers["hallway"] = self.bus.subscribe("hallway", deliver)

    def refresh_blocked(self, session: ClientSession) -> None:
        """Tell the viewer when the people they blocked who are on stage change."""
        live = self.rooms.rooms.get(session.room_id or "")
        if live is None:
            return
        now = self.rooms.blocked_on_stage(live, session.user_id)
        if now != self._blocked_shown.get(session.id, []):
            self._blocked_shown[session.id] = now
            session.push({"type": "blocked_on_stage", "room_id": live.room_id, "user_ids": now})

    def note_blocked_shown(self, session: ClientSession, user_ids: list[int]) -> None:
        self._blocked_shown[session.id] = list(user_ids)

    def refresh_blocked_for(self, user_id: int) -> None:
        """After ``user_id`` blocked or unblocked someone."""
        for session in list(self.sessions.values()):
            if session.user_id == user_id and session.room_id:
                self.refresh_blocked(session)

    async def end_credentials(self, ended: list[Ended]) -> None:
        """Credentials stopped working (``services.credentials``): close the sockets opened
        with them, at once, and forget their sessions, so nothing they send is acted on."""
        suspended = {e.user_id for e in ended if e.kind == "user"}
        self._close_where(lambda s: s.user_id in suspended, CLOSE_SUSPENDED,
                          "account suspended")
        self._close_where(lambda s: ends_any(ended, s.credential, s.user_id),
                          CLOSE_SIGNED_OUT, "signed out: sign in again")

    def _close_where(self, match: Callable[[ClientSession], bool], code: int,
                     reason: str) -> int:
        """Close the matching sockets and forget their sessions (no resume)."""
        closed = 0
        for sid, session in list(self.sessions.items()):
            if not match(session):
                continue
            if session.queue is not None:
                session.queue.put_nowait(f"{CLOSE_PREFIX}{code}:{reason}")
                closed += 1
            if session.room_id:  # no longer holds its member in the room
                self.rooms.detach(session.room_id, session.user_id, session.id)
            session.unsubscribe_all()
            session.room_id = None
            self._blocked_shown.pop(sid, None)
            del self.sessions[sid]
        return closed

    def send_snapshot(self, session: ClientSession) -> None:
        live = self.rooms.rooms.get(session.room_id or "")
        if live is not None:
            session.push({"type": "snapshot", "room": self.rooms.snapshot(live, session.user_id)})

    # Connections --------------------------------------------------------------

    def _open_session(self, account: Account, credential: Credential | None,
                      resume: str | None, last_seq: int | None, room: str | None = None,
                      rev: int | None = None) -> tuple[ClientSession, bool]:
        old = self.sessions.get(resume or "")
        if old is not None and old.user_id == account.id:
            if old.queue is not None:
                old.queue.put_nowait("")  # a newer socket takes this session over
            old.credential = credential  # what it now lives on
            if last_seq is not None and old.can_resume_from(last_seq):
                return old, True
            return old, False
        session = ClientSession(account.id)
        session.credential = credential
        self.sessions[session.id] = session
        self.subscribe_user(session)
        if resume and last_seq is not None and room and rev is not None:
            return session, self._resume_elsewhere(session, last_seq, room, rev)
        return session, False

    def _resume_elsewhere(self, session: ClientSession, last_seq: int, room_id: str,
                          rev: int) -> bool:
        """A session this node never had (its node is gone, or forgot it): resume it from the
        room's history, which every node keeps, if the member is still in the room.

        Its room events are replayed, exactly, from the revision it had; its notifications
        after the one the client names (``notes``) from the database (``_replay_notes``)."""
        live = self.rooms.rooms.get(room_id)
        if live is None or session.user_id not in live.state.members:
            return False
        missed = live.events_after(rev, session.user_id)
        if missed is None:
            return False  # too far behind: the client starts again from a snapshot
        session.seq = last_seq  # continue the numbering the client has
        for message in missed:
            session.push_message(message)
            rev = max(rev, int(message["rev"]))
        self.subscribe_room(session, room_id, after_rev=rev)
        self.refresh_blocked(session)
        return True

    async def serve(self, ws: WebSocket, account: Account, credential: Credential | None,
                    resume: str | None, last_seq: int | None, room: str | None = None,
                    rev: int | None = None, notes: int | None = None) -> None:
        await ws.accept()
        session, resumed = self._open_session(account, credential, resume, last_seq, room, rev)
        # Resumed from the room's history (another node's session): own events were not kept.
        moved = resumed and session.id != resume
        seq = session.seq
        # What arrives meanwhile is numbered after `seq` and kept: queued below.
        newest = await self._replay_notes(session, notes if moved else None, seq)
        hello = {"type": "hello", "session": session.id, "resumed": resumed, "moved": moved,
                 "seq": seq, "notes": newest,
                 "user": account.public(), "heartbeat": self.heartbeat}
        queue = session.attach()
        # Queue the replay (or snapshot) before the next await: an event published while the
        # hello is being sent must land behind the frames it follows, not ahead of them.
        for text in session.frames_after((last_seq or 0) if resumed else seq):
            queue.put_nowait(text)
        if not resumed and session.room_id:
            self.send_snapshot(session)  # too far behind to replay: start again from a snapshot
        if session.room_id:
            self._reattach_presence(session)
        sender: asyncio.Task[None] | None = None
        try:
            await ws.send_text(json.dumps(hello))
            sender = asyncio.create_task(self._send_loop(ws, queue))
            await self._receive_loop(ws, session, account)
        except (WebSocketDisconnect, OSError):
            pass  # gone before or while we spoke: detached below, resumable as any other drop
        finally:
            if sender is not None:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
            if session.queue is queue:
                session.detach()
                if session.room_id:
                    self.rooms.detach(session.room_id, account.id, session.id)

    async def _replay_notes(self, session: ClientSession, after: int | None, seq: int) -> int:
        """The member's newest notification id (the client's ``notes`` to resume with). On a
        resume on another node, first the notifications after ``after`` that the session was
        not sent live meanwhile (frames after ``seq``)."""
        if self.notifications is None:
            return 0
        try:
            if after is not None:
                frames = await self.notifications.missed(session.user_id, after)
                live = {json.loads(text).get("notification", {}).get("id")
                        for text in session.frames_after(seq) if '"type":"notification"' in text}
                for frame in frames:
                    note_id = frame["notification"]["id"]  # type: ignore[index]
                    if note_id not in live:
                        session.replayed_notes.add(note_id)
                        session.push(frame)
            return await self.notifications.newest_id(session.user_id)
        except Exception:  # noqa: BLE001 - the socket works on without (the database is down)
            log.warning("notifications for the hello could not be read", exc_info=True)
            return 0

    def _reattach_presence(self, session: ClientSession) -> None:
        live = self.rooms.rooms.get(session.room_id or "")
        if live is not None and session.user_id in live.state.members:
            self.rooms.attach(live, session.user_id, session.id)

    async def _send_loop(self, ws: WebSocket, queue: asyncio.Queue[str]) -> None:
        # Ping on a fixed beat, busy or not: the client's answer is what proves it is alive.
        next_ping = time.monotonic() + self.heartbeat
        try:
            while True:
                try:
                    wait = max(0.0, next_ping - time.monotonic())
                    text = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    text = '{"type":"ping"}'
                    next_ping = time.monotonic() + self.heartbeat
                if text == "":
                    await ws.close(4009, "replaced or too slow; resume")
                    return
                if text.startswith(CLOSE_PREFIX):
                    code, _, why = text[len(CLOSE_PREFIX):].partition(":")
                    await ws.close(int(code), why)
                    return
                await ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return

    async def _receive_loop(self, ws: WebSocket, session: ClientSession, account: Account) -> None:
        background: set[asyncio.Task[None]] = set()
        try:
            await self._receive(ws, session, account, background)
        finally:
            for task in background:  # the client is gone: it no longer waits for these
                task.cancel()

    async def _receive(self, ws: WebSocket, session: ClientSession, account: Account,
                       background: set[asyncio.Task[None]]) -> None:
        bucket = TokenBucket(self.rate, self.burst)
        refused = 0
        while True:
            try:
                message = await asyncio.wait_for(ws.receive(), self.heartbeat * 2.5)
            except TimeoutError:
                await ws.close(4000, "heartbeat timeout")
                return
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8", "replace")
            if len(text) > MAX_FRAME:
                session.send_unsequenced(_error(None, "frame_too_large",
                                                "Frames are at most 64 KiB."))
                await ws.close(1009, "frame too large")
                return
            if self.sessions.get(session.id) is not session:
                continue  # ended (credentials, suspension): its close frame is on its way
            if not bucket.take():
                refused += 1
                session.send_unsequenced(_error(None, "rate_limited", "Slow down."))
                if refused >= self.flood_limit:
                    await ws.close(4008, "flooding")
                    return
                continue
            await self._handle(session, account, text, background)

    async def _handle(self, session: ClientSession, account: Account, text: str,
                      background: set[asyncio.Task[None]]) -> None:
        try:
            frame = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested thousands deep
            session.send_unsequenced(_error(None, "bad_json", "Frames are JSON objects."))
            return
        if not isinstance(frame, dict):
            session.send_unsequenced(_error(None, "bad_json", "Frames are JSON objects."))
            return
        if frame.get("type") not in BACKGROUND_COMMANDS:
            await self._execute(session, account, frame)
        elif background:
            session.send_unsequenced(_error(_request_id(frame), "busy",
                                            "An audio connection is already being set up."))
        else:
            # Audio set-up may wait its turn in a join storm: the socket's other commands
            # (a raised hand, leaving) must not wait behind it.
            task = asyncio.create_task(self._execute(session, account, frame))
            background.add(task)
            task.add_done_callback(background.discard)

    async def _execute(self, session: ClientSession, account: Account,
                       frame: dict[str, Any]) -> None:
        request_id = _request_id(frame)
        try:
            kind = frame.get("type")
            limit = LIMITED_COMMANDS.get(kind) if isinstance(kind, str) else None
            if limit is not None and self.limiter is not None:
                await self.limiter.check(limit, account.id)
            data = await dispatch(self, session, account, frame)
        except (CommandError, ServiceError) as exc:
            session.send_unsequenced(_error(request_id, exc.code, exc.message))
            return
        except Exception:  # noqa: BLE001 - one bad command must not take the socket down
            log.exception("command failed: %s", frame.get("type"))
            session.send_unsequenced(_error(request_id, "internal", "Something went wrong."))
            return
        if request_id is not None:
            session.send_unsequenced({"type": "reply", "id": request_id, "ok": True, "data": data})

    def collect_garbage(self) -> None:
        """Forget sessions whose socket has been gone past the resume window."""
        cutoff = time.monotonic() - self.resume_window
        for sid, session in list(self.sessions.items()):
            if session.detached_at is not None and session.detached_at < cutoff:
                session.unsubscribe_all()
                del self.sessions[sid]
                self._blocked_shown.pop(sid, None)

    async def close(self) -> None:
        for session in self.sessions.values():
            session.unsubscribe_all()
        self.sessions.clear()


def _request_id(frame: dict[str, Any]) -> str | int | None:
    request_id = frame.get("id")
    return request_id if isinstance(request_id, (str, int, type(None))) else None


def _error(request_id: object, code: str, message: str) -> dict[str, object]:
    return {"type": "error", "id": request_id, "error": code, "message": message}

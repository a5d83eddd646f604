"""Recording rooms: the host turns it on, the engine hands over the listeners' packets, an
``OggRecorder`` writes them, and the room's own events become the replay's timeline.

A room has at most one replay. Turning recording off pauses it (the paused time is not in the
file); it ends with the room. The timeline (who was heard when, from the room's ``speaking``
events) and chapters (stage changes) are kept in memory and saved every few seconds, so a
crash loses little of them either; files left open by a crash are made whole at the next start
(``recover``). docs/replays.md.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from podium.bus import Message
from podium.clock import Clock
from podium.config import Settings
from podium.domain import commands as c
from podium.domain.commands import EventType, RoomEvent
from podium.domain.state import RoomState
from podium.media import ogg
from podium.media.engine import MediaEngineError
from podium.media.recorder import OggRecorder
from podium.services.accounts import Account
from podium.services.errors import Conflict, Forbidden
from podium.services.live import LiveRoom
from podium.services.notifications import Note, NotificationService
from podium.services.rooms import RoomService
from podium.storage.tables import Replay

log = logging.getLogger(__name__)
SAVE_SECONDS = 5.0  # timeline and chapters written this often while recording
MERGE_MS = 1500  # a speaker quiet for less than this is one timeline entry
REASONS = {"disk_full": "The disk is full: recording stopped. The room goes on.",
           "too_large": "The recording reached its maximum size and stopped.",
           "io_error": "The recording could not be written and stopped."}


def _ms(samples: int) -> int:
    return samples * 1000 // ogg.SAMPLE_RATE


@dataclass(eq=False)
class Active:
    """A room being recorded (or paused) on this node."""

    replay_id: str
    host_id: int
    recorder: OggRecorder
    timeline: list[dict[str, Any]] = field(default_factory=list)
    chapters: list[dict[str, Any]] = field(default_factory=list)
    open: dict[int, dict[str, Any]] = field(default_factory=dict)  # speaking now
    names: dict[int, str] = field(default_factory=dict)
    unsubscribe: Any = None
    dirty: bool = False
    saved_at: float = 0.0
    engine_on: bool = False

    def now_ms(self) -> int:
        return _ms(self.recorder.position_samples())

    def speaking(self, user_ids: set[int]) -> None:
        now = self.now_ms()
        for uid in list(self.open):
            if uid not in user_ids:
                self.open.pop(uid)["end_ms"] = now
                self.dirty = True
        for uid in user_ids - self.open.keys():
            last = next((e for e in reversed(self.timeline) if e["user_id"] == uid), None)
            if last is not None and now - int(last["end_ms"]) <= MERGE_MS:
                entry = last
            else:
                entry = {"user_id": uid, "name": self.names.get(uid, f"#{uid}"),
                         "start_ms": now, "end_ms": now}
                self.timeline.append(entry)
            self.open[uid] = entry
            self.dirty = True

    def marks(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        now = self.now_ms()
        for entry in self.open.values():
            entry["end_ms"] = now
        return [dict(e) for e in self.timeline], [dict(ch) for ch in self.chapters]


class RecordingService:
    def __init__(self, rooms: RoomService, clock: Clock, settings: Settings,
                 notifications: NotificationService) -> None:
        self.rooms = rooms
        self.db = rooms.db
        self.bus = rooms.bus
        self.media = rooms.media
        self.clock = clock
        self.settings = settings
        self.notifications = notifications
        self.dir = settings.recordings_path
        self.active: dict[str, Active] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        rooms.start_hooks.append(self._room_started)
        rooms.event_hooks.append(self._room_events)
        rooms.tickers.append(self._save_due)

    def path(self, file: str) -> Path:
        return self.dir / file

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.dir.mkdir(parents=True, exist_ok=True)
        await self.recover()

    async def close(self) -> None:
        for room_id in list(self.active):
            await self._finish(room_id, "server_stopped")

    # -- turning it on and off ------------------------------------------------------------------

    async def check_engine(self) -> None:
        """Refuse early (before a room is made) if the media engine cannot record."""
        probe = f"probe-{secrets.token_hex(4)}"
        try:
            await self.media.start_recording(probe, lambda pos, packet: None)
        except MediaEngineError as exc:
            raise Conflict("recording_unsupported", str(exc)) from None
        await self.media.stop_recording(probe)

    async def set(self, room_id: str, actor: Account, on: bool) -> dict[str, object]:
        live = self.rooms.get(room_id)
        if actor.id != live.info.host_id:
            raise Forbidden("forbidden", "Only the host can turn recording on or off.")
        if on:
            await self._open(live)
        await self.rooms.execute(room_id, c.SetRecording(actor.id, on))
        return {"recording": live.state.recording}

    async def _room_started(self, live: LiveRoom, announce: bool) -> None:
        if live.state.recording:
            await self._open(live)

    async def _room_events(self, live: LiveRoom, before: RoomState,
                           events: list[RoomEvent]) -> None:
        room_id = live.room_id
        for event in events:
            if event.type is EventType.ROOM_ENDED:
                await self._finish(room_id, str(event.data.get("reason", "room_ended")))
                return
            if event.type is EventType.RECORDING_CHANGED:
                if event.data.get("recording"):
                    await self._open(live)
                else:
                    await self._pause(room_id)
        active = self.active.get(room_id)
        if active is not None and active.engine_on:
            self._stage_chapters(active, before, live.state)

    async def _open(self, live: LiveRoom) -> None:
        """Start (or resume) recording the room; raises a 4xx error if it cannot."""
        active = self.active.get(live.room_id)
        if active is None:
            await self.check_engine()  # before any file or row is made
            active = await self._new(live)
        if active.recorder.failed is not None:
            raise Conflict("recording_failed", REASONS[active.recorder.failed])
        if active.engine_on:
            return
        active.recorder.resume()
        try:
            await self.media.start_recording(live.room_id, active.recorder.put)
        except MediaEngineError as exc:
            active.recorder.pause()
            raise Conflict("recording_unsupported", str(exc)) from None
        active.engine_on = True
        names = ", ".join(m.display_name for m in live.state.stage) or "nobody"
        self._chapter(active, f"On stage: {names}")
        self._track(active, live)

    async def _new(self, live: LiveRoom) -> Active:
        async with self.db.transaction() as s:
            row = (await s.scalars(select(Replay).where(Replay.room_id == live.room_id))).first()
            if row is None:
                replay_id = secrets.token_hex(6)
                row = Replay(id=replay_id, room_id=live.room_id, host_id=live.info.host_id,
                             title=live.info.title, started_at=self._now(), duration_ms=0,
                             trim_start_ms=0, access="members", file=f"{replay_id}.ogg",
                             timeline=[], chapters=[])
                s.add(row)
            replay_id, file = row.id, row.file
            timeline, chapters = list(row.timeline), list(row.chapters)
        path = self.path(file)

        def on_error(reason: str) -> None:  # the writer thread
            if self._loop is not None:
                self._loop.call_soon_threadsafe(
                    lambda: asyncio.ensure_future(self._failed(live.room_id, reason)))

        try:
            recorder = await asyncio.to_thread(
                OggRecorder, path, int(replay_id[:8], 16), self.settings.recording_max_bytes,
                on_error, live.info.title)
        except OSError as exc:
            log.warning("cannot record room %s: %s", live.room_id, exc)
            raise Conflict("recording_failed",
                           "The recording could not be started (no space to write it).") from None
        active = Active(replay_id, live.info.host_id, recorder, timeline, chapters)
        self.active[live.room_id] = active
        return active

    def _track(self, active: Active, live: LiveRoom) -> None:
        """Follow the room's events: who speaks when."""
        for member in live.state.members.values():
            active.names[member.user_id] = member.display_name

        def on_message(message: Message) -> None:
            if message.get("to") is not None:
                return  # private: hands and invitations are not in a replay
            event = message["event"]
            if event.get("type") == "speaking" and active.engine_on:
                active.speaking({int(u) for u in event["user_ids"]})
            elif event.get("type") == "member_joined":
                active.names[int(event["user_id"])] = str(event["display_name"])

        if active.unsubscribe is None:
            active.unsubscribe = self.bus.subscribe(f"room:{live.room_id}", on_message)
        if live.speaking:
            active.speaking(set(live.speaking))

    def _stage_chapters(self, active: Active, before: RoomState, after: RoomState) -> None:
        was = {m.user_id for m in before.stage}
        now = {m.user_id: m for m in after.stage}
        for uid in sorted(now.keys() - was):
            self._chapter(active, f"{now[uid].display_name} joined the stage")
        for uid in sorted(was - now.keys()):
            member = before.member(uid)
            name = member.display_name if member else active.names.get(uid, f"#{uid}")
            self._chapter(active, f"{name} left the stage")

    def _chapter(self, active: Active, title: str) -> None:
        at = active.now_ms()
        if active.chapters and int(active.chapters[-1]["start_ms"]) >= at - 500:
            active.chapters[-1] = {"start_ms": active.chapters[-1]["start_ms"],
                                   "title": active.chapters[-1]["title"] + "; " + title}
        else:
            active.chapters.append({"start_ms": at, "title": title})
        active.dirty = True

    async def _pause(self, room_id: str) -> None:
        active = self.active.get(room_id)
        if active is None or not active.engine_on:
            return
        await self.media.stop_recording(room_id)
        active.speaking(set())
        active.engine_on = False
        active.recorder.pause()
        await self._save(active, duration_ms=active.now_ms())

    async def _finish(self, room_id: str, reason: str) -> None:
        active = self.active.pop(room_id, None)
        if active is None:
            return
        await self.media.stop_recording(room_id)
        active.speaking(set())
        if active.unsubscribe is not None:
            active.unsubscribe()
        active.engine_on = False
        await asyncio.to_thread(active.recorder.close)
        samples = await asyncio.to_thread(_file_samples, active.recorder.path)
        await self._save(active, duration_ms=_ms(samples), ended=True,
                         reason=active.recorder.failed or reason)

    async def _failed(self, room_id: str, reason: str) -> None:
        """The writer stopped by itself (a full disk): recording off, the host told."""
        active = self.active.get(room_id)
        if active is None:
            return
        live = self.rooms.rooms.get(room_id)
        if live is not None and live.state.recording:
            try:
                await self.rooms.execute(room_id, c.SetRecording(active.host_id, False, reason))
            except Exception:  # noqa: BLE001 - the room may have ended meanwhile
                log.debug("could not turn recording off", exc_info=True)
        await self._pause(room_id)
        await self._save(active, reason=reason)
        await self.notifications.send([active.host_id], Note(
            "recording_stopped", REASONS.get(reason, "Recording stopped."), room_id=room_id))
        await self.bus.publish(f"user:{active.host_id}", {
            "type": "recording_stopped", "room_id": room_id, "reason": reason,
            "message": REASONS.get(reason, "Recording stopped.")})

    # -- persistence ----------------------------------------------------------------------------

    async def _save_due(self) -> None:
        now = self.clock.now()
        for active in list(self.active.values()):
            if active.dirty and now - active.saved_at >= SAVE_SECONDS:
                await self._save(active, duration_ms=active.now_ms())

    async def _save(self, active: Active, duration_ms: int | None = None, ended: bool = False,
                    reason: str | None = None) -> None:
        timeline, chapters = active.marks()
        values: dict[str, Any] = {"timeline": timeline, "chapters": chapters}
        if duration_ms is not None:
            values["duration_ms"] = duration_ms
        if ended:
            values["ended_at"] = self._now()
        if reason is not None:
            values["end_reason"] = reason[:32]
        async with self.db.transaction() as s:
            await s.execute(update(Replay).where(Replay.id == active.replay_id).values(**values))
        active.dirty = False
        active.saved_at = self.clock.now()

    async def flush(self, room_id: str) -> Active | None:
        """The live recording written out up to now (for a live clip)."""
        active = self.active.get(room_id)
        if active is None or not active.engine_on:
            return None
        await asyncio.to_thread(active.recorder.flush)
        return active

    async def recover(self) -> None:
        """Recordings a crash left open: make their files whole and end them."""
        async with self.db.transaction() as s:
            rows = list(await s.scalars(select(Replay).where(Replay.ended_at.is_(None))))
        for row in rows:
            if row.room_id in self.rooms.rooms:
                continue  # live on another node (several nodes)
            path = self.path(row.file)
            samples = await asyncio.to_thread(ogg.recover, path) if path.exists() else 0
            started = row.started_at if row.started_at.tzinfo else row.started_at.replace(
                tzinfo=UTC)
            async with self.db.transaction() as s:
                await s.execute(update(Replay).where(Replay.id == row.id).values(
                    duration_ms=_ms(samples), end_reason="server_restart",
                    ended_at=min(self._now(), started + timedelta(milliseconds=_ms(samples)))))
            log.info("recovered recording %s: %d ms", row.id, _ms(samples))

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)


def _file_samples(path: Path) -> int:
    try:
        return ogg.duration_samples(path.read_bytes(), verify=False)
    except OSError:
        return 0

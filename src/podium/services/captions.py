"""Live captions in rooms: consent, the engine's tap, and where captions go (docs/captions.md).

A speaker is captioned only while all of these hold: the room's host turned captions on
(``SetCaptions``), the speaker opted in on their profile (``users.captions``), and they are
heard (on stage, unmuted). This service keeps the media engine's caption tap on exactly those
speakers, and sends each caption to the room (a transient ``caption`` event, not snapshot
state) and to the room's WebVTT file (``podium.captions.vtt``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy import select

from podium.captions.pipeline import Caption, Captioner
from podium.captions.vtt import append_cue, vtt_path_for_room
from podium.clock import Clock
from podium.config import Settings
from podium.domain import commands as c
from podium.domain.commands import RoomEvent
from podium.domain.state import RoomState
from podium.media.engine import MediaEngineError
from podium.services.accounts import Account
from podium.services.errors import Conflict, Forbidden
from podium.services.live import LiveRoom
from podium.services.rooms import RoomService
from podium.storage.db import Database
from podium.storage.tables import User

log = logging.getLogger(__name__)
_NOBODY: frozenset[int] = frozenset()


class CaptionService:
    def __init__(self, db: Database, rooms: RoomService, clock: Clock,
                 settings: Settings) -> None:
        self.db = db
        self.rooms = rooms
        self.clock = clock
        self.settings = settings
        self.captioner: Captioner | None = None  # started with the first captioned room
        self._tapped: dict[str, frozenset[int]] = {}  # room -> speakers the engine taps
        self._keys: dict[str, tuple[bool, frozenset[int]]] = {}  # what _tapped was made from
        self._tasks: set[asyncio.Task[Any]] = set()
        rooms.event_hooks.append(self._after_events)

    async def close(self) -> None:
        for room_id in list(self._tapped):
            self._untap(room_id)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.captioner is not None:
            await self.captioner.close()
            self.captioner = None

    @property
    def available(self) -> bool:
        return self.settings.captions_enabled and self.rooms.media.supports_captions

    # -- commands ----------------------------------------------------------------------------

    async def set_room(self, room_id: str, actor: Account, on: bool) -> dict[str, object]:
        """The host turns captions on or off for their room."""
        live = self.rooms.get(room_id)
        if actor.id != live.state.host_id:
            raise Forbidden("forbidden", "Only the host can turn captions on or off.")
        if on and not self.settings.captions_enabled:
            raise Conflict("captions_disabled", "Captions are turned off on this server.")
        if on and not self.rooms.media.supports_captions:
            raise Conflict("captions_unsupported", "Captions need the embedded media engine; "
                           "this server's engine does not decode speakers itself.")
        await self.rooms.execute(room_id, c.SetCaptions(actor.id, on))
        return {"captions": live.state.captions}

    async def consent_changed(self, user_id: int) -> None:
        """A member turned their consent on or off: rooms where they are heard follow now."""
        for live in list(self.rooms.rooms.values()):
            if user_id in live.state.heard:
                self._keys.pop(live.room_id, None)
                await self.sync(live)

    # -- keeping the tap on the right speakers -----------------------------------------------

    async def _after_events(self, live: LiveRoom, before: RoomState,
                            events: list[RoomEvent]) -> None:
        await self.sync(live)

    async def sync(self, live: LiveRoom) -> None:
        state = live.state
        on = state.live and state.captions and self.available
        key = (on, state.heard if on else _NOBODY)
        if self._keys.get(live.room_id) == key:
            return
        self._keys[live.room_id] = key
        want = await self._consenting(state.heard) if on else _NOBODY
        if want:
            self._tap(live, want)
        else:
            self._untap(live.room_id)
        if not state.live:
            self._keys.pop(live.room_id, None)

    async def _consenting(self, user_ids: frozenset[int]) -> frozenset[int]:
        if not user_ids:
            return _NOBODY
        async with self.db.transaction() as s:
            rows = await s.scalars(select(User.id).where(User.id.in_(sorted(user_ids)),
                                                         User.captions.is_(True)))
            return frozenset(rows)

    def _tap(self, live: LiveRoom, want: frozenset[int]) -> None:
        captioner = self._start_captioner()
        # Caption times count from the room's start; the room clock may be a test's.
        origin = time.time() - (self.clock.now() - live.info.created_at)
        sink = captioner.open_room(live.room_id, origin)
        try:
            self.rooms.media.set_caption_sink(live.room_id, sink, want)
        except MediaEngineError:
            log.warning("media engine refused captions for room %s", live.room_id)
            captioner.close_room(live.room_id)
            return
        for user_id in self._tapped.get(live.room_id, _NOBODY) - want:
            captioner.forget_speaker(live.room_id, user_id)
        self._tapped[live.room_id] = want

    def _untap(self, room_id: str) -> None:
        if self._tapped.pop(room_id, None) is None:
            return
        self.rooms.media.set_caption_sink(room_id, None)
        if self.captioner is not None:
            self.captioner.close_room(room_id)

    def _start_captioner(self) -> Captioner:
        if self.captioner is None:
            s = self.settings
            self.captioner = Captioner(self._on_caption, workers=s.captions_workers,
                                       queue_chunks=s.captions_queue_chunks,
                                       max_chunk_seconds=s.captions_max_chunk_seconds,
                                       engine=s.captions_engine)
            self.captioner.start()
        return self.captioner

    # -- captions out ------------------------------------------------------------------------

    def _on_caption(self, caption: Caption) -> None:
        live = self.rooms.rooms.get(caption.room_id)
        if live is None or caption.user_id not in self._tapped.get(caption.room_id, _NOBODY):
            return  # the room ended, or consent was withdrawn while this was recognised
        member = live.state.member(caption.user_id)
        name = member.display_name if member is not None else "Speaker"
        try:
            append_cue(vtt_path_for_room(self.settings, caption.room_id), caption.start_ms,
                       caption.end_ms, name, caption.text)
        except OSError:
            log.exception("could not store a caption of room %s", caption.room_id)
        event = {"type": "caption", "user_id": caption.user_id, "name": name,
                 "text": caption.text, "start_ms": caption.start_ms,
                 "end_ms": caption.end_ms, "final": caption.final}
        task = asyncio.ensure_future(self.rooms.broadcast(caption.room_id, event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

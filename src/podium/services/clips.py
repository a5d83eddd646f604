"""Clips: a range of a replay (at most 60 s), or the last 30 s of a live recording, copied
into a file of its own packet by packet (``ogg.cut``: no decoding, no encoding).

Who may delete one: its creator, anyone heard in it, the replay's host, admins. Anyone who may
listen to the replay may see its clips and cut new ones.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from podium.media import ogg
from podium.services.accounts import Account
from podium.services.errors import Conflict, Forbidden, Invalid, NotFound
from podium.services.replays import LIST_LIMIT, LIVE_CLIP_MS, MAX_CLIP_MS, ReplayService, _iso
from podium.services.replays import _person as person
from podium.storage.tables import Clip, Replay, Room


def _not_found() -> NotFound:
    return NotFound("clip_not_found", "No such clip.")


def heard_in(timeline: list[dict[str, Any]], start_ms: int, end_ms: int) -> list[int]:
    """Who the timeline has heard in [start_ms, end_ms), in order of first appearance."""
    ids = [int(e["user_id"]) for e in timeline
           if int(e["start_ms"]) < end_ms and int(e["end_ms"]) > start_ms]
    return list(dict.fromkeys(ids))


class ClipService:
    def __init__(self, replays: ReplayService) -> None:
        self.replays = replays
        self.recordings = replays.recordings
        self.db = replays.db

    async def live(self, actor: Account, room_id: str, title: str | None) -> dict[str, object]:
        """The last 30 s of the room's recording, by anyone present in the room."""
        live = self.recordings.rooms.get(room_id)
        if actor.id not in live.state.members:
            raise Forbidden("not_in_room", "Join the room to clip it.")
        active = await self.recordings.flush(room_id)
        if active is None:
            raise Conflict("not_recording", "This room is not being recorded.")
        source = self.recordings.path(active.recorder.path.name)
        end = await asyncio.to_thread(
            lambda: ogg.duration_samples(source.read_bytes(), verify=False) * 1000 // 48_000)
        if end <= 0:
            raise Conflict("nothing_recorded", "Nothing has been recorded yet.")
        start = max(0, end - LIVE_CLIP_MS)
        timeline, _ = active.marks()
        return await self._make(actor, active.replay_id, room_id, source, timeline, start, end,
                                title or f"{live.info.title} (clip)")

    async def of_replay(self, actor: Account, replay_id: str, start_ms: int, end_ms: int,
                        title: str | None) -> dict[str, object]:
        replay, _ = await self.replays.visible(actor, replay_id)
        duration = await self.replays._duration(replay)
        if not 0 <= start_ms < end_ms <= duration:
            raise Invalid("invalid_range",
                          f"Clips need 0 <= start_ms < end_ms <= the duration ({duration} ms).")
        if end_ms - start_ms > MAX_CLIP_MS:
            raise Invalid("clip_too_long", "Clips are at most 60 seconds.")
        active = self.recordings.active.get(replay.room_id)
        if active is not None:
            await self.recordings.flush(replay.room_id)
        timeline = active.marks()[0] if active is not None else list(replay.timeline)
        return await self._make(actor, replay.id, replay.room_id,
                                self.recordings.path(replay.file), timeline, start_ms, end_ms,
                                title or f"{replay.title} (clip)")

    async def _make(self, actor: Account, replay_id: str, room_id: str, source: Path,
                    timeline: list[dict[str, Any]], start: int, end: int,
                    title: str) -> dict[str, object]:
        title = " ".join(title.split())[:100] or "Clip"
        clip_id = secrets.token_hex(6)
        file = f"clip-{clip_id}.ogg"
        target = self.recordings.path(file)
        try:
            await asyncio.to_thread(self.replays._cut_to, source, target, start, end, title)
        except OSError:
            raise Conflict("no_space", "The clip could not be written.") from None
        row = Clip(id=clip_id, replay_id=replay_id, room_id=room_id, creator_id=actor.id,
                   title=title, start_ms=start, end_ms=end,
                   speaker_ids=heard_in(timeline, start, end), file=file,
                   created_at=datetime.now(UTC))
        async with self.db.transaction() as s:
            s.add(row)
        return await self.out(row)

    async def out(self, clip: Clip) -> dict[str, object]:
        users = await self.replays._users([clip.creator_id, *clip.speaker_ids])
        return {
            "id": clip.id, "replay_id": clip.replay_id, "room_id": clip.room_id,
            "title": clip.title, "creator": person(users.get(clip.creator_id), clip.creator_id),
            "start_ms": clip.start_ms, "end_ms": clip.end_ms,
            "duration_ms": clip.end_ms - clip.start_ms,
            "speakers": [person(users.get(u), u) for u in clip.speaker_ids],
            "audio_url": f"/api/v1/clips/{clip.id}/audio.ogg", "page_url": f"/clips/{clip.id}",
            "created_at": _iso(clip.created_at),
        }

    async def visible(self, viewer: Account, clip_id: str) -> tuple[Clip, Replay]:
        async with self.db.transaction() as s:
            clip = await s.get(Clip, clip_id)
            replay = await s.get(Replay, clip.replay_id) if clip is not None else None
            room = await s.get(Room, replay.room_id) if replay is not None else None
        if clip is None or replay is None or room is None \
                or not await self.replays.may_listen(viewer, replay, room):
            raise _not_found()
        return clip, replay

    async def view(self, viewer: Account, clip_id: str) -> dict[str, object]:
        clip, _ = await self.visible(viewer, clip_id)
        return await self.out(clip)

    async def audio(self, viewer: Account, clip_id: str) -> Path:
        clip, _ = await self.visible(viewer, clip_id)
        path = self.recordings.path(clip.file)
        if not path.exists():
            raise _not_found()
        return path

    async def delete(self, actor: Account, clip_id: str) -> None:
        clip, replay = await self.visible(actor, clip_id)
        allowed = {clip.creator_id, replay.host_id, *clip.speaker_ids}
        if actor.id not in allowed and not actor.is_admin:
            raise Forbidden("forbidden", "Only its creator, its speakers, the host or an admin "
                            "can delete a clip.")
        async with self.db.transaction() as s:
            await s.execute(delete(Clip).where(Clip.id == clip_id))
        await asyncio.to_thread(self.recordings.path(clip.file).unlink, True)

    async def of_user(self, viewer: Account, user: Account) -> list[dict[str, object]]:
        """Clips the member made or is heard in, newest first, that the viewer may hear."""
        async with self.db.transaction() as s:
            rows = list((await s.execute(
                select(Clip, Replay, Room).join(Replay, Replay.id == Clip.replay_id)
                .join(Room, Room.id == Replay.room_id)
                .order_by(Clip.created_at.desc()).limit(2000))).all())
        out: list[dict[str, object]] = []
        for clip, replay, room in rows:
            if user.id != clip.creator_id and user.id not in clip.speaker_ids:
                continue
            if await self.replays.may_listen(viewer, replay, room):
                out.append(await self.out(clip))
            if len(out) >= LIST_LIMIT:
                break
        return out

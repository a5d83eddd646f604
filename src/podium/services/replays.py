"""Replays and clips: who may listen, what they look like, trimming, clipping, deleting.

Access (``Replay.access``): "members" = everyone who could have joined the room (any member
for an open room; for a social or closed one, those let in, the host's followers for a
social one, and everyone heard in it), "followers" = the host's followers and everyone heard
in it, "host" = the host alone. Admins always. A replay someone may not listen to is a 404 to
them, as if it did not exist; its clips too.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from podium.domain.roles import RoomKind
from podium.media import ogg
from podium.services.accounts import Account
from podium.services.errors import Conflict, Forbidden, Invalid, NotFound
from podium.services.recordings import RecordingService
from podium.services.rooms import Follows
from podium.storage.tables import Clip, Replay, Room, RoomAccess, User

ACCESS = ("members", "followers", "host")
LIVE_CLIP_MS = 30_000
MAX_CLIP_MS = 60_000
LIST_LIMIT = 100


def _not_found() -> NotFound:
    return NotFound("replay_not_found", "No such replay.")


def _clip_not_found() -> NotFound:
    return NotFound("clip_not_found", "No such clip.")


def _person(user: User | None, user_id: int) -> dict[str, object]:
    if user is None:
        return {"id": user_id, "username": None, "display_name": "Someone"}
    return {"id": user.id, "username": user.username, "display_name": user.display_name}


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def replay_transcript_path(recordings: RecordingService, replay: Replay) -> Path:
    """Where a replay's WebVTT transcript lives (the captions service writes it there, or
    sets ``Replay.transcript_path`` to another file)."""
    if replay.transcript_path:
        return Path(replay.transcript_path)
    return recordings.path(f"{replay.id}.vtt")


class ReplayService:
    def __init__(self, recordings: RecordingService, follows: Follows) -> None:
        self.recordings = recordings
        self.db = recordings.db
        self.follows = follows

    # -- access ---------------------------------------------------------------------------------

    async def _load(self, replay_id: str) -> tuple[Replay, Room]:
        async with self.db.transaction() as s:
            replay = await s.get(Replay, replay_id)
            room = await s.get(Room, replay.room_id) if replay is not None else None
        if replay is None or room is None:
            raise _not_found()
        return replay, room

    async def may_listen(self, viewer: Account, replay: Replay, room: Room) -> bool:
        if viewer.is_admin or viewer.id == replay.host_id:
            return True
        heard = {int(e["user_id"]) for e in replay.timeline}  # type: ignore[call-overload]
        if viewer.id in heard:
            return True
        follower = self.follows.follows(viewer.id, replay.host_id)
        if replay.access == "host":
            return False
        if replay.access == "followers":
            return follower
        if room.kind == RoomKind.OPEN.value:
            return True
        if room.kind == RoomKind.SOCIAL.value and self.follows.follows(replay.host_id, viewer.id):
            return True
        async with self.db.transaction() as s:
            return await s.get(RoomAccess, (room.id, viewer.id)) is not None

    async def visible(self, viewer: Account, replay_id: str) -> tuple[Replay, Room]:
        replay, room = await self._load(replay_id)
        if not await self.may_listen(viewer, replay, room):
            raise _not_found()
        return replay, room

    # -- replays --------------------------------------------------------------------------------

    async def view(self, viewer: Account, replay_id: str) -> dict[str, object]:
        replay, _ = await self.visible(viewer, replay_id)
        return await self.out(replay)

    async def out(self, replay: Replay) -> dict[str, object]:
        active = self.recordings.active.get(replay.room_id)
        timeline, chapters = (active.marks() if active is not None
                              else (list(replay.timeline), list(replay.chapters)))
        duration = active.now_ms() if active is not None else replay.duration_ms
        heard = list(dict.fromkeys(int(str(e["user_id"])) for e in timeline))
        users = await self._users([replay.host_id, *heard])
        transcript = replay_transcript_path(self.recordings, replay)
        return {
            "id": replay.id, "room_id": replay.room_id, "title": replay.title,
            "host": _person(users.get(replay.host_id), replay.host_id),
            "started_at": _iso(replay.started_at), "ended_at": _iso(replay.ended_at),
            "recording": active is not None and active.engine_on,
            "duration_ms": duration, "trim_start_ms": replay.trim_start_ms,
            "access": replay.access, "audio_url": f"/api/v1/replays/{replay.id}/audio.ogg",
            "transcript_url": (f"/api/v1/replays/{replay.id}/transcript.vtt"
                               if transcript.exists() else None),
            "timeline": timeline, "chapters": chapters,
            "speakers": [_person(users.get(u), u) for u in heard],
            "end_reason": replay.end_reason,
        }

    async def _users(self, ids: list[int]) -> dict[int, User]:
        if not ids:
            return {}
        async with self.db.transaction() as s:
            rows = await s.scalars(select(User).where(User.id.in_(set(ids))))
            return {u.id: u for u in rows}

    async def of_room(self, viewer: Account, room_id: str) -> dict[str, object]:
        async with self.db.transaction() as s:
            replay_id = (await s.scalars(select(Replay.id).where(Replay.room_id == room_id))
                         ).first()
        if replay_id is None:
            raise _not_found()
        return await self.view(viewer, replay_id)

    async def of_user(self, viewer: Account, user: Account) -> list[dict[str, object]]:
        async with self.db.transaction() as s:
            rows = list((await s.execute(
                select(Replay, Room).join(Room, Room.id == Replay.room_id)
                .where(Replay.host_id == user.id).order_by(Replay.started_at.desc())
                .limit(LIST_LIMIT))).all())
        return [await self.out(r) for r, room in rows if await self.may_listen(viewer, r, room)]

    async def update(self, actor: Account, replay_id: str, trim_start_ms: int | None,
                     access: str | None, title: str | None) -> dict[str, object]:
        replay, _ = await self.visible(actor, replay_id)
        if actor.id != replay.host_id:
            raise Forbidden("forbidden", "Only the host can change a replay.")
        values: dict[str, Any] = {}
        if trim_start_ms is not None:
            duration = await self._duration(replay)
            if not 0 <= trim_start_ms < max(duration, 1):
                raise Invalid("invalid_trim",
                              f"trim_start_ms must be from 0 to below the duration ({duration}).")
            values["trim_start_ms"] = trim_start_ms
        if access is not None:
            if access not in ACCESS:
                raise Invalid("invalid_access", "access is 'members', 'followers' or 'host'.")
            values["access"] = access
        if title is not None:
            title = " ".join(title.split())
            if not 1 <= len(title) <= 100:
                raise Invalid("invalid_title", "Titles are 1 to 100 characters.")
            values["title"] = title
        async with self.db.transaction() as s:
            row = await s.get(Replay, replay_id)
            if row is None:
                raise _not_found()
            for key, value in values.items():
                setattr(row, key, value)
        return await self.view(actor, replay_id)

    async def _duration(self, replay: Replay) -> int:
        active = self.recordings.active.get(replay.room_id)
        return active.now_ms() if active is not None else replay.duration_ms

    async def delete(self, actor: Account, replay_id: str) -> None:
        replay, _ = await self.visible(actor, replay_id)
        if actor.id != replay.host_id and not actor.is_admin:
            raise Forbidden("forbidden", "Only the host or an admin can delete a replay.")
        rooms = self.recordings.rooms
        live = rooms.rooms.get(replay.room_id)
        if live is not None and replay.room_id in self.recordings.active:
            if live.state.recording:  # stop it first: everyone sees the REC badge go
                from podium.domain import commands as c

                await rooms.execute(replay.room_id, c.SetRecording(replay.host_id, False,
                                                                    "deleted"))
            await self.recordings._finish(replay.room_id, "deleted")
        async with self.db.transaction() as s:
            clips = list(await s.scalars(select(Clip.file).where(Clip.replay_id == replay_id)))
            await s.execute(delete(Clip).where(Clip.replay_id == replay_id))
            await s.execute(delete(Replay).where(Replay.id == replay_id))
        files = [replay.file, *clips, *self._trimmed(replay)]
        await asyncio.to_thread(self._unlink, files)
        transcript = replay_transcript_path(self.recordings, replay)
        if transcript.parent == self.recordings.dir:
            await asyncio.to_thread(transcript.unlink, True)

    def _trimmed(self, replay: Replay) -> list[str]:
        return [p.name for p in self.recordings.dir.glob(f"{replay.id}.t*.ogg")]

    def _unlink(self, files: list[str]) -> None:
        for name in files:
            self.recordings.path(name).unlink(missing_ok=True)

    async def audio(self, viewer: Account, replay_id: str) -> tuple[Path, str]:
        """The file to serve (trimmed if the host trimmed it) and a download name."""
        replay, _ = await self.visible(viewer, replay_id)
        source = self.recordings.path(replay.file)
        if not source.exists():
            raise Conflict("no_audio", "This replay has no audio file.")
        if replay.trim_start_ms <= 0:
            return source, f"{replay.id}.ogg"
        target = self.recordings.path(f"{replay.id}.t{replay.trim_start_ms}.ogg")
        if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
            await asyncio.to_thread(self._cut_to, source, target, replay.trim_start_ms, None,
                                    replay.title)
        return target, f"{replay.id}.ogg"

    def _cut_to(self, source: Path, target: Path, start_ms: int, end_ms: int | None,
                title: str) -> None:
        data = ogg.cut(source.read_bytes(), start_ms, end_ms, secrets.randbits(31), title)
        partial = target.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(target)  # readers never see half a file

    async def transcript(self, viewer: Account, replay_id: str) -> Path:
        replay, _ = await self.visible(viewer, replay_id)
        path = replay_transcript_path(self.recordings, replay)
        if not path.exists():
            raise NotFound("no_transcript", "This replay has no transcript.")
        return path

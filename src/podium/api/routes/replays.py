"""Recording, replays and clips over HTTP (docs/replays.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse
from pydantic import Field

from podium.api.deps import CurrentAccount, check_rate, podium
from podium.api.routes.rooms import RoomId
from podium.api.schemas import Ok, Strict

router = APIRouter(tags=["replays"])
ReplayId = Path(min_length=1, max_length=16, pattern=r"^[a-f0-9]+$")
ClipId = Path(min_length=1, max_length=16, pattern=r"^[a-f0-9]+$")
MS = 2**53
Username = Path(min_length=1, max_length=30)


class RecordingBody(Strict):
    on: bool = Field(strict=True)


class ReplayPatch(Strict):
    trim_start_ms: int | None = Field(default=None, ge=0, lt=MS)
    access: str | None = Field(default=None, max_length=16)
    title: str | None = Field(default=None, max_length=200)


class LiveClipBody(Strict):
    title: str | None = Field(default=None, max_length=200)


class ClipBody(Strict):
    start_ms: int = Field(ge=0, lt=MS, strict=True)
    end_ms: int = Field(ge=0, lt=MS, strict=True)
    title: str | None = Field(default=None, max_length=200)


def _audio(path: Any, name: str, download: bool) -> FileResponse:
    return FileResponse(path, media_type="audio/ogg", filename=name if download else None,
                        content_disposition_type="attachment" if download else "inline",
                        headers={"Cache-Control": "private, no-cache"})


@router.post("/rooms/{room_id}/recording")
async def set_recording(body: RecordingBody, account: CurrentAccount, request: Request,
                        room_id: str = RoomId) -> dict[str, Any]:
    """The host turns recording on or off; everyone in the room sees ``recording``."""
    return await podium(request).recordings.set(room_id, account, body.on)


@router.get("/rooms/{room_id}/replay")
async def room_replay(account: CurrentAccount, request: Request,
                      room_id: str = RoomId) -> dict[str, object]:
    return await podium(request).replays.of_room(account, room_id)


@router.post("/rooms/{room_id}/clips", status_code=201)
async def live_clip(body: LiveClipBody, account: CurrentAccount, request: Request,
                    room_id: str = RoomId) -> dict[str, object]:
    """Anyone in a recorded room: the last 30 seconds as a clip (rate-limited)."""
    await check_rate(request, "clip", account.id)
    return await podium(request).clips.live(account, room_id, body.title)


@router.get("/replays/{replay_id}")
async def get_replay(account: CurrentAccount, request: Request,
                     replay_id: str = ReplayId) -> dict[str, object]:
    return await podium(request).replays.view(account, replay_id)


@router.patch("/replays/{replay_id}")
async def patch_replay(body: ReplayPatch, account: CurrentAccount, request: Request,
                       replay_id: str = ReplayId) -> dict[str, object]:
    """The host: trim the start, choose who may listen, rename."""
    return await podium(request).replays.update(account, replay_id, body.trim_start_ms,
                                                 body.access, body.title)


@router.delete("/replays/{replay_id}", response_model=Ok)
async def delete_replay(account: CurrentAccount, request: Request,
                        replay_id: str = ReplayId) -> Ok:
    """The host or an admin: the replay, its files and its clips go."""
    await podium(request).replays.delete(account, replay_id)
    return Ok()


@router.get("/replays/{replay_id}/audio.ogg", response_class=FileResponse)
async def replay_audio(account: CurrentAccount, request: Request, replay_id: str = ReplayId,
                       download: bool = Query(False)) -> FileResponse:
    """Ogg Opus from the trimmed start; byte ranges supported; ``?download=1`` to save."""
    path, name = await podium(request).replays.audio(account, replay_id)
    return _audio(path, name, download)


@router.get("/replays/{replay_id}/transcript.vtt", response_class=FileResponse)
async def replay_transcript(account: CurrentAccount, request: Request,
                            replay_id: str = ReplayId) -> FileResponse:
    path = await podium(request).replays.transcript(account, replay_id)
    return FileResponse(path, media_type="text/vtt; charset=utf-8")


@router.post("/replays/{replay_id}/clips", status_code=201)
async def replay_clip(body: ClipBody, account: CurrentAccount, request: Request,
                      replay_id: str = ReplayId) -> dict[str, object]:
    """Anyone who may listen: a range of at most 60 s as a clip (rate-limited)."""
    await check_rate(request, "clip", account.id)
    return await podium(request).clips.of_replay(account, replay_id, body.start_ms,
                                                 body.end_ms, body.title)


@router.get("/clips/{clip_id}")
async def get_clip(account: CurrentAccount, request: Request,
                   clip_id: str = ClipId) -> dict[str, object]:
    return await podium(request).clips.view(account, clip_id)


@router.get("/clips/{clip_id}/audio.ogg", response_class=FileResponse)
async def clip_audio(account: CurrentAccount, request: Request, clip_id: str = ClipId,
                     download: bool = Query(False)) -> FileResponse:
    path = await podium(request).clips.audio(account, clip_id)
    return _audio(path, f"clip-{clip_id}.ogg", download)


@router.delete("/clips/{clip_id}", response_model=Ok)
async def delete_clip(account: CurrentAccount, request: Request, clip_id: str = ClipId) -> Ok:
    """Its creator, anyone heard in it, the replay's host, or an admin."""
    await podium(request).clips.delete(account, clip_id)
    return Ok()


@router.get("/users/{username}/replays")
async def user_replays(account: CurrentAccount, request: Request,
                       username: str = Username) -> list[dict[str, object]]:
    services = podium(request)
    user = await services.community.social.visible(account, username)
    return await services.replays.of_user(account, user)


@router.get("/users/{username}/clips")
async def user_clips(account: CurrentAccount, request: Request,
                     username: str = Username) -> list[dict[str, object]]:
    services = podium(request)
    user = await services.community.social.visible(account, username)
    return await services.clips.of_user(account, user)

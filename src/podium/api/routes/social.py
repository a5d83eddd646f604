"""Profiles, avatars, follows and pings (docs/social.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from podium.api.deps import CurrentAccount, check_rate, podium
from podium.api.routes.rooms import RoomId
from podium.api.schemas import Ok, Strict, UserTarget
from podium.services.avatars import MAX_BYTES, TooLarge
from podium.services.community import Community

router = APIRouter(tags=["social"])
Username = Path(min_length=1, max_length=30)
AVATAR_PATH = "/api/v1/profile/avatar"


def community(request: Request) -> Community:
    return podium(request).community


class ProfileUpdate(Strict):
    display_name: str | None = Field(None, max_length=200)
    bio: str | None = Field(None, max_length=2000)
    # Consent to live captions of what you say on stage (docs/captions.md).
    captions: bool | None = Field(None, strict=True)


class FollowBody(Strict):
    notify: bool = Field(True, strict=True)


class NotifyBody(Strict):
    notify: bool = Field(strict=True)


@router.get("/users/{username}/profile")
async def profile(account: CurrentAccount, request: Request,
                  username: str = Username) -> dict[str, Any]:
    """A member's profile: bio, avatar, who invited them, counts, live rooms, upcoming events."""
    return await community(request).profiles.profile(account, username)


@router.patch("/profile")
async def update_profile(body: ProfileUpdate, account: CurrentAccount,
                         request: Request) -> dict[str, Any]:
    """Change your display name and/or bio (at most 300 characters), and whether what you say
    on stage may be captioned (``captions``, off until you turn it on)."""
    profile = await community(request).profiles.update(account, body.display_name, body.bio,
                                                       body.captions)
    if body.captions is not None:
        await podium(request).captions.consent_changed(account.id)
    return profile


@router.put("/profile/avatar")
async def upload_avatar(account: CurrentAccount, request: Request) -> dict[str, Any]:
    """Send a PNG, JPEG or WebP image (at most 5 MB) as the raw request body. It is stored
    re-encoded as a 256x256 WebP, without its metadata."""
    await check_rate(request, "avatar", account.id)  # before the body: refused uploads cost little
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BYTES:
            raise TooLarge("too_large", "Avatars are at most 5 MB.")
    return await community(request).profiles.set_avatar(account, bytes(data))


@router.delete("/profile/avatar", response_model=Ok)
async def delete_avatar(account: CurrentAccount, request: Request) -> Ok:
    await community(request).profiles.delete_avatar(account)
    return Ok()


@router.get("/users/{username}/avatar", response_class=Response)
async def avatar(account: CurrentAccount, request: Request, username: str = Username,
                 v: str | None = Query(None, max_length=64)) -> Response:
    """The picture. With ``?v=`` as in ``avatar_url`` it may be cached for good."""
    row = await community(request).profiles.avatar(account, username)
    etag = f'"{row.etag}"'
    cache = ("private, max-age=31536000, immutable" if v == row.etag
             else "private, no-cache")
    headers = {"ETag": etag, "Cache-Control": cache}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(row.data, media_type=row.content_type, headers=headers)


@router.post("/users/{username}/follow")
async def follow(account: CurrentAccount, request: Request, username: str = Username,
                 body: FollowBody | None = None) -> dict[str, Any]:
    """Follow someone; ``notify`` (default true): be told when they start or speak in a room."""
    await check_rate(request, "follow", account.id)
    notify = body.notify if body is not None else True
    return await community(request).social.follow(account, username, notify)


@router.patch("/users/{username}/follow")
async def follow_settings(body: NotifyBody, account: CurrentAccount, request: Request,
                          username: str = Username) -> dict[str, Any]:
    await check_rate(request, "follow", account.id)
    return await community(request).social.set_notify(account, username, body.notify)


@router.delete("/users/{username}/follow")
async def unfollow(account: CurrentAccount, request: Request,
                   username: str = Username) -> dict[str, Any]:
    await check_rate(request, "follow", account.id)
    return await community(request).social.unfollow(account, username)


@router.get("/users/{username}/followers")
async def followers(account: CurrentAccount, request: Request, username: str = Username,
                    offset: int = Query(0, ge=0, le=1_000_000),
                    limit: int = Query(50, ge=1, le=200)) -> dict[str, Any]:
    return await community(request).social.people(account, username, "followers", offset,
                                                   limit)


@router.get("/users/{username}/following")
async def following(account: CurrentAccount, request: Request, username: str = Username,
                    offset: int = Query(0, ge=0, le=1_000_000),
                    limit: int = Query(50, ge=1, le=200)) -> dict[str, Any]:
    return await community(request).social.people(account, username, "following", offset,
                                                   limit)


@router.post("/rooms/{room_id}/ping")
async def ping(body: UserTarget, account: CurrentAccount, request: Request,
               room_id: str = RoomId) -> dict[str, Any]:
    """From inside a room: ask someone to come. Anyone may ping a follower (open and social
    rooms); moderators may ping anyone. Pinging lets them into social and closed rooms."""
    await check_rate(request, "ping", account.id)
    return await community(request).social.ping(room_id, account, body.user_id)

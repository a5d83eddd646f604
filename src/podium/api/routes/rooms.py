"""Rooms over HTTP: the hallway, room views, and every stage action (for bots and scripts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field

from podium.api.deps import CurrentAccount, check_rate, credential_of, podium
from podium.api.schemas import (
    MuteBody,
    Ok,
    RoomCreate,
    RtcAnswer,
    RtcOffer,
    Strict,
    UserTarget,
)
from podium.domain import commands as c

router = APIRouter(prefix="/rooms", tags=["rooms"])
RoomId = Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")


@router.get("")
async def hallway(account: CurrentAccount, request: Request,
                  offset: int = Query(0, ge=0, le=1_000_000),
                  page_size: int = Query(100, ge=1, le=200, alias="limit")) -> dict[str, Any]:
    """Live rooms you may join: rooms where people you follow are on stage first, then the
    biggest, then the newest. ``total`` counts them all; page with ``offset`` and ``limit``."""
    return podium(request).rooms.hallway_page(account, offset, page_size)


@router.post("", status_code=201)
async def create_room(body: RoomCreate, account: CurrentAccount,
                      request: Request) -> dict[str, Any]:
    await check_rate(request, "room_create", account.id)
    services = podium(request)
    if body.record:
        await services.recordings.check_engine()  # refused before the room is made
    live = await services.rooms.create(account, body.title, body.description, body.kind,
                                       recording=body.record)
    return live.summary()


@router.get("/{room_id}")
async def get_room(account: CurrentAccount, request: Request,
                   room_id: str = RoomId) -> dict[str, Any]:
    """The room as you see it (raised hands only if you moderate it)."""
    return podium(request).rooms.view(room_id, account)


@router.get("/{room_id}/summary")
async def get_summary(account: CurrentAccount, request: Request,
                      room_id: str = RoomId) -> dict[str, Any]:
    """An ended room's summary, for its host and moderators (and admins): duration, peak
    listeners, people who came, speakers, hands raised. Kept for a day."""
    return podium(request).community.summaries.get(room_id, account.id, account.is_admin)


@router.get("/{room_id}/audience")
async def get_audience(account: CurrentAccount, request: Request, room_id: str = RoomId,
                       offset: int = Query(0, ge=0, le=1_000_000),
                       limit: int = Query(50, ge=1, le=200)) -> dict[str, Any]:
    """The audience one page at a time, in the order people joined."""
    return podium(request).rooms.audience_page(room_id, account, offset, limit)


@router.post("/{room_id}/join", status_code=200)
async def join(account: CurrentAccount, request: Request, room_id: str = RoomId) -> dict[str, Any]:
    """Join as a listener (the host rejoins as moderator). Without a WebSocket or an audio
    connection you are removed after the resume window."""
    rooms = podium(request).rooms
    live = await rooms.join(room_id, account, None)
    return rooms.snapshot(live, account.id)


@router.post("/{room_id}/rtc", response_model=RtcAnswer)
async def rtc(body: RtcOffer, account: CurrentAccount, request: Request,
              room_id: str = RoomId) -> RtcAnswer:
    """Exchange SDP: send your offer, get the server's answer."""
    answer = await podium(request).rooms.connect_media(room_id, account.id, body.sdp, body.type,
                                                       credential_of(request))
    return RtcAnswer(sdp=answer.sdp, type=answer.type)


class CaptionsBody(Strict):
    on: bool = Field(strict=True)


@router.post("/{room_id}/captions")
async def captions(body: CaptionsBody, account: CurrentAccount, request: Request,
                   room_id: str = RoomId) -> dict[str, Any]:
    """The host: live captions on or off in this room. Only speakers who opted in on their
    profile (``captions``) are captioned; everyone in the room gets ``caption`` events."""
    return await podium(request).captions.set_room(room_id, account, body.on)


async def _run(request: Request, room_id: str, command: c.Command) -> Ok:
    await podium(request).rooms.execute(room_id, command)
    return Ok()


@router.post("/{room_id}/leave", response_model=Ok)
async def leave(account: CurrentAccount, request: Request, room_id: str = RoomId) -> Ok:
    await podium(request).rooms.leave(room_id, account.id)
    return Ok()


@router.post("/{room_id}/hand/raise", response_model=Ok)
async def raise_hand(account: CurrentAccount, request: Request, room_id: str = RoomId) -> Ok:
    await check_rate(request, "hand_raise", account.id)
    return await _run(request, room_id, c.RaiseHand(account.id))


@router.post("/{room_id}/hand/lower", response_model=Ok)
async def lower_hand(account: CurrentAccount, request: Request, room_id: str = RoomId) -> Ok:
    return await _run(request, room_id, c.LowerHand(account.id))


@router.post("/{room_id}/invitation/accept", response_model=Ok)
async def accept(account: CurrentAccount, request: Request, room_id: str = RoomId) -> Ok:
    return await _run(request, room_id, c.AcceptInvite(account.id))


@router.post("/{room_id}/invitation/decline", response_model=Ok)
async def decline(account: CurrentAccount, request: Request, room_id: str = RoomId) -> Ok:
    return await _run(request, room_id, c.DeclineInvite(account.id))


@router.post("/{room_id}/mute", response_model=Ok)
async def set_muted(body: MuteBody, account: CurrentAccount, request: Request,
                    room_id: str = RoomId) -> Ok:
    """Mute or unmute yourself while on stage."""
    return await _run(request, room_id, c.SetMuted(account.id, body.muted))


@router.post("/{room_id}/step-down", response_model=Ok)
async def step_down(account: CurrentAccount, request: Request, room_id: str = RoomId) -> Ok:
    return await _run(request, room_id, c.StepDown(account.id))


@router.post("/{room_id}/end", response_model=Ok)
async def end(account: CurrentAccount, request: Request, room_id: str = RoomId) -> Ok:
    return await _run(request, room_id, c.EndRoom(account.id))


@router.post("/{room_id}/speakers", response_model=Ok)
async def invite_to_speak(body: UserTarget, account: CurrentAccount, request: Request,
                          room_id: str = RoomId) -> Ok:
    """Moderators: invite a listener onto the stage."""
    return await _run(request, room_id, c.InviteToSpeak(account.id, body.user_id))


@router.post("/{room_id}/audience", response_model=Ok)
async def move_to_audience(body: UserTarget, account: CurrentAccount, request: Request,
                           room_id: str = RoomId) -> Ok:
    """Moderators: move someone from the stage back to the audience."""
    return await _run(request, room_id, c.MoveToAudience(account.id, body.user_id))


@router.post("/{room_id}/moderators", response_model=Ok)
async def make_moderator(body: UserTarget, account: CurrentAccount, request: Request,
                         room_id: str = RoomId) -> Ok:
    return await _run(request, room_id, c.MakeModerator(account.id, body.user_id))


@router.post("/{room_id}/muted", response_model=Ok)
async def mute_someone(body: UserTarget, account: CurrentAccount, request: Request,
                       room_id: str = RoomId) -> Ok:
    """Moderators: mute someone on stage (only they can unmute)."""
    return await _run(request, room_id, c.Mute(account.id, body.user_id))


@router.post("/{room_id}/hands/lower", response_model=Ok)
async def lower_someones_hand(body: UserTarget, account: CurrentAccount, request: Request,
                              room_id: str = RoomId) -> Ok:
    return await _run(request, room_id, c.LowerHand(account.id, body.user_id))


@router.post("/{room_id}/allowed", response_model=Ok)
async def allow_user(body: UserTarget, account: CurrentAccount, request: Request,
                     room_id: str = RoomId) -> Ok:
    """Moderators: let someone into a closed room."""
    return await _run(request, room_id, c.AllowUser(account.id, body.user_id))

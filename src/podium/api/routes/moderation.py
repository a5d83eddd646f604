"""Moderation over HTTP: room bans and settings, blocks, reports, admin review.

See docs/moderation.md.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field

from podium.api.deps import CurrentAccount, CurrentAdmin, podium
from podium.api.routes.rooms import RoomId
from podium.api.schemas import Ok, Strict, UserTarget
from podium.domain import commands as c
from podium.services.moderation import ModerationService

router = APIRouter(tags=["moderation"])
Username = Path(min_length=1, max_length=30)


def moderation(request: Request) -> ModerationService:
    return podium(request).moderation


class BanBody(Strict):
    user_id: int = Field(gt=0, lt=2**53, strict=True)
    minutes: int | None = Field(None, gt=0, le=525_600, strict=True)  # none: for good


class HandPolicyBody(Strict):
    policy: Literal["nobody", "everyone", "followed"]


class ReportBody(Strict):
    username: str = Field(min_length=1, max_length=30)
    category: Literal["spam", "harassment", "hate", "impersonation", "other"]
    text: str = Field(min_length=1, max_length=4000)
    room_id: str | None = Field(None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")


class HandleBody(Strict):
    action: Literal["resolve", "dismiss"]
    note: str = Field("", max_length=4000)


class SuspendBody(Strict):
    note: str = Field("", max_length=1000)


# Rooms: moderators -----------------------------------------------------------------------

@router.post("/rooms/{room_id}/bans", status_code=201)
async def ban(body: BanBody, account: CurrentAccount, request: Request,
              room_id: str = RoomId) -> dict[str, Any]:
    """Moderators: remove someone from the room and keep them out (``minutes``, or for good)."""
    return await moderation(request).ban(room_id, account, body.user_id, body.minutes)


@router.get("/rooms/{room_id}/bans")
async def bans(account: CurrentAccount, request: Request,
               room_id: str = RoomId) -> list[dict[str, Any]]:
    """Moderators: the bans in force."""
    return await moderation(request).bans(room_id, account)


@router.delete("/rooms/{room_id}/bans/{user_id}", response_model=Ok)
async def unban(account: CurrentAccount, request: Request, room_id: str = RoomId,
                user_id: int = Path(gt=0, lt=2**53)) -> Ok:
    await moderation(request).unban(room_id, account, user_id)
    return Ok()


@router.post("/rooms/{room_id}/moderators/revoke", response_model=Ok)
async def revoke_moderator(body: UserTarget, account: CurrentAccount, request: Request,
                           room_id: str = RoomId) -> Ok:
    """Moderators: make a moderator a speaker again (never the host)."""
    await podium(request).rooms.execute(room_id, c.RevokeModerator(account.id, body.user_id))
    return Ok()


@router.put("/rooms/{room_id}/hand-policy", response_model=Ok)
async def hand_policy(body: HandPolicyBody, account: CurrentAccount, request: Request,
                      room_id: str = RoomId) -> Ok:
    """Moderators: who may raise a hand: ``nobody``, ``everyone`` or ``followed`` (people
    followed by someone on stage)."""
    await podium(request).rooms.execute(room_id, c.SetHandPolicy(account.id, body.policy))
    return Ok()


# Blocks ------------------------------------------------------------------------------------

@router.get("/blocks")
async def blocks(account: CurrentAccount, request: Request) -> list[dict[str, Any]]:
    return await moderation(request).blocked_people(account)


@router.post("/users/{username}/block")
async def block(account: CurrentAccount, request: Request,
                username: str = Username) -> dict[str, Any]:
    """Block a member: they cannot follow or ping you, nor join rooms you moderate; follows
    between you end; their rooms leave your hallway."""
    return await moderation(request).block(account, username)


@router.delete("/users/{username}/block")
async def unblock(account: CurrentAccount, request: Request,
                  username: str = Username) -> dict[str, Any]:
    return await moderation(request).unblock(account, username)


# Reports -----------------------------------------------------------------------------------

@router.post("/reports", status_code=201)
async def report(body: ReportBody, account: CurrentAccount, request: Request) -> dict[str, Any]:
    """Report a member (rate-limited: ``rate_report``)."""
    return await moderation(request).reports.create(account, body.username, body.category,
                                                    body.text, body.room_id)


# Admins ------------------------------------------------------------------------------------

@router.get("/admin/reports")
async def admin_reports(admin: CurrentAdmin, request: Request,
                        status: Literal["open", "resolved", "dismissed"] = "open",
                        offset: int = Query(0, ge=0, le=1_000_000),
                        limit: int = Query(50, ge=1, le=200)) -> dict[str, Any]:
    """Reports with their context (reporter, reported, room, time), newest first."""
    return await moderation(request).reports.page(status, offset, limit)


@router.post("/admin/reports/{report_id}")
async def handle_report(body: HandleBody, admin: CurrentAdmin, request: Request,
                        report_id: int = Path(gt=0, lt=2**53)) -> dict[str, Any]:
    """Resolve or dismiss an open report, with a note."""
    return await moderation(request).reports.handle(admin, report_id, body.action, body.note)


@router.post("/admin/users/{username}/suspend")
async def suspend(body: SuspendBody, admin: CurrentAdmin, request: Request,
                  username: str = Username) -> dict[str, Any]:
    """Suspend an account, everywhere at once: its sockets close (4003), its sessions and
    tokens stop working, its media is disconnected and the rooms it hosts end."""
    return await moderation(request).set_suspended(admin, username, True, body.note)


@router.delete("/admin/users/{username}/suspend")
async def reinstate(admin: CurrentAdmin, request: Request,
                    username: str = Username) -> dict[str, Any]:
    return await moderation(request).set_suspended(admin, username, False)


@router.get("/admin/audit")
async def audit(admin: CurrentAdmin, request: Request,
                offset: int = Query(0, ge=0, le=1_000_000),
                limit: int = Query(50, ge=1, le=200)) -> dict[str, Any]:
    """Every moderator and admin action, newest first."""
    return await moderation(request).audit_page(offset, limit)

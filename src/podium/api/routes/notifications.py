"""The notification centre and search (docs/social.md)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request

from podium.api.deps import CurrentAccount
from podium.api.routes.social import community

router = APIRouter(tags=["notifications"])
KINDS = {"people", "rooms", "events"}


@router.get("/notifications")
async def notifications(account: CurrentAccount, request: Request,
                        before: int | None = Query(None, gt=0, lt=2**53),
                        limit: int = Query(30, ge=1, le=100),
                        unread: bool = False) -> dict[str, Any]:
    """Newest first. For the next page pass ``before=next_before``."""
    return await community(request).notifications.page(account.id, before, limit, unread)


@router.get("/notifications/unread")
async def unread_count(account: CurrentAccount, request: Request) -> dict[str, Any]:
    return {"unread": await community(request).notifications.unread(account.id)}


@router.post("/notifications/read-all")
async def read_all(account: CurrentAccount, request: Request) -> dict[str, Any]:
    return {"unread": await community(request).notifications.mark_all_read(account.id)}


@router.post("/notifications/{notification_id}/read")
async def read_one(account: CurrentAccount, request: Request,
                   notification_id: int = Path(gt=0, lt=2**53)) -> dict[str, Any]:
    notes = community(request).notifications
    return {"unread": await notes.mark_read(account.id, notification_id)}


@router.get("/search")
async def search(account: CurrentAccount, request: Request,
                 q: str = Query(min_length=1, max_length=100),
                 type: Literal["all", "people", "rooms", "events"] = "all",
                 limit: int = Query(10, ge=1, le=50)) -> dict[str, Any]:
    """People, live rooms you may join and upcoming events; every word is a prefix."""
    kinds: set[str] = set(KINDS) if type == "all" else {str(type)}
    return await community(request).search.search(account, q, kinds, limit)

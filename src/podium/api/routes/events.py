"""Scheduled events, "notify me", starting an event's room, and calendars (docs/social.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from podium.api.deps import CurrentAccount, check_rate, podium
from podium.api.routes.social import community
from podium.api.schemas import Ok, Strict
from podium.services.notifications import at

router = APIRouter(tags=["events"])
EventId = Path(gt=0, lt=2**53)
ICS = "text/calendar; charset=utf-8"


class EventCreate(Strict):
    title: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=1000)
    starts_at: datetime = Field(description="ISO 8601; without an offset it is local time in "
                                "`timezone`")
    timezone: str = Field(min_length=1, max_length=64, description="IANA name, e.g. Europe/Paris")
    cohosts: list[str] = Field(default_factory=list, max_length=10)
    kind: Literal["open", "social", "closed"] = "open"


@router.post("/events", status_code=201)
async def create_event(body: EventCreate, account: CurrentAccount,
                       request: Request) -> dict[str, Any]:
    await check_rate(request, "event_create", account.id)
    return await community(request).events.create(
        account, body.title, body.description, body.starts_at, body.timezone, body.cohosts,
        body.kind)


@router.get("/events")
async def upcoming(account: CurrentAccount, request: Request,
                   offset: int = Query(0, ge=0, le=1_000_000),
                   limit: int = Query(50, ge=1, le=200)) -> dict[str, Any]:
    """Events not started yet, soonest first."""
    return await community(request).events.upcoming(account, offset, limit)


@router.get("/events/{event_id}.ics", response_class=Response)
async def event_ics(account: CurrentAccount, request: Request,
                    event_id: int = EventId) -> Response:
    body = await community(request).calendar.event_ics(account, event_id)
    return Response(body, media_type=ICS, headers={
        "Content-Disposition": f'attachment; filename="podium-event-{event_id}.ics"'})


@router.get("/events/{event_id}")
async def get_event(account: CurrentAccount, request: Request,
                    event_id: int = EventId) -> dict[str, Any]:
    return await community(request).events.get(account, event_id)


@router.delete("/events/{event_id}")
async def cancel_event(account: CurrentAccount, request: Request,
                       event_id: int = EventId) -> dict[str, Any]:
    """The host cancels the event."""
    return await community(request).events.cancel(account, event_id)


@router.post("/events/{event_id}/rsvp")
async def rsvp(account: CurrentAccount, request: Request,
               event_id: int = EventId) -> dict[str, Any]:
    """Notify me when it goes live (and put it on my calendar feed)."""
    return await community(request).events.rsvp(account, event_id, True)


@router.delete("/events/{event_id}/rsvp")
async def un_rsvp(account: CurrentAccount, request: Request,
                  event_id: int = EventId) -> dict[str, Any]:
    return await community(request).events.rsvp(account, event_id, False)


@router.post("/events/{event_id}/start", status_code=201)
async def start_event(account: CurrentAccount, request: Request,
                      event_id: int = EventId) -> dict[str, Any]:
    """A host or co-host starts the event's room; everyone who asked is told."""
    live = await community(request).events.start_room(account, event_id)
    return live.summary()


@router.get("/calendar")
async def calendar_status(account: CurrentAccount, request: Request) -> dict[str, Any]:
    """Whether you have a calendar feed (its URL is shown only when made)."""
    created = await community(request).calendar.has_feed(account.id)
    return {"active": created is not None, "created_at": at(created)}


@router.post("/calendar/token", status_code=201)
async def rotate_calendar(account: CurrentAccount, request: Request) -> dict[str, Any]:
    """Make a new private feed URL (the old one stops working)."""
    calendar = community(request).calendar
    url = calendar.feed_url(await calendar.rotate(account.id))
    return {"url": url, "webcal_url": "webcal://" + url.split("://", 1)[1]}


@router.delete("/calendar/token", response_model=Ok)
async def revoke_calendar(account: CurrentAccount, request: Request) -> Ok:
    await community(request).calendar.revoke(account.id)
    return Ok()


# Not in the OpenAPI document: a capability URL for calendar apps, not an API for clients.
@router.get("/calendar/{token}.ics", response_class=Response, include_in_schema=False)
async def calendar_feed(request: Request,
                        token: str = Path(min_length=1, max_length=100)) -> Response:
    """The feed calendar apps subscribe to: the secret in the URL is the only credential."""
    body = await podium(request).community.calendar.feed(token)
    return Response(body, media_type=ICS, headers={"Cache-Control": "private, max-age=300"})

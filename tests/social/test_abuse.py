"""Abuse of the social layer (security issue #18): closed events, event text, notification
floods and their rate limits, suspended members' pages."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from icalendar import Calendar
from PIL import Image
from sqlalchemy import update

from podium.storage.tables import Event, EventRsvp
from tests.api.helpers import Member, act, assert_error, member, members, ok
from tests.conftest import Server
from tests.social.helpers import follow, kinds, room

EVENT = {"title": "Jazz night", "starts_at": "2027-03-01T18:30:00", "timezone": "Europe/Paris"}
DIRT = "\u202e\u200b\x00\x07\ufeff"


async def create(m: Member, **fields: Any) -> dict[str, Any]:
    return ok(await m.http.post("/events", json={**EVENT, **fields}), 201)  # type: ignore[no-any-return]


def listed(body: dict[str, Any]) -> list[int]:
    return [e["id"] for e in body["events"]]


# Item 8: closed events ---------------------------------------------------------------------

async def test_closed_events_do_not_exist_for_strangers(server: Server) -> None:
    host, co, stranger = await members(server, "host", "co", "stranger")
    event = await create(host, title="Secret plans", cohosts=["co"], kind="closed")
    eid = event["id"]
    # A stranger gets what a missing event gets, wherever they look.
    missing = assert_error(await stranger.http.get("/events/999999"), 404, "event_not_found")
    for response in (await stranger.http.get(f"/events/{eid}"),
                     await stranger.http.post(f"/events/{eid}/rsvp"),
                     await stranger.http.delete(f"/events/{eid}/rsvp"),
                     await stranger.http.get(f"/events/{eid}.ics"),
                     await stranger.http.post(f"/events/{eid}/start"),
                     await stranger.http.delete(f"/events/{eid}")):
        assert assert_error(response, 404, "event_not_found") == missing
    assert eid not in listed(ok(await stranger.http.get("/events")))
    profile = ok(await stranger.http.get("/users/host/profile"))
    assert eid not in [e["id"] for e in profile["upcoming_events"]]
    found = ok(await stranger.http.get("/search", params={"q": "secret", "type": "events"}))
    assert found["events"] == []
    # The host and co-hosts see it, as before.
    for m in (host, co):
        assert ok(await m.http.get(f"/events/{eid}"))["kind"] == "closed"
        assert eid in listed(ok(await m.http.get("/events")))
    assert ok(await co.http.post(f"/events/{eid}/rsvp"))["rsvped"] is True


async def test_an_rsvp_lets_nobody_in_by_itself(server: Server) -> None:
    host, stranger, fan = await members(server, "host", "stranger", "fan")
    closed = await create(host, kind="closed")
    social = await create(host, title="Friends", kind="social")
    await follow(host, fan)  # the host follows fan: fan may join the host's social rooms
    assert_error(await stranger.http.get(f"/events/{social['id']}"), 404, "event_not_found")
    ok(await fan.http.post(f"/events/{social['id']}/rsvp"))
    # An RSVP made before these rules (or by someone no longer followed) is still stored...
    now = datetime.fromtimestamp(server.clock.now(), UTC)
    async with server.services.db.transaction() as s:
        s.add(EventRsvp(event_id=closed["id"], user_id=stranger.id, created_at=now))
        s.add(EventRsvp(event_id=social["id"], user_id=stranger.id, created_at=now))
    # ...and lets nobody in: at the start only those who may join the room are.
    for event in (closed, social):
        started = ok(await host.http.post(f"/events/{event['id']}/start"), 201)
        assert_error(await stranger.http.post(f"/rooms/{started['id']}/join"), 403,
                     "not_invited")
        assert "event_live" not in await kinds(stranger)
    ok(await fan.http.post(f"/rooms/{started['id']}/join"))
    assert "event_live" in await kinds(fan)


async def test_unfollowed_before_the_start_is_not_let_in(server: Server) -> None:
    host, fan = await members(server, "host", "fan")
    await follow(host, fan)
    event = await create(host, kind="social")
    ok(await fan.http.post(f"/events/{event['id']}/rsvp"))
    ok(await host.http.delete("/users/fan/follow"))
    started = ok(await host.http.post(f"/events/{event['id']}/start"), 201)
    assert_error(await fan.http.post(f"/rooms/{started['id']}/join"), 403, "not_invited")


# Item 9: event text ----------------------------------------------------------------------------

async def test_event_title_and_description_are_cleaned(server: Server) -> None:
    host = await member(server, "host")
    event = await create(host, title=f" Late{DIRT} night ", description=f"one{DIRT}\r\n\n\n\ntwo")
    assert event["title"] == "Late night" and event["description"] == "one\n\ntwo"
    ics = (await host.http.get(f"/events/{event['id']}.ics")).content
    (vevent,) = Calendar.from_ical(ics).walk("VEVENT")
    assert str(vevent["SUMMARY"]) == "Late night"
    for ch in DIRT:
        assert ch.encode() not in ics, repr(ch)
    started = ok(await host.http.post(f"/events/{event['id']}/start"), 201)
    assert started["title"] == "Late night" and started["description"] == "one\n\ntwo"
    for title in (DIRT, "  "):
        assert_error(await host.http.post("/events", json={**EVENT, "title": title}), 422,
                     "invalid_title")


async def test_text_stored_before_cleaning_is_cleaned_where_shown(server: Server) -> None:
    host = await member(server, "host")
    event = await create(host)
    dirt = DIRT.replace("\x00", "")  # PostgreSQL cannot store NUL (so those were 500s)
    async with server.services.db.transaction() as s:
        await s.execute(update(Event).where(Event.id == event["id"]).values(
            title=f"Old{dirt} title", description=f"old{dirt} text"))
    ics = (await host.http.get(f"/events/{event['id']}.ics")).content
    for ch in DIRT:
        assert ch.encode() not in ics, repr(ch)
    started = ok(await host.http.post(f"/events/{event['id']}/start"), 201)
    assert started["title"] == "Old title" and started["description"] == "old text"


# Item 10: notification floods and rate limits -----------------------------------------------

async def test_follow_cycles_notify_once_a_day(server: Server) -> None:
    fan, star = await members(server, "fan", "star")
    for _ in range(20):
        await follow(fan, star)
        ok(await fan.http.delete("/users/star/follow"))
    await follow(fan, star)
    assert await kinds(star) == ["new_follower"]
    server.clock.advance(24 * 3600 + 1)
    ok(await fan.http.delete("/users/star/follow"))
    await follow(fan, star)
    assert await kinds(star) == ["new_follower", "new_follower"]
    # Another follower is news of its own.
    await follow(await member(server, "other"), star)
    assert await kinds(star) == ["new_follower"] * 3


async def test_repeated_invitations_to_speak_notify_once(server: Server) -> None:
    host, guest = await members(server, "host", "guest")
    rid = await room(host)
    ok(await guest.http.post(f"/rooms/{rid}/join"))
    for _ in range(10):
        ok(await act(host, rid, "speakers", user_id=guest.id))
        ok(await act(guest, rid, "invitation/decline"))
    assert await kinds(guest) == ["speak_invite"]
    server.clock.advance(10 * 60 + 1)
    ok(await act(host, rid, "speakers", user_id=guest.id))
    assert await kinds(guest) == ["speak_invite", "speak_invite"]
    # Another room is another invitation.
    other_host = await member(server, "other")
    other = await room(other_host, title="Other")
    ok(await guest.http.post(f"/rooms/{other}/join"))
    ok(await act(other_host, other, "speakers", user_id=guest.id))
    assert await kinds(guest) == ["speak_invite"] * 3


async def test_follows_and_event_creation_are_rate_limited(
        make_server: Callable[..., Any]) -> None:
    async with make_server(rate_follow="3/60", rate_event_create="2/3600") as server:
        fan, star, other = await members(server, "fan", "star", "other")
        await follow(fan, star)
        ok(await fan.http.delete("/users/star/follow"))
        await follow(fan, star)
        for response in (await fan.http.delete("/users/star/follow"),
                         await fan.http.post("/users/other/follow", json={}),
                         await fan.http.patch("/users/star/follow", json={"notify": False})):
            assert_error(response, 429, "rate_limited")
            assert response.headers["retry-after"] == "20"
        await follow(other, star)  # per account
        # Events: a malformed body is not counted.
        assert_error(await star.http.post("/events", json={**EVENT, "starts_at": "soon"}), 422)
        for i in range(2):
            await create(star, title=f"Talk {i}")
        response = await star.http.post("/events", json={**EVENT, "title": "One too many"})
        assert_error(response, 429, "rate_limited")
        assert response.headers["retry-after"] == "1800"
        await create(fan)
        server.clock.advance(1800)
        await create(star, title="Later")


# Item 14: suspended members --------------------------------------------------------------------

async def test_suspended_members_are_unknown_to_other_members(server: Server) -> None:
    alice, bob = await members(server, "alice", "bob")
    admin = await member(server, "admin", admin=True)
    png = io.BytesIO()
    Image.new("RGB", (32, 32)).save(png, "PNG")
    ok(await bob.http.put("/profile/avatar", content=png.getvalue()))
    await follow(alice, bob)
    await server.services.accounts.set_suspended(bob.id, True)
    paths = ("/users/{}", "/users/{}/profile", "/users/{}/followers", "/users/{}/following",
             "/users/{}/avatar")
    for path in paths:
        unknown = assert_error(await alice.http.get(path.format("nobody")), 404,
                               "user_not_found")
        assert assert_error(await alice.http.get(path.format("bob")), 404) == unknown, path
    # Admins still see them (and suspend or reinstate them through the admin routes).
    assert ok(await admin.http.get("/users/bob"))["username"] == "bob"
    ok(await admin.http.get("/users/bob/profile"))
    await server.services.accounts.set_suspended(bob.id, False)
    for path in paths:
        assert (await alice.http.get(path.format("bob"))).status_code == 200, path

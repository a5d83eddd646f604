"""Scheduled events: time zones, RSVPs, .ics files, the private calendar feed, reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar

from tests.api.helpers import Member, assert_error, members, ok
from tests.conftest import Server
from tests.social.helpers import kinds, notes

# The FakeClock starts at 2027-01-15 08:00 UTC.
EVENT = {"title": "Jazz night", "description": "Standards and requests.",
         "starts_at": "2027-03-01T18:30:00", "timezone": "America/New_York"}


async def create(m: Member, **fields: Any) -> dict[str, Any]:
    return ok(await m.http.post("/events", json={**EVENT, **fields}), 201)  # type: ignore[no-any-return]


def vevents(body: bytes) -> list[Any]:
    return list(Calendar.from_ical(body).walk("VEVENT"))


async def test_create_with_time_zone_and_list(server: Server) -> None:
    host, co, fan = await members(server, "host", "co", "fan")
    event = await create(host, cohosts=["co"])
    assert event["starts_at"] == "2027-03-01T23:30:00Z"  # 18:30 EST is 23:30 UTC
    assert event["timezone"] == "America/New_York"
    assert event["local_start"] == "2027-03-01T18:30:00-05:00"
    assert event["host"]["username"] == "host" and [c["username"] for c in event["cohosts"]] == [
        "co"]
    assert event["status"] == "scheduled" and event["rsvp_count"] == 0
    # With an offset, the offset wins over the zone for the instant.
    other = await create(co, title="Early", starts_at="2027-02-01T09:00:00+01:00",
                         timezone="Europe/Paris")
    assert other["starts_at"] == "2027-02-01T08:00:00Z"
    listed = ok(await fan.http.get("/events"))
    assert [e["id"] for e in listed["events"]] == [other["id"], event["id"]]
    profile = ok(await fan.http.get("/users/co/profile"))
    assert [e["id"] for e in profile["upcoming_events"]] == [other["id"], event["id"]]

    bad = [({"timezone": "Mars/Olympus"}, "invalid_timezone"),
           ({"timezone": "../../etc/passwd"}, "invalid_timezone"),
           ({"starts_at": "2026-01-01T10:00:00"}, "invalid_start"),
           ({"starts_at": "2030-01-01T10:00:00"}, "invalid_start"),
           ({"title": "   "}, "invalid_title")]
    for fields, code in bad:
        assert_error(await host.http.post("/events", json={**EVENT, **fields}), 422, code)
    assert_error(await host.http.post("/events", json={**EVENT, "starts_at": "tomorrow"}), 422)
    assert_error(await host.http.post("/events", json={**EVENT, "cohosts": ["ghost"]}), 404)
    assert_error(await host.http.get("/events/999"), 404, "event_not_found")


async def test_ics_file_parses(server: Server) -> None:
    host, fan = await members(server, "host", "fan")
    event = await create(host)
    response = await fan.http.get(f"/events/{event['id']}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    (vevent,) = vevents(response.content)
    assert str(vevent["SUMMARY"]) == "Jazz night"
    start = vevent["DTSTART"]
    assert start.params["TZID"] == "America/New_York"
    assert start.dt == datetime(2027, 3, 1, 18, 30, tzinfo=ZoneInfo("America/New_York"))
    assert start.dt.astimezone(UTC) == datetime(2027, 3, 1, 23, 30, tzinfo=UTC)
    assert "Standards and requests." in str(vevent["DESCRIPTION"])
    assert vevent["ORGANIZER"].params["CN"] == "Host"
    assert str(vevent["ORGANIZER"]).endswith("/users/host")
    assert str(vevent["UID"]).startswith(f"event-{event['id']}@")
    assert Calendar.from_ical(response.content).walk("VTIMEZONE")  # the zone travels along
    utc_event = await create(host, timezone="UTC", starts_at="2027-02-02T12:00:00")
    (vevent,) = vevents((await fan.http.get(f"/events/{utc_event['id']}.ics")).content)
    assert vevent["DTSTART"].dt == datetime(2027, 2, 2, 12, 0, tzinfo=UTC)
    assert_error(await (await server.anonymous()).http.get(f"/events/{event['id']}.ics"), 401)


async def test_rsvp_and_private_calendar_feed(server: Server) -> None:
    host, fan, other = await members(server, "host", "fan", "other")
    jazz = await create(host)
    talk = await create(host, title="Late talk", starts_at="2027-04-01T20:00:00")
    await create(other, title="Not mine")
    assert ok(await fan.http.post(f"/events/{jazz['id']}/rsvp"))["rsvped"] is True
    ok(await fan.http.post(f"/events/{jazz['id']}/rsvp"))  # idempotent
    assert ok(await host.http.get(f"/events/{jazz['id']}"))["rsvp_count"] == 1
    assert ok(await fan.http.get(f"/events/{jazz['id']}"))["rsvped"] is True
    assert ok(await fan.http.get("/calendar")) == {"active": False, "created_at": None}
    feed = ok(await fan.http.post("/calendar/token"), 201)
    assert feed["webcal_url"].startswith("webcal://")
    path = feed["url"].split("/api/v1", 1)[1]
    anon = (await server.anonymous()).http  # calendar apps have no cookie
    response = await anon.get(path)
    assert response.status_code == 200, response.text
    assert [str(v["SUMMARY"]) for v in vevents(response.content)] == ["Jazz night"]
    host_feed = ok(await host.http.post("/calendar/token"), 201)["url"].split("/api/v1", 1)[1]
    summaries = [str(v["SUMMARY"]) for v in vevents((await anon.get(host_feed)).content)]
    assert summaries == ["Jazz night", "Late talk"]
    ok(await fan.http.delete(f"/events/{jazz['id']}/rsvp"))
    assert vevents((await anon.get(path)).content) == []
    # Rotating replaces the URL; revoking ends it.
    new_path = ok(await fan.http.post("/calendar/token"), 201)["url"].split("/api/v1", 1)[1]
    assert_error(await anon.get(path), 404, "calendar_not_found")
    assert (await anon.get(new_path)).status_code == 200
    ok(await fan.http.delete("/calendar/token"))
    assert_error(await anon.get(new_path), 404, "calendar_not_found")
    assert_error(await anon.get("/calendar/guess.ics"), 404)
    # Only the host cancels; a cancelled event takes no RSVPs and says so in calendars.
    assert_error(await fan.http.delete(f"/events/{talk['id']}"), 403)
    assert ok(await host.http.delete(f"/events/{talk['id']}"))["status"] == "cancelled"
    assert_error(await fan.http.post(f"/events/{talk['id']}/rsvp"), 410, "event_cancelled")
    statuses = {str(v["SUMMARY"]): str(v["STATUS"]) for v in vevents(
        (await anon.get(host_feed)).content)}
    assert statuses == {"Jazz night": "CONFIRMED", "Late talk": "CANCELLED"}


async def test_reminder_at_start_time_and_going_live(server: Server) -> None:
    host, co, fan, stranger = await members(server, "host", "co", "fan", "stranger")
    ok(await host.http.post("/users/fan/follow", json={"notify": False}))  # fan may come
    start = datetime.fromtimestamp(server.clock.now(), UTC) + timedelta(minutes=10)
    event = await create(host, cohosts=["co"], kind="social",
                         starts_at=start.isoformat(), timezone="Europe/Berlin")
    ok(await fan.http.post(f"/events/{event['id']}/rsvp"))
    await server.services.rooms.tick()
    assert await kinds(host) == [] and await kinds(co) == []
    server.clock.advance(600)
    await server.services.rooms.tick()
    await server.services.rooms.tick()  # once only
    for m in (host, co):
        assert await kinds(m) == ["event_starting"]
        assert (await notes(m))[0]["event_id"] == event["id"]
    assert await kinds(fan) == ["new_follower"]
    # Who may start it: its host and co-hosts.
    assert_error(await fan.http.post(f"/events/{event['id']}/start"), 403)
    assert_error(await stranger.http.post(f"/events/{event['id']}/start"), 404)  # unseen
    started = ok(await co.http.post(f"/events/{event['id']}/start"), 201)
    assert started["kind"] == "social" and started["title"] == "Jazz night"
    live = (await notes(fan))[0]
    assert live["kind"] == "event_live" and live["room_id"] == started["id"]
    assert (await notes(host))[0]["kind"] == "event_live"
    # The social room lets in those who asked and may come, and its hosts, and nobody else.
    ok(await fan.http.post(f"/rooms/{started['id']}/join"))
    ok(await host.http.post(f"/rooms/{started['id']}/join"))
    assert_error(await stranger.http.post(f"/rooms/{started['id']}/join"), 403, "not_invited")
    assert ok(await fan.http.get(f"/events/{event['id']}"))["status"] == "live"
    assert_error(await co.http.post(f"/events/{event['id']}/start"), 409, "event_started")
    assert event["id"] not in [e["id"] for e in ok(await fan.http.get("/events"))["events"]]

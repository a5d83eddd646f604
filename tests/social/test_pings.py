"""Pings: who may ping whom, what a ping lets in, and the notification it sends."""

from __future__ import annotations

from tests.api.helpers import assert_error, members, ok
from tests.conftest import Server
from tests.social.helpers import follow, kinds, notes, room


async def ping(pinger, room_id: str, target) -> object:  # type: ignore[no-untyped-def]
    return await pinger.http.post(f"/rooms/{room_id}/ping", json={"user_id": target.id})


async def test_listeners_ping_their_followers_in_open_rooms(server: Server) -> None:
    host, bob, fan, stranger = await members(server, "host", "bob", "fan", "stranger")
    await follow(fan, bob)
    room_id = await room(host, "open", "Open chat")
    ok(await bob.http.post(f"/rooms/{room_id}/join"))
    assert ok(await ping(bob, room_id, fan)) == {"ok": True, "notified": True}
    note = (await notes(fan))[0]
    assert note["kind"] == "ping" and note["room_id"] == room_id
    assert note["actor"]["username"] == "bob" and "Open chat" in note["text"]
    # Once per room: a second ping does not notify again.
    assert ok(await ping(bob, room_id, fan))["notified"] is False
    assert (await kinds(fan)).count("ping") == 1
    body = assert_error(await ping(bob, room_id, stranger), 403, "forbidden")
    assert "follow you" in body["message"]
    # Moderators ping anyone.
    ok(await ping(host, room_id, stranger))
    assert await kinds(stranger) == ["ping"]


async def test_pings_in_social_and_closed_rooms(server: Server) -> None:
    host, bob, fan, stranger, other = await members(server, "host", "bob", "fan", "stranger",
                                                    "other")
    await follow(host, bob)
    await follow(fan, bob)
    social = await room(host, "social", "Social")
    ok(await bob.http.post(f"/rooms/{social}/join"))
    assert_error(await fan.http.post(f"/rooms/{social}/join"), 403, "not_invited")
    ok(await ping(bob, social, fan))  # a listener pings a follower: that lets them in
    ok(await fan.http.post(f"/rooms/{social}/join"))
    assert_error(await ping(bob, social, stranger), 403, "forbidden")

    closed = await room(host, "closed", "Closed")
    ok(await host.http.post(f"/rooms/{closed}/allowed", json={"user_id": bob.id}))
    ok(await bob.http.post(f"/rooms/{closed}/join"))
    body = assert_error(await ping(bob, closed, fan), 403, "forbidden")
    assert "only moderators" in body["message"]
    assert_error(await fan.http.post(f"/rooms/{closed}/join"), 403, "not_invited")
    ok(await ping(host, closed, stranger))
    ok(await stranger.http.post(f"/rooms/{closed}/join"))
    # Who is not in the room cannot ping from it.
    assert_error(await ping(other, closed, fan), 409, "not_in_room")


async def test_ping_refusals(server: Server) -> None:
    host, bob = await members(server, "host", "bob")
    room_id = await room(host, "open")
    ok(await bob.http.post(f"/rooms/{room_id}/join"))
    assert_error(await ping(host, room_id, bob), 409, "already_in_room")
    assert_error(await ping(host, room_id, host), 409, "invalid_target")
    response = await host.http.post(f"/rooms/{room_id}/ping", json={"user_id": 999_999})
    assert_error(response, 404, "user_not_found")
    assert_error(await host.http.post(f"/rooms/{room_id}/ping", json={"user_id": "2"}), 422)
    assert_error(await host.http.post("/rooms/nope/ping", json={"user_id": bob.id}), 404)

"""Room types over HTTP: who sees a room in the hallway, who may join, and the refusals."""

from __future__ import annotations

import pytest

from tests.api.helpers import Member, assert_error, members, ok
from tests.conftest import Server
from tests.social.helpers import follow, hallway_ids, room

# persona -> (open, social, closed): may they see and join?
MATRIX = {
    "stranger": (True, False, False),
    "followed_by_moderator": (True, True, False),
    "allowed": (True, True, True),
    "pinged": (True, True, True),
    "host": (True, True, True),
}


@pytest.mark.parametrize("kind", ["open", "social", "closed"])
async def test_who_sees_and_joins_each_room_type(server: Server, kind: str) -> None:
    host, stranger, followed, allowed, pinged, fan = await members(
        server, "host", "stranger", "followed", "allowed", "pinged", "fan")
    await follow(host, followed)
    await follow(fan, host)  # following the host is not what counts: being followed is
    room_id = await room(host, kind)
    ok(await host.http.post(f"/rooms/{room_id}/allowed", json={"user_id": allowed.id}))
    ok(await host.http.post(f"/rooms/{room_id}/ping", json={"user_id": pinged.id}))
    column = ["open", "social", "closed"].index(kind)
    people: dict[str, Member] = {"stranger": stranger, "followed_by_moderator": followed,
                                 "allowed": allowed, "pinged": pinged, "host": host}
    for persona, m in people.items():
        expected = MATRIX[persona][column]
        assert (room_id in await hallway_ids(m)) is expected, (kind, persona)
        response = await m.http.post(f"/rooms/{room_id}/join")
        if expected:
            assert ok(response)["room_id"] == room_id, (kind, persona)
        else:
            body = assert_error(response, 403, "not_invited")
            assert kind in body["message"], body  # "This room is social: ..." / "closed: ..."
            assert_error(await m.http.get(f"/rooms/{room_id}"), 403, "not_invited")
    fan_expected = kind == "open"
    assert (room_id in await hallway_ids(fan)) is fan_expected
    assert (await fan.http.post(f"/rooms/{room_id}/join")).status_code == (
        200 if fan_expected else 403)


async def test_social_room_admits_people_any_moderator_follows(server: Server) -> None:
    host, bob, carol, dave = await members(server, "host", "bob", "carol", "dave")
    await follow(host, bob)
    await follow(bob, carol)
    room_id = await room(host, "social")
    ok(await bob.http.post(f"/rooms/{room_id}/join"))
    # Bob is only a listener: whom he follows does not count yet.
    assert room_id not in await hallway_ids(carol)
    assert_error(await carol.http.post(f"/rooms/{room_id}/join"), 403, "not_invited")
    ok(await host.http.post(f"/rooms/{room_id}/speakers", json={"user_id": bob.id}))
    ok(await bob.http.post(f"/rooms/{room_id}/invitation/accept"))
    ok(await host.http.post(f"/rooms/{room_id}/moderators", json={"user_id": bob.id}))
    assert room_id in await hallway_ids(carol)
    ok(await carol.http.post(f"/rooms/{room_id}/join"))
    assert room_id not in await hallway_ids(dave)


async def test_room_kind_is_validated(server: Server) -> None:
    (host,) = await members(server, "host")
    created = ok(await host.http.post("/rooms", json={"title": "S", "kind": "social"}), 201)
    assert created["kind"] == "social"
    assert_error(await host.http.post("/rooms", json={"title": "S", "kind": "private"}), 422)

"""Follows over HTTP: follow, unfollow, lists, per-follow notification settings, profiles."""

from __future__ import annotations

from tests.api.helpers import assert_error, member, members, ok
from tests.conftest import Server
from tests.social.helpers import follow, kinds, notes, room


async def test_follow_unfollow_and_lists(server: Server) -> None:
    alice, bob, carol = await members(server, "alice", "bob", "carol")
    rel = await follow(bob, alice)
    assert rel["following"] is True and rel["notify"] is True and rel["followers_count"] == 1
    assert (await follow(bob, alice))["followers_count"] == 1  # idempotent
    await follow(carol, alice, notify=False)
    await follow(alice, bob)
    page = ok(await carol.http.get("/users/alice/followers"))
    assert page["total"] == 2 and [p["username"] for p in page["people"]] == ["carol", "bob"]
    assert page["people"][1]["following"] is False  # carol does not follow bob
    page = ok(await carol.http.get("/users/alice/followers", params={"offset": 1, "limit": 1}))
    assert [p["username"] for p in page["people"]] == ["bob"] and page["total"] == 2
    page = ok(await alice.http.get("/users/alice/following"))
    assert [p["username"] for p in page["people"]] == ["bob"]
    assert page["people"][0]["follows_you"] is True

    profile = ok(await bob.http.get("/users/alice/profile"))
    assert profile["followers_count"] == 2 and profile["following_count"] == 1
    assert profile["following"] is True and profile["follows_you"] is True

    rel = ok(await bob.http.delete("/users/alice/follow"))
    assert rel["following"] is False and rel["followers_count"] == 1
    ok(await bob.http.delete("/users/alice/follow"))  # idempotent
    assert ok(await bob.http.get("/users/alice/followers"))["total"] == 1


async def test_follow_refusals(server: Server) -> None:
    alice, bob = await members(server, "alice", "bob")
    assert_error(await alice.http.post("/users/alice/follow"), 422, "cannot_follow_self")
    assert_error(await alice.http.post("/users/nobody/follow"), 404, "user_not_found")
    assert_error(await alice.http.patch("/users/bob/follow", json={"notify": False}), 404,
                 "not_following")
    assert_error(await alice.http.post("/users/bob/follow", json={"notify": "yes"}), 422)
    assert_error(await alice.http.post("/users/bob/follow", json={"extra": 1}), 422)
    assert_error(await alice.http.get("/users/bob/followers", params={"limit": 0}), 422)
    response = await (await server.anonymous()).http.post("/users/bob/follow")
    assert_error(response, 401)
    await server.services.accounts.set_suspended(bob.id, True)
    assert_error(await alice.http.post("/users/bob/follow"), 404, "user_not_found")


async def test_new_follower_and_per_follow_notification_settings(server: Server) -> None:
    alice, fan, quiet, later = await members(server, "alice", "fan", "quiet", "later")
    await follow(fan, alice)
    await follow(quiet, alice, notify=False)
    await follow(later, alice)
    assert (await kinds(alice)).count("new_follower") == 3
    first = (await notes(alice))[-1]
    assert first["actor"]["username"] == "fan" and "followed you" in first["text"]
    # "later" turns the notifications for alice off again.
    rel = ok(await later.http.patch("/users/alice/follow", json={"notify": False}))
    assert rel["notify"] is False
    room_id = await room(alice, "open", "Morning show")
    assert await kinds(fan) == ["followed_started_room"]
    note = (await notes(fan))[0]
    assert note["room_id"] == room_id and "Morning show" in note["text"]
    assert await kinds(quiet) == [] and await kinds(later) == []


async def test_took_the_stage_notification(server: Server) -> None:
    host, bob, fan, quiet = await members(server, "host", "bob", "fan", "quiet")
    await follow(fan, bob)
    await follow(quiet, bob, notify=False)
    room_id = await room(host, "open", "Panel")
    ok(await bob.http.post(f"/rooms/{room_id}/join"))
    ok(await host.http.post(f"/rooms/{room_id}/speakers", json={"user_id": bob.id}))
    assert (await kinds(bob))[0] == "speak_invite"
    ok(await bob.http.post(f"/rooms/{room_id}/invitation/accept"))
    assert await kinds(fan) == ["followed_on_stage"]
    assert (await notes(fan))[0]["room_id"] == room_id
    assert await kinds(quiet) == []
    # Stepping down and up again is not news twice.
    ok(await bob.http.post(f"/rooms/{room_id}/step-down"))
    ok(await host.http.post(f"/rooms/{room_id}/speakers", json={"user_id": bob.id}))
    ok(await bob.http.post(f"/rooms/{room_id}/invitation/accept"))
    assert await kinds(fan) == ["followed_on_stage"]


async def test_closed_room_starts_are_not_announced_to_those_who_cannot_join(
        server: Server) -> None:
    host = await member(server, "host")
    fan, friend = await members(server, "fan", "friend")
    await follow(fan, host)
    await follow(friend, host)
    await follow(host, friend)  # so friend may join the host's social rooms
    await room(host, "social", "Friends only")
    assert await kinds(fan) == []
    assert await kinds(friend) == ["followed_started_room", "new_follower"]

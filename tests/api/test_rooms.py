"""Rooms over HTTP: creating, the hallway, closed rooms, every stage action and its refusals."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from podium.storage.tables import Room
from tests.api.helpers import Member, act, assert_error, join_http, member, members, ok
from tests.conftest import Server


async def view(m: Member, room_id: str) -> dict[str, Any]:
    return ok(await m.http.get(f"/rooms/{room_id}"))  # type: ignore[no-any-return]


def roles(room: dict[str, Any]) -> dict[str, str]:
    return {m["username"]: m["role"] for m in room["stage"]}


async def db_room(server: Server, room_id: str) -> Room:
    async with server.services.db.transaction() as s:
        row = await s.scalar(select(Room).where(Room.id == room_id))
    assert row is not None
    return row


async def test_create_validates_and_the_hallway_lists_live_rooms(server: Server) -> None:
    alice, bob, carol, dave = await members(server, "alice", "bob", "carol", "dave")
    room = ok(await alice.http.post("/rooms", json={"title": "  Friday \t chat ",
                                                    "description": "weekly"}), 201)
    assert room["title"] == "Friday chat" and room["description"] == "weekly"
    assert room["kind"] == "open" and room["status"] == "live" and room["host_id"] == alice.id
    assert room["stage"] == [] and room["listener_count"] == 0
    assert (await db_room(server, room["id"])).status == "live"

    bad: list[dict[str, Any]] = [
        {"title": ""}, {"title": "   "}, {"title": "x" * 101}, {"title": 42}, {},
        {"title": "ok", "description": "x" * 501}, {"title": "ok", "kind": "secret"},
        {"title": "ok", "kind": None}, {"title": "ok", "colour": "red"},
    ]
    for body in bad:
        response = await alice.http.post("/rooms", json=body)
        assert response.status_code == 422, (body, response.text)
        assert_error(response, 422)
    ok(await alice.http.post("/rooms", json={"title": "x" * 100, "description": "y" * 500}), 201)

    # The hallway: stage and listener count, biggest room first.
    small = ok(await bob.http.post("/rooms", json={"title": "Small"}), 201)
    await join_http(alice, room["id"])
    await join_http(carol, room["id"])
    await join_http(dave, room["id"])
    await join_http(bob, small["id"])
    hallway = ok(await dave.http.get("/rooms"))["rooms"]
    by_id = {r["id"]: r for r in hallway}
    assert [r["id"] for r in hallway][:2] == [room["id"], small["id"]]
    assert [m["username"] for m in by_id[room["id"]]["stage"]] == ["alice"]
    assert by_id[room["id"]]["listener_count"] == 2
    assert [m["username"] for m in by_id[small["id"]]["stage"]] == ["bob"]
    assert by_id[small["id"]]["listener_count"] == 0

    # At most max_rooms_per_user live rooms each.
    ok(await alice.http.post("/rooms", json={"title": "Third"}), 201)
    assert_error(await alice.http.post("/rooms", json={"title": "Fourth"}), 429, "too_many_rooms")


async def test_closed_rooms_admit_only_people_let_in(server: Server) -> None:
    alice, bob, carol = await members(server, "alice", "bob", "carol")
    room = ok(await alice.http.post("/rooms", json={"title": "Secret", "kind": "closed"}), 201)
    rid = room["id"]
    assert room["kind"] == "closed"
    assert rid in [r["id"] for r in ok(await alice.http.get("/rooms"))["rooms"]]
    await join_http(alice, rid)

    assert rid not in [r["id"] for r in ok(await bob.http.get("/rooms"))["rooms"]]
    assert_error(await bob.http.get(f"/rooms/{rid}"), 403, "not_invited")
    assert_error(await bob.http.get(f"/rooms/{rid}/audience"), 403, "not_invited")
    assert_error(await bob.http.post(f"/rooms/{rid}/join"), 403, "not_invited")
    # Only a moderator in the room may let people in.
    response = await act(bob, rid, "allowed", user_id=bob.id)
    assert response.status_code in (403, 409), response.text
    assert_error(await bob.http.post(f"/rooms/{rid}/join"), 403, "not_invited")

    ok(await act(alice, rid, "allowed", user_id=bob.id))
    assert rid in [r["id"] for r in ok(await bob.http.get("/rooms"))["rooms"]]
    joined = await join_http(bob, rid)
    assert joined["me"]["role"] == "listener"
    assert await server.services.rooms.allowed_rooms(bob.id) == [rid]
    # A listener cannot let others in either; carol is still refused.
    assert_error(await act(bob, rid, "allowed", user_id=carol.id), 403, "forbidden")
    assert_error(await carol.http.post(f"/rooms/{rid}/join"), 403, "not_invited")
    assert rid not in [r["id"] for r in ok(await carol.http.get("/rooms"))["rooms"]]
    # Leaving does not take the permission away.
    ok(await bob.http.post(f"/rooms/{rid}/leave"))
    assert (await view(alice, rid))["audience_count"] == 0
    await join_http(bob, rid)


async def test_every_stage_action_over_http(server: Server) -> None:
    alice, bob, carol, dave = await members(server, "alice", "bob", "carol", "dave")
    rid = ok(await alice.http.post("/rooms", json={"title": "Stage"}), 201)["id"]
    host_view = await join_http(alice, rid)
    assert host_view["me"]["role"] == "moderator" and host_view["hands"] == []
    for m in (bob, carol, dave):
        assert (await join_http(m, rid))["me"]["role"] == "listener"
    assert (await view(alice, rid))["audience_count"] == 3

    # Hands: listeners raise and lower their own; only moderators see the queue.
    ok(await act(bob, rid, "hand/raise"))
    assert [h["username"] for h in (await view(alice, rid))["hands"]] == ["bob"]
    assert (await view(bob, rid))["me"]["hand_raised"] is True
    assert (await view(bob, rid))["hands"] is None
    assert (await view(carol, rid))["hands"] is None
    ok(await act(bob, rid, "hand/lower"))
    assert (await view(alice, rid))["hands"] == []
    ok(await act(bob, rid, "hand/raise"))
    server.clock.advance(1)
    ok(await act(carol, rid, "hand/raise"))
    assert [h["username"] for h in (await view(alice, rid))["hands"]] == ["bob", "carol"]
    ok(await act(alice, rid, "hands/lower", user_id=carol.id))  # a moderator lowers it
    assert [h["username"] for h in (await view(alice, rid))["hands"]] == ["bob"]

    # Invitations: accept puts a listener on stage (hand down); decline leaves them be.
    ok(await act(alice, rid, "speakers", user_id=bob.id))
    assert (await view(bob, rid))["me"]["invited"] is True
    ok(await act(bob, rid, "invitation/accept"))
    bob_view = await view(bob, rid)
    assert bob_view["me"] == {"user_id": bob.id, "role": "speaker", "muted": False,
                              "hand_raised": False, "invited": False}
    assert roles(bob_view) == {"alice": "moderator", "bob": "speaker"}
    assert (await view(alice, rid))["hands"] == []
    ok(await act(alice, rid, "speakers", user_id=carol.id))
    ok(await act(carol, rid, "invitation/decline"))
    assert (await view(carol, rid))["me"]["invited"] is False
    assert (await view(carol, rid))["me"]["role"] == "listener"

    # A moderator makes a speaker a moderator, who can then run the stage too.
    ok(await act(alice, rid, "moderators", user_id=bob.id))
    assert roles(await view(carol, rid)) == {"alice": "moderator", "bob": "moderator"}
    assert (await view(bob, rid))["hands"] == []  # moderators see the (empty) queue
    ok(await act(bob, rid, "speakers", user_id=dave.id))
    ok(await act(dave, rid, "invitation/accept"))

    # Muting: a moderator mutes, only the speaker unmutes.
    ok(await act(bob, rid, "muted", user_id=dave.id))
    dave_view = await view(dave, rid)
    assert dave_view["me"]["muted"] is True
    assert next(m for m in dave_view["stage"] if m["username"] == "dave")["muted"] is True
    ok(await act(dave, rid, "mute", muted=False))
    assert (await view(dave, rid))["me"]["muted"] is False
    ok(await act(dave, rid, "mute", muted=True))
    stage = {m["username"]: m["muted"] for m in (await view(alice, rid))["stage"]}
    assert stage == {"alice": False, "bob": False, "dave": True}
    assert server.services.rooms.get(rid).state.heard == {alice.id, bob.id}

    # Back to the audience: moved by a moderator, or stepping down.
    ok(await act(bob, rid, "audience", user_id=dave.id))
    dave_view = await view(dave, rid)
    assert dave_view["me"]["role"] == "listener" and dave_view["me"]["muted"] is False
    ok(await act(bob, rid, "step-down"))
    assert roles(await view(alice, rid)) == {"alice": "moderator"}
    assert (await view(bob, rid))["hands"] is None  # no longer a moderator

    # Leaving, then the host ends the room at once.
    assert (await view(alice, rid))["audience_count"] == 3
    ok(await dave.http.post(f"/rooms/{rid}/leave"))
    assert (await view(alice, rid))["audience_count"] == 2
    assert (await view(dave, rid))["me"] is None
    ok(await act(alice, rid, "end"))
    assert_error(await alice.http.get(f"/rooms/{rid}"), 404, "room_not_found")
    assert_error(await act(bob, rid, "hand/raise"), 404, "room_not_found")
    assert rid not in [r["id"] for r in ok(await carol.http.get("/rooms"))["rooms"]]
    row = await db_room(server, rid)
    assert (row.status, row.end_reason) == ("ended", "ended_by_host")
    assert row.ended_at is not None


async def test_stage_actions_are_refused_to_the_wrong_people(server: Server) -> None:
    alice, mod, spk, lis, other, outsider = await members(
        server, "alice", "mod", "spk", "lis", "other", "outsider")
    rid = ok(await alice.http.post("/rooms", json={"title": "Rules"}), 201)["id"]
    for m in (alice, mod, spk, lis, other):
        await join_http(m, rid)
    for m in (mod, spk):
        ok(await act(alice, rid, "speakers", user_id=m.id))
        ok(await act(m, rid, "invitation/accept"))
    ok(await act(alice, rid, "moderators", user_id=mod.id))

    def refused(code: str, status: int = 403) -> Any:
        return lambda response: assert_error(response, status, code)

    checks = [
        # Listeners run nothing.
        (act(lis, rid, "speakers", user_id=other.id), refused("forbidden")),
        (act(lis, rid, "audience", user_id=spk.id), refused("forbidden")),
        (act(lis, rid, "muted", user_id=spk.id), refused("forbidden")),
        (act(lis, rid, "moderators", user_id=spk.id), refused("forbidden")),
        (act(lis, rid, "hands/lower", user_id=other.id), refused("forbidden")),
        (act(lis, rid, "allowed", user_id=outsider.id), refused("forbidden")),
        (act(lis, rid, "end"), refused("forbidden")),
        (act(lis, rid, "mute", muted=True), refused("not_on_stage", 409)),
        (act(lis, rid, "step-down"), refused("not_on_stage", 409)),
        (act(lis, rid, "invitation/accept"), refused("not_invited")),
        (act(lis, rid, "invitation/decline"), refused("not_invited")),
        # Speakers speak, nothing more.
        (act(spk, rid, "speakers", user_id=lis.id), refused("forbidden")),
        (act(spk, rid, "muted", user_id=mod.id), refused("forbidden")),
        (act(spk, rid, "audience", user_id=mod.id), refused("forbidden")),
        (act(spk, rid, "hand/raise"), refused("not_listener", 409)),
        # Moderators: not on the host, and only sensible targets (any moderator may end the
        # room: tests/moderation).
        (act(mod, rid, "muted", user_id=alice.id), refused("forbidden")),
        (act(mod, rid, "audience", user_id=alice.id), refused("forbidden")),
        (act(mod, rid, "speakers", user_id=spk.id), refused("already_on_stage", 409)),
        (act(mod, rid, "moderators", user_id=lis.id), refused("not_speaker", 409)),
        (act(mod, rid, "audience", user_id=lis.id), refused("not_on_stage", 409)),
        (act(mod, rid, "muted", user_id=lis.id), refused("not_on_stage", 409)),
        (act(mod, rid, "speakers", user_id=outsider.id), refused("not_in_room", 409)),
        (act(mod, rid, "speakers", user_id=999_999), refused("not_in_room", 409)),
        # People not in the room act on nothing.
        (act(outsider, rid, "hand/raise"), refused("not_in_room", 409)),
        (act(outsider, rid, "speakers", user_id=lis.id), refused("not_in_room", 409)),
        (act(outsider, rid, "end"), refused("forbidden")),
    ]
    before = await view(alice, rid)
    for request, check in checks:
        check(await request)
    after = await view(alice, rid)
    assert after == before, "a refused action changed the room"
    # The host may act on anyone, and the refused moderator could still mute a speaker.
    ok(await act(mod, rid, "muted", user_id=spk.id))
    ok(await act(alice, rid, "audience", user_id=mod.id))


async def test_audience_pages_in_join_order(server: Server) -> None:
    alice = await member(server, "alice")
    listeners = await members(server, *[f"l{i}" for i in range(7)])
    rid = ok(await alice.http.post("/rooms", json={"title": "Paging"}), 201)["id"]
    await join_http(alice, rid)
    order = list(reversed(listeners))  # join order differs from id order
    for m in order:
        await join_http(m, rid)
        server.clock.advance(1)
    names = [m.account.username for m in order]

    pages = []
    for offset in (0, 3, 6, 9):
        page = ok(await alice.http.get(f"/rooms/{rid}/audience",
                                       params={"offset": offset, "limit": 3}))
        assert page["count"] == 7 and page["offset"] == offset
        pages.append([m["username"] for m in page["members"]])
    assert pages == [names[0:3], names[3:6], names[6:7], []]
    everyone = ok(await listeners[0].http.get(f"/rooms/{rid}/audience"))
    assert [m["username"] for m in everyone["members"]] == names  # alice is on stage, not here
    assert set(everyone["members"][0]) >= {"user_id", "username", "display_name", "role"}
    for params in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"limit": "many"}):
        assert_error(await alice.http.get(f"/rooms/{rid}/audience", params=params), 422)
    assert_error(await alice.http.get("/rooms/nosuchroom/audience"), 404, "room_not_found")


async def test_moderation_passes_to_the_longest_serving_speaker(server: Server) -> None:
    alice, early, late, lis = await members(server, "alice", "early", "late", "lis")
    rid = ok(await alice.http.post("/rooms", json={"title": "Heirs"}), 201)["id"]
    for m in (alice, early, late, lis):
        await join_http(m, rid)
    # `late` has the higher user id but came on stage first: time on stage decides.
    ok(await act(alice, rid, "speakers", user_id=late.id))
    ok(await act(late, rid, "invitation/accept"))
    server.clock.advance(10)
    ok(await act(alice, rid, "speakers", user_id=early.id))
    ok(await act(early, rid, "invitation/accept"))
    ok(await act(lis, rid, "hand/raise"))
    assert late.id > early.id

    ok(await alice.http.post(f"/rooms/{rid}/leave"))
    room = await view(lis, rid)
    assert [(m["username"], m["role"]) for m in room["stage"]] == [
        ("late", "moderator"), ("early", "speaker")]
    assert [h["username"] for h in (await view(late, rid))["hands"]] == ["lis"]
    ok(await act(late, rid, "speakers", user_id=lis.id))  # and may moderate at once

    ok(await act(late, rid, "step-down"))
    assert roles(await view(lis, rid)) == {"early": "moderator"}


async def test_an_empty_stage_ends_the_room_after_the_grace_period(server: Server) -> None:
    alice, bob = await members(server, "alice", "bob")
    grace = server.settings.empty_room_grace_seconds
    rid = ok(await alice.http.post("/rooms", json={"title": "Fading"}), 201)["id"]
    never = ok(await alice.http.post("/rooms", json={"title": "Nobody came"}), 201)["id"]
    await join_http(alice, rid)
    await join_http(bob, rid)
    server.clock.advance(grace / 2)
    ok(await alice.http.post(f"/rooms/{rid}/leave"))  # the stage is empty from now on
    server.clock.advance(grace - 1)
    await server.services.rooms.tick()
    assert_error(await bob.http.get(f"/rooms/{never}"), 404, "room_not_found")  # 1.5 graces
    assert (await view(bob, rid))["status"] == "live"
    assert rid in [r["id"] for r in ok(await bob.http.get("/rooms"))["rooms"]]
    server.clock.advance(1)
    await server.services.rooms.tick()
    assert_error(await bob.http.get(f"/rooms/{rid}"), 404, "room_not_found")
    assert rid not in [r["id"] for r in ok(await bob.http.get("/rooms"))["rooms"]]
    for room_id in (rid, never):
        row = await db_room(server, room_id)
        assert (row.status, row.end_reason) == ("ended", "stage_empty")

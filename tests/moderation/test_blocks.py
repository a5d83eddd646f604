"""Blocking: joins, follows, pings, the hallway, and the "blocked people on stage" warning."""

from __future__ import annotations

from podium.domain import commands as c
from tests.api.helpers import act, assert_error, members, ok
from tests.conftest import Server
from tests.realtime.helpers import RawSocket
from tests.social.helpers import follow, hallway_ids, room


async def block(who, whom) -> object:  # type: ignore[no-untyped-def]
    return ok(await who.http.post(f"/users/{whom.account.username}/block"))


async def test_block_list_and_unblock(server: Server) -> None:
    alice, bob = await members(server, "alice", "bob")
    await follow(alice, bob)
    await follow(bob, alice)
    assert await block(alice, bob) == {"blocked": True, "user_id": bob.id}
    assert ok(await alice.http.get("/blocks")) == [{"id": bob.id, "username": "bob"}]
    # Follows either way end.
    assert not server.services.community.social.graph.follows(alice.id, bob.id)
    assert not server.services.community.social.graph.follows(bob.id, alice.id)
    # bob cannot follow alice back; alice may still follow whom she likes.
    assert_error(await bob.http.post("/users/alice/follow", json={"notify": True}), 403,
                 "blocked")
    assert_error(await alice.http.post("/users/alice/block"), 422, "cannot_block_self")
    ok(await alice.http.delete("/users/bob/block"))
    assert ok(await alice.http.get("/blocks")) == []
    await follow(bob, alice)


async def test_blocked_member_cannot_join_while_the_blocker_moderates(server: Server) -> None:
    host, mod, bob = await members(server, "host", "mod", "bob")
    room_id = await room(host)
    ok(await mod.http.post(f"/rooms/{room_id}/join"))
    await block(mod, bob)
    ok(await bob.http.post(f"/rooms/{room_id}/join"))  # mod is a listener: no effect
    ok(await bob.http.post(f"/rooms/{room_id}/leave"))
    ok(await act(host, room_id, "speakers", user_id=mod.id))
    ok(await act(mod, room_id, "invitation/accept"))
    ok(await act(host, room_id, "moderators", user_id=mod.id))
    assert_error(await bob.http.post(f"/rooms/{room_id}/join"), 403, "blocked")


async def test_blocked_member_cannot_ping_the_blocker(server: Server) -> None:
    host, fan = await members(server, "host", "fan")
    room_id = await room(host)
    await follow(fan, host)
    await block(fan, host)
    body = assert_error(await host.http.post(f"/rooms/{room_id}/ping",
                                             json={"user_id": fan.id}), 403, "blocked")
    assert "ping" in body["message"]


async def test_hallway_hides_rooms_hosted_by_blocked_people(server: Server) -> None:
    alice, bob, carol = await members(server, "alice", "bob", "carol")
    bobs = await room(bob, title="Bob's")
    carols = await room(carol, title="Carol's")
    assert set(await hallway_ids(alice)) == {bobs, carols}
    sock = await RawSocket.open(server, alice.token)
    await sock.recv()
    await sock.send({"id": 1, "type": "subscribe_hallway"})
    await sock.until(lambda f: f.get("id") == 1)
    await block(alice, bob)
    frame = await sock.until(lambda f: f.get("type") == "hallway")
    assert frame["event"] == {"type": "room_removed", "room_id": bobs}
    await sock.close()
    assert await hallway_ids(alice) == [carols]
    assert set(await hallway_ids(bob)) == {bobs, carols}  # a block is one-way for the hallway
    ok(await alice.http.delete("/users/bob/block"))
    assert set(await hallway_ids(alice)) == {bobs, carols}


async def test_warning_when_blocked_people_are_on_stage(server: Server) -> None:
    host, bob, listener = await members(server, "host", "bob", "listener")
    room_id = await room(host)
    ok(await bob.http.post(f"/rooms/{room_id}/join"))
    await block(listener, bob)
    sock = await RawSocket.open(server, listener.token)
    await sock.recv()
    await sock.send({"id": 1, "type": "join", "room_id": room_id})
    snap = await sock.until(lambda f: f.get("type") == "snapshot")
    assert snap["room"]["blocked_on_stage"] == []
    ok(await act(host, room_id, "speakers", user_id=bob.id))
    ok(await act(bob, room_id, "invitation/accept"))
    frame = await sock.until(lambda f: f.get("type") == "blocked_on_stage")
    assert frame["user_ids"] == [bob.id]
    hallway = ok(await listener.http.get("/rooms"))["rooms"]
    assert [r["blocked_on_stage"] for r in hallway] == [[bob.id]]
    assert ok(await listener.http.get(f"/rooms/{room_id}"))["blocked_on_stage"] == [bob.id]
    ok(await act(host, room_id, "audience", user_id=bob.id))
    frame = await sock.until(lambda f: f.get("type") == "blocked_on_stage")
    assert frame["user_ids"] == []
    # Blocking someone already on stage warns at once; unblocking clears it.
    await block(listener, host)
    frame = await sock.until(lambda f: f.get("type") == "blocked_on_stage")
    assert frame["user_ids"] == [host.id]
    ok(await listener.http.delete(f"/users/{host.account.username}/block"))
    frame = await sock.until(lambda f: f.get("type") == "blocked_on_stage")
    assert frame["user_ids"] == []
    await sock.close()


async def test_people_a_new_moderator_blocked_are_removed(server: Server) -> None:
    """Promoted (through the service), by succession, or the host coming back: whoever they
    blocked leaves the room, as they could not have joined it."""
    host, mod, bob, carol, dave = await members(server, "host", "mod", "bob", "carol", "dave")
    room_id = await room(host)
    rooms = server.services.rooms
    for m in (mod, bob, carol, dave):
        ok(await m.http.post(f"/rooms/{room_id}/join"))
    await block(mod, bob)
    await block(mod, host)  # the host is never removed from their own room
    ok(await act(host, room_id, "speakers", user_id=mod.id))
    ok(await act(mod, room_id, "invitation/accept"))
    assert bob.id in rooms.rooms[room_id].state.members  # a speaker blocking: no effect
    await rooms.execute(room_id, c.MakeModerator(host.id, mod.id))
    state = rooms.rooms[room_id].state
    assert bob.id not in state.members
    assert {host.id, mod.id, carol.id, dave.id} <= set(state.members)
    assert not await server.services.moderation.is_banned(room_id, bob.id)  # not a ban
    assert_error(await bob.http.post(f"/rooms/{room_id}/join"), 403, "blocked")
    # The host leaves and blocks carol; mod leaves: dave, the host back, carol goes.
    await block(host, carol)
    assert carol.id in rooms.rooms[room_id].state.members  # the host is away: no effect
    ok(await host.http.post(f"/rooms/{room_id}/leave"))
    ok(await host.http.post(f"/rooms/{room_id}/join"))
    assert carol.id not in rooms.rooms[room_id].state.members
    assert dave.id in rooms.rooms[room_id].state.members


async def test_promotion_removes_the_blocked_listener_over_the_websocket(server: Server) -> None:
    host, mod, bob = await members(server, "host", "mod", "bob")
    room_id = await room(host)
    ok(await mod.http.post(f"/rooms/{room_id}/join"))
    await block(mod, bob)
    ok(await act(host, room_id, "speakers", user_id=mod.id))
    ok(await act(mod, room_id, "invitation/accept"))
    bob_ws, host_ws = (await RawSocket.open(server, bob.token),
                       await RawSocket.open(server, host.token))
    for sock, name in ((bob_ws, 1), (host_ws, 2)):
        await sock.recv()
        await sock.send({"id": name, "type": "join", "room_id": room_id})
        await sock.until(lambda f, n=name: f.get("id") == n)  # type: ignore[misc]
    await host_ws.send({"id": 3, "type": "make_moderator", "user_id": mod.id})
    assert (await host_ws.until(lambda f: f.get("id") == 3))["type"] == "reply"

    def removed(frame: dict[str, object]) -> bool:
        event = frame.get("event")
        return isinstance(event, dict) and event.get("type") == "member_removed"

    for sock in (bob_ws, host_ws):
        seen = [f for f in sock.frames if removed(f)]
        event = (seen[0] if seen else await sock.until(removed))["event"]
        assert event["user_id"] == bob.id and event["reason"] == "blocked"
        assert event["by"] == mod.id
    # bob's socket is out of the room: a room command is refused, a rejoin too.
    await bob_ws.send({"id": 4, "type": "raise_hand"})
    refused = await bob_ws.until(lambda f: f.get("id") == 4)
    assert refused["type"] == "error"
    await bob_ws.send({"id": 5, "type": "join", "room_id": room_id})
    refused = await bob_ws.until(lambda f: f.get("id") == 5)
    assert refused["type"] == "error" and refused["error"] == "blocked"
    await bob_ws.close()
    await host_ws.close()

"""The realtime protocol: hello, snapshots, replies and error frames, event order, privacy."""

from __future__ import annotations

import pytest

from podium.client import PodiumError
from tests.api.helpers import members, ok
from tests.conftest import Server
from tests.realtime.helpers import (
    RawSocket,
    assert_gapless,
    assert_matches_fresh_view,
    connected,
    marker,
    room_events,
    seqs,
    spy,
)


async def test_hello_snapshot_replies_and_error_frames(server: Server) -> None:
    alice, bob = await members(server, "alice", "bob")
    rid = ok(await alice.http.post("/rooms", json={"title": "Proto"}), 201)["id"]
    closed = ok(await alice.http.post("/rooms", json={"title": "Shut", "kind": "closed"}), 201)

    ws = await RawSocket.open(server, bob.token)
    hello = await ws.recv()
    assert hello["type"] == "hello" and hello["resumed"] is False and hello["seq"] == 0
    assert hello["user"] == {"id": bob.id, "username": "bob", "display_name": "Bob"}
    assert hello["heartbeat"] == server.settings.heartbeat_seconds
    assert isinstance(hello["session"], str) and len(hello["session"]) >= 20

    async def error_for(frame: object) -> dict[str, object]:
        await ws.send(frame)
        reply = await ws.until(lambda f: "seq" not in f)  # events may come first
        assert reply["type"] == "error", reply
        assert isinstance(reply["message"], str) and reply["message"]
        return reply

    # Frame-level errors carry no id; command errors echo it.
    for bad in ("{nope", "[1, 2]", "42", "null", '"join"'):
        reply = await error_for(bad)
        assert (reply["error"], reply["id"]) == ("bad_json", None), bad
    assert (await error_for({"id": 1, "type": "fly"}))["error"] == "unknown_command"
    assert (await error_for({"id": 2, "type": 7}))["error"] == "unknown_command"
    assert (await error_for({"id": 3}))["error"] == "unknown_command"
    assert (await error_for({"id": "s", "type": "raise_hand"})) == {
        "type": "error", "id": "s", "error": "not_in_room", "message": "Join a room first."}
    for command in ("leave", "lower_hand", "step_down", "accept_invite", "end_room"):
        assert (await error_for({"id": 4, "type": command}))["error"] == "not_in_room", command
    assert (await error_for({"id": 5, "type": "join"}))["error"] == "invalid_request"
    assert (await error_for({"id": 6, "type": "join", "room_id": 12}))["error"] == "invalid_request"
    assert (await error_for({"id": 7, "type": "join", "room_id": "x" * 33}))["error"] == (
        "invalid_request")
    assert (await error_for({"id": 8, "type": "join", "room_id": "nosuchroom"}))["error"] == (
        "room_not_found")
    assert (await error_for({"id": 9, "type": "join", "room_id": closed["id"]}))["error"] == (
        "not_invited")

    await ws.send({"id": "p", "type": "ping"})
    assert await ws.recv() == {"type": "pong"}
    assert await ws.recv() == {"type": "reply", "id": "p", "ok": True, "data": None}

    await ws.send({"id": 10, "type": "join", "room_id": rid})
    snapshot = await ws.recv()
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == 1
    room = snapshot["room"]
    assert room["room_id"] == rid and room["id"] == rid and room["title"] == "Proto"
    assert room["me"] == {"user_id": bob.id, "role": "listener", "muted": False,
                          "hand_raised": False, "invited": False}
    assert room["hands"] is None and room["audience_count"] == 1 and room["stage"] == []
    assert await ws.recv() == {"type": "reply", "id": 10, "ok": True, "data": {"room_id": rid}}

    # In a room, malformed commands are still refused field by field.
    for frame in ({"id": 11, "type": "invite_to_speak"},
                  {"id": 12, "type": "invite_to_speak", "user_id": "1"},
                  {"id": 13, "type": "invite_to_speak", "user_id": True},
                  {"id": 14, "type": "invite_to_speak", "user_id": -3},
                  {"id": 15, "type": "set_muted", "muted": "yes"},
                  {"id": 16, "type": "lower_hand", "user_id": None}):
        assert (await error_for(frame))["error"] == "invalid_request", frame
    assert (await error_for({"id": 17, "type": "step_down"}))["error"] == "not_on_stage"
    assert (await error_for({"id": 18, "type": "invite_to_speak", "user_id": alice.id}))[
        "error"] == "forbidden"
    # None of that produced a numbered frame, and the socket is still good.
    await ws.send({"id": 19, "type": "raise_hand"})
    reply = await ws.until(lambda f: f["type"] == "reply")
    assert reply["id"] == 19
    numbered = [f for f in ws.frames if "seq" in f and f["type"] != "hello"]
    assert_gapless([f["seq"] for f in numbered])
    assert [f["event"]["type"] for f in numbered[1:]] == ["audience_changed", "hand_raised"]
    await ws.close()

    # The client library raises error frames as PodiumError.
    rt = await connected(alice)
    with pytest.raises(PodiumError) as refused:
        await rt.send("raise_hand")
    assert refused.value.code == "not_in_room"
    await rt.join(rid)
    assert rt.my_role() == "moderator" and [h["user_id"] for h in rt.room["hands"]] == [bob.id]


async def test_raised_hands_reach_moderators_and_the_listener_only(server: Server) -> None:
    alice, bob, carol, dave = await members(server, "alice", "bob", "carol", "dave")
    rid = ok(await alice.http.post("/rooms", json={"title": "Hands"}), 201)["id"]
    host = await connected(alice, rid)
    rb, rc, rd = [await connected(m, rid) for m in (bob, carol, dave)]
    await rd.send("raise_hand")
    server.clock.advance(1)  # the queue is ordered by time raised
    await rb.send("raise_hand")
    await host.wait_for(lambda: len(host.room["hands"]) == 2)
    assert [h["user_id"] for h in host.room["hands"]] == [dave.id, bob.id]
    await rb.wait_for(lambda: rb.room["me"]["hand_raised"])
    await marker(host, rb, rc, rd)
    for rt in (rb, rc, rd):
        assert rt.room["hands"] is None
        hands = [e for e in room_events(rt) if e["type"].startswith("hand_")]
        own = [e for e in hands if e["user_id"] == rt.user["id"]]
        assert hands == own, f"{rt.user['username']} saw someone else's hand"
    assert rc.room["me"]["hand_raised"] is False

    # Invitations are private too.
    await host.send("invite_to_speak", user_id=bob.id)
    await rb.wait_for(lambda: rb.room["me"]["invited"])
    await rb.send("decline_invite")
    await host.wait_event("invite_declined", match=lambda e: e["user_id"] == bob.id)
    await marker(host, rc, rd)
    for rt in (rc, rd):
        assert not [e for e in room_events(rt) if e["type"] in ("speak_invited",
                                                                  "invite_declined")]

    # Someone made a moderator receives a snapshot with the queue they could not see.
    await host.send("invite_to_speak", user_id=carol.id)
    await rc.send("accept_invite")
    await host.send("make_moderator", user_id=carol.id)
    await rc.wait_for(lambda: rc.room["hands"] is not None)
    assert [h["user_id"] for h in rc.room["hands"]] == [dave.id, bob.id]
    start = len(rc.events)
    await rd.send("lower_hand")
    await rc.wait_event("hand_lowered", after=start, match=lambda e: e["user_id"] == dave.id)
    assert [h["user_id"] for h in rc.room["hands"]] == [bob.id]
    for rt, m in ((host, alice), (rb, bob), (rc, carol), (rd, dave)):
        await assert_matches_fresh_view(rt, m)


async def test_snapshot_plus_events_equals_a_fresh_snapshot(server: Server) -> None:
    """After a scripted session, everyone's reducer-kept room is what GET /rooms says."""
    people = await members(server, "alice", "bob", "carol", "dave", "erin", "frank")
    alice, bob, carol, dave, erin, frank = people
    rid = ok(await alice.http.post("/rooms", json={"title": "Script"}), 201)["id"]
    a = await connected(alice, rid)
    b, c, d, e = [await connected(m, rid) for m in (bob, carol, dave, erin)]
    f = await connected(frank)  # joins late, mid-way through
    clients = {alice.id: (a, alice), bob.id: (b, bob), carol.id: (c, carol),
               dave.id: (d, dave), erin.id: (e, erin)}
    spied = {uid: spy(rt) for uid, (rt, _) in clients.items()}

    await b.send("raise_hand")
    await c.send("raise_hand")
    await a.send("invite_to_speak", user_id=bob.id)
    await b.send("accept_invite")
    await a.send("invite_to_speak", user_id=carol.id)
    await c.send("decline_invite")
    await a.send("make_moderator", user_id=bob.id)
    await b.send("invite_to_speak", user_id=dave.id)
    await d.send("accept_invite")
    await b.send("mute", user_id=dave.id)
    await d.send("set_muted", muted=False)
    await f.join(rid)
    clients[frank.id] = (f, frank)
    await e.send("leave")
    await e.join(rid)
    server.clock.advance(5)
    await c.send("lower_hand")
    await c.send("raise_hand")
    await b.send("lower_hand", user_id=carol.id)
    await e.send("raise_hand")
    await a.send("move_to_audience", user_id=bob.id)  # a moderator demoted
    await d.send("step_down")
    await a.send("invite_to_speak", user_id=erin.id)
    await e.send("accept_invite")
    await a.send("make_moderator", user_id=erin.id)
    await e.send("step_down")  # a moderator stepping down
    await a.send("invite_to_speak", user_id=frank.id)
    await f.send("accept_invite")
    await a.send("mute", user_id=frank.id)
    await marker(a, *[rt for rt, _ in clients.values()])

    for rt, m in clients.values():
        await assert_matches_fresh_view(rt, m)
        # Numbered frames: 1, 2, 3, ... with nothing skipped or sent twice.
        assert_gapless(seqs(rt))
        revs = [fr["rev"] for fr in rt.events if fr["type"] == "event"]
        assert revs == sorted(set(revs)), "room revisions must strictly increase"
    for uid, seen in spied.items():
        assert_gapless(seen, seen[0])
        assert seen == seqs(clients[uid][0])[-len(seen):]

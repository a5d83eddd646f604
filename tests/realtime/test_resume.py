"""Resume: a dropped client gets exactly what it missed; presence survives the resume window."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.websockets import WebSocket

from podium.domain import commands as c
from podium.realtime import session as session_module
from tests.api.helpers import eventually, members, ok
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
    toggle_mute,
)


async def test_resume_replays_exactly_the_missed_frames(server: Server) -> None:
    alice, bob, carol, dave = await members(server, "alice", "bob", "carol", "dave")
    rid = ok(await alice.http.post("/rooms", json={"title": "Resume"}), 201)["id"]
    a = await connected(alice, rid)
    b = await connected(bob, rid)
    cc = await connected(carol, rid)
    seen = spy(b)
    await marker(a, b)
    session = b.session
    last = b.last_seq

    await b.drop()
    # Meanwhile: public events, one private to bob, one private to others, audience churn.
    await a.send("invite_to_speak", user_id=bob.id)  # bob's own
    await cc.send("raise_hand")  # moderators only: bob must not get it on resume either
    await toggle_mute(a)
    d = await connected(dave, rid)
    await d.send("leave")
    await cc.send("leave")
    await toggle_mute(a)

    await b.open()  # reconnects with ?resume=<session>&last_seq=<last>
    assert b.resumed is True and b.session == session
    await marker(a, b)
    replayed = seen[seen.index(last) + 1:]
    assert_gapless(replayed, last + 1)
    assert len(replayed) == len(set(replayed)), "a frame was sent twice"
    assert_gapless(seqs(b))
    kinds = [e["type"] for e in room_events(b)[-5:]]
    assert kinds == ["speak_invited", "mute_changed", "audience_changed", "mute_changed",
                     "mute_changed"], kinds
    assert not [e for e in room_events(b) if e["type"] == "hand_raised"]
    assert b.room["me"]["invited"] is True and b.my_role() == "listener"
    await assert_matches_fresh_view(b, bob)

    # The same through a bare socket: after the hello, exactly last+1 ... then live frames.
    last = b.last_seq
    await b.drop()
    await toggle_mute(a)
    await toggle_mute(a)
    raw = await RawSocket.open(server, bob.token, resume=session, last_seq=last)
    hello = await raw.recv()
    assert hello["resumed"] is True and hello["session"] == session
    assert hello["seq"] == last + 2
    assert [(await raw.recv())["seq"] for _ in range(2)] == [last + 1, last + 2]
    muted = await toggle_mute(a)
    frame = await raw.until(lambda f: "seq" in f)
    assert frame["seq"] == last + 3 and frame["event"]["muted"] is muted
    await raw.close()


async def test_events_published_while_the_hello_is_sent_are_not_lost(
        server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """A room event can be published while the server is still writing the hello of a
    resumed socket: the replay must still come first, in order, and nothing twice."""
    alice, bob = await members(server, "alice", "bob")
    rid = ok(await alice.http.post("/rooms", json={"title": "Race"}), 201)["id"]
    a = await connected(alice, rid)
    b = await connected(bob, rid)
    seen = spy(b)
    await marker(a, b)
    last = b.last_seq
    await b.drop()
    missed = await toggle_mute(a)  # missed while away

    original = WebSocket.send_text
    armed = [True]

    async def slow_hello(ws: WebSocket, data: str) -> None:
        if armed[0] and json.loads(data).get("type") == "hello":
            armed[0] = False  # someone else acts while the hello is on its way
            await server.services.rooms.execute(rid, c.SetMuted(alice.id, not missed))
        await original(ws, data)

    monkeypatch.setattr(WebSocket, "send_text", slow_hello)
    await b.open()
    assert b.resumed is True and armed == [False]
    await a.wait_for(lambda: a.room["me"]["muted"] is not missed)  # before a flips it back
    await marker(a, b)
    after = seen[seen.index(last) + 1:]
    assert after == list(range(last + 1, last + 1 + len(after))), after
    mutes = [e["muted"] for e in room_events(b) if e["type"] == "mute_changed"]
    assert mutes[-3:] == [missed, not missed, missed]  # the last one is the marker
    await assert_matches_fresh_view(b, bob)


async def test_resume_that_cannot_replay_starts_over_from_a_snapshot(
        server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "REPLAY_FRAMES", 4)  # for sessions made from now on
    alice, bob, carol = await members(server, "alice", "bob", "carol")
    rid = ok(await alice.http.post("/rooms", json={"title": "Too old"}), 201)["id"]
    a = await connected(alice, rid)
    b = await connected(bob, rid)
    await marker(a, b)
    session, last = b.session, b.last_seq

    # Too old: more frames went by than the session keeps.
    await b.drop()
    for _ in range(6):
        await toggle_mute(a)
    await a.send("invite_to_speak", user_id=bob.id)
    raw = await RawSocket.open(server, bob.token, resume=session, last_seq=last)
    hello = await raw.recv()
    assert hello["resumed"] is False and hello["session"] == session
    snapshot = await raw.recv()
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == hello["seq"] + 1
    assert snapshot["room"]["me"]["invited"] is True and snapshot["room"]["room_id"] == rid
    await raw.close()

    # The client library follows the snapshot and keeps going from there.
    b.session, b.last_seq = session, last
    await b.open()
    assert b.resumed is False
    await b.wait_for(lambda: b.events[-1]["type"] == "snapshot")
    await marker(a, b)
    await assert_matches_fresh_view(b, bob)

    # From the future (a seq the session never sent): also a snapshot, not a replay.
    raw = await RawSocket.open(server, bob.token, resume=session, last_seq=b.last_seq + 50)
    hello = await raw.recv()
    assert hello["resumed"] is False
    assert (await raw.recv())["type"] == "snapshot"
    await raw.close()

    # Unknown session: a new one, in no room until it joins again (the member is still in).
    raw = await RawSocket.open(server, bob.token, resume="not-a-session", last_seq=1)
    hello = await raw.recv()
    assert hello["resumed"] is False and hello["session"] not in (session, "not-a-session")
    assert hello["seq"] == 0
    await raw.send({"id": 1, "type": "join", "room_id": rid})
    snapshot = await raw.recv()
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == 1
    assert snapshot["room"]["me"]["role"] == "listener"
    await raw.close()

    # Someone else's session id is not a way in to their stream.
    raw = await RawSocket.open(server, carol_token := carol.token, resume=session, last_seq=0)
    hello = await raw.recv()
    assert hello["session"] != session and hello["resumed"] is False
    assert hello["user"]["id"] == carol.id and carol_token
    await toggle_mute(a)
    await raw.send({"id": 9, "type": "ping"})
    assert await raw.recv() == {"type": "pong"}  # nothing of bob's arrived first
    await raw.close()


def _absent(server: Server, rid: str) -> dict[int, float]:
    return server.services.rooms.get(rid).absent_since


async def test_presence_expires_after_the_resume_window_unless_resumed(server: Server) -> None:
    alice, spk, lis, back = await members(server, "alice", "spk", "lis", "back")
    rid = ok(await alice.http.post("/rooms", json={"title": "Presence"}), 201)["id"]
    a = await connected(alice, rid)
    rs, rl, rb = [await connected(m, rid) for m in (spk, lis, back)]
    for rt, m in ((rs, spk), (rb, back)):
        await a.send("invite_to_speak", user_id=m.id)
        await rt.send("accept_invite")
    await marker(a, rs, rl, rb)

    for rt in (rs, rl, rb):
        await rt.drop()
    await eventually(lambda: {spk.id, lis.id, back.id} <= set(_absent(server, rid)),
                     what="the server noticed the dropped sockets")
    server.clock.advance(10)
    await rb.open()
    assert rb.resumed is True
    await eventually(lambda: back.id not in _absent(server, rid), what="presence restored")

    window = server.settings.resume_window_seconds
    server.clock.advance(window - 10 - 1)
    await server.services.rooms.tick()
    assert {spk.id, lis.id, back.id} <= set(server.services.rooms.get(rid).state.members)
    start = len(a.events)
    server.clock.advance(1)
    await server.services.rooms.tick()
    left = await a.wait_event("member_left", after=start, match=lambda e: e["user_id"] == spk.id)
    assert left["role"] == "speaker"
    batch = await a.wait_event("audience_changed", after=start,
                               match=lambda e: lis.id in e["left"])
    assert batch["count"] == 0
    await marker(a, rb)
    room: dict[str, Any] = ok(await alice.http.get(f"/rooms/{rid}"))
    assert [(m["username"], m["role"]) for m in room["stage"]] == [
        ("alice", "moderator"), ("back", "speaker")]
    assert room["audience_count"] == 0
    assert rb.my_role() == "speaker"
    await assert_matches_fresh_view(rb, back)
    await assert_matches_fresh_view(a, alice)

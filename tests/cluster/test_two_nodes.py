"""Two nodes, one room: the same state, the same events in the same order, resume anywhere."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from podium.client import PodiumError, Realtime
from podium.realtime.redis_roomlog import COMMIT, RedisRoomLog, Unavailable
from tests.api.helpers import eventually, members, ok
from tests.cluster.conftest import on
from tests.conftest import Server
from tests.realtime.helpers import (
    assert_gapless,
    assert_matches_fresh_view,
    connected,
    marker,
    seqs,
    spy,
    toggle_mute,
)


def revs(rt: Realtime, room_id: str, after: int = 0) -> list[tuple[int, dict[str, Any]]]:
    """(rev, event) of the room events among the frames from index ``after``."""
    return [(f["rev"], f["event"]) for f in rt.events[after:]
            if f["type"] == "event" and f["room_id"] == room_id]


async def test_members_on_two_nodes_see_one_room_one_queue_one_order(
        nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    host, ann, ben, cat = await members(a, "host", "ann", "ben", "cat")
    rid = ok(await host.http.post("/rooms", json={"title": "Across"}), 201)["id"]
    h = await connected(host, rid)  # on A
    x = await connected(ann, rid)  # on A
    y = await connected(on(b, ben), rid)  # on B: the room started on A
    z = await connected(on(b, cat), rid)
    start_x, start_y = len(x.events), len(y.events)

    await y.send("raise_hand")  # from B
    for node in nodes:
        node.clock.advance(1)  # the queue is ordered by time (ties by user id)
    await x.send("raise_hand")  # from A
    await h.wait_for(lambda: h.room is not None and len(h.room["hands"]) == 2)
    assert [m["user_id"] for m in h.room["hands"]] == [ben.id, ann.id]  # one queue, B first
    # The hand queue seen from B by a moderator is the same one.
    queue = ok(await on(b, host).http.get(f"/rooms/{rid}"))["hands"]
    assert [m["user_id"] for m in queue] == [ben.id, ann.id]

    await h.send("invite_to_speak", user_id=ben.id)
    await y.send("accept_invite")  # B
    await toggle_mute(y)
    await z.send("leave")
    await marker(h, x, y)
    # Listeners on A and B saw the same public events with the same revisions, in order; each
    # also saw its own private events (its raised hand, its invitation), nobody else's.
    private = {"hand_raised", "hand_lowered", "speak_invited", "invite_declined"}
    seen_x = dict(revs(x, rid, start_x))
    seen_y = dict(revs(y, rid, start_y))
    assert list(seen_x) == sorted(seen_x) and list(seen_y) == sorted(seen_y)
    first = max(min(seen_x), min(seen_y))
    public_x = {r: e for r, e in seen_x.items() if r >= first and e["type"] not in private}
    public_y = {r: e for r, e in seen_y.items() if r >= first and e["type"] not in private}
    assert public_x == public_y and len(public_x) >= 4
    assert {e["user_id"] for e in seen_x.values() if e["type"] in private} == {ann.id}
    assert {e["user_id"] for e in seen_y.values() if e["type"] in private} == {ben.id}
    for rt, m in ((x, ann), (y, on(b, ben)), (h, host)):
        await assert_matches_fresh_view(rt, m)
    # Each node answers for the room in the same way.
    view_a = ok(await host.http.get(f"/rooms/{rid}"))
    view_b = ok(await on(b, host).http.get(f"/rooms/{rid}"))
    assert view_a == view_b


async def test_a_command_on_b_during_a_burst_on_a_is_neither_lost_nor_duplicated(
        nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    host, speaker, fan = await members(a, "host", "speaker", "fan")
    rid = ok(await host.http.post("/rooms", json={"title": "Burst"}), 201)["id"]
    h = await connected(host, rid)
    s = await connected(on(b, speaker), rid)
    f = await connected(on(b, fan), rid)
    await h.send("invite_to_speak", user_id=speaker.id)
    await s.send("accept_invite")
    await marker(h, s, f)
    before = len(f.events)

    async def burst() -> None:  # forty mute flips on A, each a public event
        for _ in range(40):
            await toggle_mute(h)

    async def one_on_b() -> None:
        await asyncio.sleep(0)
        await s.send("set_muted", muted=True)

    await asyncio.gather(burst(), one_on_b())
    await marker(h, s, f)
    tail = f.events[before:]
    mutes = [fr["event"] for fr in tail if fr["type"] == "event"
             and fr["event"]["type"] == "mute_changed"]
    assert sum(1 for e in mutes if e["user_id"] == speaker.id) == 1  # once: not lost, not twice
    assert sum(1 for e in mutes if e["user_id"] == host.id) == 41  # the burst and the marker
    room_revs = [fr["rev"] for fr in tail if fr["type"] == "event"]
    assert room_revs == list(range(room_revs[0], room_revs[0] + len(room_revs)))
    assert_gapless(seqs(f))


async def test_a_client_resumes_on_the_other_node_with_exactly_what_it_missed(
        nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    host, fan, other = await members(a, "host", "fan", "other")
    rid = ok(await host.http.post("/rooms", json={"title": "Move"}), 201)["id"]
    h = await connected(host, rid)
    f = await connected(fan, rid)  # on A
    seen = spy(f)
    await marker(h, f)
    last = f.last_seq

    await f.drop()
    await toggle_mute(h)
    o = await connected(on(b, other), rid)
    await o.send("raise_hand")  # private to moderators: the fan must not get it on resume
    await toggle_mute(h)

    f.client = on(b, fan).client  # the next connection goes to B, as after A's death
    await f.open()
    assert f.resumed is True and f.moved.is_set()  # a new session, from the room's history
    await marker(h, f)
    replayed = seen[seen.index(last) + 1:]
    assert_gapless(replayed, last + 1)
    assert len(replayed) == len(set(replayed)), "a frame was sent twice"
    kinds = [fr["event"]["type"] for fr in f.events if fr["seq"] > last and fr["type"] == "event"]
    assert kinds[:2] == ["mute_changed", "audience_changed"], kinds
    assert "hand_raised" not in kinds
    await assert_matches_fresh_view(f, on(b, fan))


async def test_a_client_resumed_on_the_other_node_gets_the_notifications_it_missed(
        nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    host, fan, ann, ben, cat = await members(a, "host", "fan", "ann", "ben", "cat")
    rid = ok(await host.http.post("/rooms", json={"title": "Notes"}), 201)["id"]
    await connected(host, rid)
    f = await connected(fan, rid)  # on A

    def notes(after: int = 0) -> list[tuple[str, str]]:
        return [(fr["notification"]["kind"], fr["notification"]["actor"]["username"])
                for fr in f.events[after:] if fr["type"] == "notification"]

    ok(await ann.http.post("/users/fan/follow"))
    await f.wait_for(lambda: notes() == [("new_follower", "ann")])
    await f.drop()
    ok(await ben.http.post("/users/fan/follow"))  # on A, while the fan is away
    ok(await on(b, cat).http.post("/users/fan/follow"))  # and on B
    before = len(f.events)
    f.client = on(b, fan).client  # the next connection goes to B, as after A's death
    await f.open()
    assert f.resumed is True and f.moved.is_set()
    await f.wait_for(lambda: len(notes(before)) == 2)
    assert sorted(notes(before)) == [("new_follower", "ben"), ("new_follower", "cat")]
    replayed = [fr for fr in f.events[before:] if fr["type"] == "notification"]
    assert replayed[-1]["unread"] == 3
    assert_gapless(seqs(f))
    # Live again on B; nothing is sent twice.
    ok(await host.http.post("/users/fan/follow"))
    await f.wait_for(lambda: len(notes(before)) == 3)
    await marker(await connected(host, rid), f)
    assert notes(before)[2:] == [("new_follower", "host")]
    ids = [fr["notification"]["id"] for fr in f.events if fr["type"] == "notification"]
    assert len(ids) == len(set(ids)) == 4


async def test_follows_and_blocks_made_on_one_node_hold_on_the_other(
        nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    host, pal = await members(a, "host", "pal")
    rid = ok(await host.http.post("/rooms", json={"title": "Friends", "kind": "social"}), 201)["id"]
    refused = await on(b, pal).http.post(f"/rooms/{rid}/join")  # nobody on stage follows pal
    assert refused.status_code == 403, refused.text
    ok(await host.http.post("/users/pal/follow"))  # on A
    await eventually(lambda: b.services.rooms.follows.follows(host.id, pal.id), what="follow")
    ok(await on(b, pal).http.post(f"/rooms/{rid}/join"))  # B admits pal now
    ok(await on(b, pal).http.post("/users/host/block"))  # on B: A learns it, follows end
    await eventually(lambda: a.services.rooms.blocks.blocks(pal.id, host.id), what="block")
    assert not a.services.rooms.follows.follows(host.id, pal.id)
    ok(await pal.http.delete("/users/host/block"))  # on A
    await eventually(lambda: not b.services.rooms.blocks.blocks(pal.id, host.id), what="unblock")


async def test_who_is_speaking_is_told_by_the_node_that_has_their_audio(
        nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    host, fan = await members(a, "host", "fan")
    rid = ok(await host.http.post("/rooms", json={"title": "Voices"}), 201)["id"]
    await connected(host, rid)
    f = await connected(on(b, fan), rid)
    live_a = a.services.rooms.rooms[rid]
    a.services.rooms.attach(live_a, host.id, "media")  # the host's audio is connected to A
    await a.services.rooms._on_levels(rid, {host.id: 0.5})
    await f.wait_event("speaking", match=lambda e: e["user_ids"] == [host.id])
    # B's engine hears nobody (it has none of the host's audio): that must not silence them.
    await b.services.rooms._on_levels(rid, {})
    assert b.services.rooms.rooms[rid].speaking == {host.id}
    live_a.speaking_sent_at = 0.0  # skip the five-a-second limit
    await a.services.rooms._on_levels(rid, {})  # A's engine: the host stopped
    await f.wait_event("speaking", match=lambda e: e["user_ids"] == [])


async def test_rate_limits_and_lockouts_are_one_budget_across_nodes(
        nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    for node in nodes:
        node.services.limiter.set_rate("invite_create", "3/3600")
    (inviter,) = await members(a, "inviter")
    codes = [(await client.http.post("/invites")).status_code
             for client in (inviter, on(b, inviter), inviter, on(b, inviter))]
    assert codes == [201, 201, 201, 429]  # three in all, not three per node
    refused = await inviter.http.post("/invites")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1

    # Four wrong passwords from one address, spread over both nodes, make it wait on both;
    # another address is not held up.
    async def sign_in(node: Server, password: str) -> int:
        response = await (await node.anonymous()).http.post(
            "/auth/signin", json={"username": "inviter", "password": password})
        return response.status_code

    assert [await sign_in(node, "wrong-password") for node in (a, b, a, b)] == [401] * 4
    assert await sign_in(b, "password-inviter") == 429
    assert await sign_in(a, "password-inviter") == 429
    account, _ = await b.services.accounts.sign_in("inviter", "password-inviter", "198.51.100.9")
    assert account.id == inviter.id


async def test_a_change_that_never_reached_the_log_is_undone_on_its_node(
        nodes: tuple[Server, Server], monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = nodes
    (host,) = await members(a, "host")
    rid = ok(await host.http.post("/rooms", json={"title": "Outage"}), 201)["id"]
    h = await connected(host, rid)
    log_a = a.services.rooms.log
    assert isinstance(log_a, RedisRoomLog)
    real = log_a._call

    async def redis_gone_at_commit(script: str, *args: Any) -> Any:
        if script == COMMIT:
            raise Unavailable("unavailable", "Redis is out of reach.")
        return await real(script, *args)

    monkeypatch.setattr(log_a, "_call", redis_gone_at_commit)
    with pytest.raises(PodiumError) as caught:
        await h.send("set_muted", muted=True)
    assert caught.value.code == "unavailable"
    monkeypatch.setattr(log_a, "_call", real)
    # The failed mute is in nobody's room: the next change on A starts from the log again.
    await h.send("set_muted", muted=True)
    await eventually(lambda: b.services.rooms.rooms[rid].state.members[host.id].muted)
    assert a.services.rooms.rooms[rid].state == b.services.rooms.rooms[rid].state


async def test_a_node_whose_reader_lags_numbers_its_events_after_the_log(
        nodes: tuple[Server, Server], monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = nodes
    host, fan = await members(a, "host", "fan")
    rid = ok(await host.http.post("/rooms", json={"title": "Lag"}), 201)["id"]
    h = await connected(host, rid)  # A
    f = await connected(on(b, fan), rid)  # B
    await marker(h, f)
    log_b = b.services.rooms.log
    assert isinstance(log_b, RedisRoomLog)
    entered, gate = asyncio.Event(), asyncio.Event()
    real = log_b._read_once

    async def held() -> None:  # B stops publishing the log for a while
        entered.set()
        await gate.wait()
        await real()

    monkeypatch.setattr(log_b, "_read_once", held)
    await asyncio.wait_for(entered.wait(), 5)
    muted = await toggle_mute(h)  # on A; B has not read it yet
    await f.send("raise_hand", timeout=30)  # on B: its copy catches up from the log first
    gate.set()
    await h.wait_for(lambda: h.room is not None and len(h.room["hands"]) == 1)
    await marker(h, f)
    assert f.room is not None and f.room["stage"][0]["muted"] is not muted  # marker flipped it
    for rt in (h, f):
        got = [fr["rev"] for fr in rt.events if fr["type"] == "event"]
        assert got == sorted(set(got)), "a revision was used twice or out of order"


async def test_members_gone_from_every_node_are_removed_by_the_leader(
        nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    host, fan, stay = await members(a, "host", "fan", "stay")
    rid = ok(await host.http.post("/rooms", json={"title": "Presence"}), 201)["id"]
    await connected(host, rid)  # held on A by its socket
    await connected(on(b, stay), rid)  # held on B by its socket
    ok(await on(b, fan).http.post(f"/rooms/{rid}/join"))  # on B over HTTP: seen once, then gone
    b_log = b.services.rooms.log
    assert isinstance(b_log, RedisRoomLog)
    await b_log._housekeeping_once()  # what every node does each second: report its sightings
    for node in nodes:
        node.clock.advance(a.settings.resume_window_seconds + 1)
    await b_log._housekeeping_once()
    leader = next(n for n in nodes if n.services.rooms.log.leads())
    await leader.services.rooms.tick()  # only the leader removes anyone
    await eventually(lambda: fan.id not in a.services.rooms.rooms[rid].state.members
                     and fan.id not in b.services.rooms.rooms[rid].state.members)
    for node in nodes:  # seen on their own node just now: both stay, wherever the leader is
        assert {host.id, stay.id} <= set(node.services.rooms.rooms[rid].state.members)

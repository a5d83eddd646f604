"""Large audiences: joins are coalesced into few frames with exact counts; the stage is not."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.api.conftest import SETTINGS
from tests.api.helpers import Member, bulk_members, join_http, members, ok
from tests.conftest import run_server
from tests.realtime.helpers import (
    assert_gapless,
    assert_matches_fresh_view,
    connected,
    marker,
    room_events,
    seqs,
)

LISTENERS = 200
BY_SOCKET = 10  # of them join over the WebSocket,
BY_HTTP = 20  # these over HTTP, and the rest straight through the room service (it is faster)


async def test_audience_changes_are_coalesced_and_stage_changes_are_not(
        tmp_path: Path, db_kind: str) -> None:
    async with run_server(tmp_path, db_kind, **SETTINGS, audience_coalesce_seconds=0.3) as server:
        alice, watcher = await members(server, "alice", "watcher")
        rid = ok(await alice.http.post("/rooms", json={"title": "Big"}), 201)["id"]
        host = await connected(alice, rid)
        seat = await connected(watcher, rid)
        await host.wait_for(lambda: host.room["audience_count"] == 1)  # the watcher's batch
        fans = await bulk_members(server, "fan", LISTENERS + 10)
        host_start, seat_start = len(host.events), len(seat.events)

        limit = asyncio.Semaphore(16)

        async def join(m: Member) -> None:
            async with limit:
                await join_http(m, rid)

        async def join_directly(m: Member) -> None:
            await server.services.rooms.join(rid, m.account, None)

        sockets = await asyncio.gather(*[connected(m) for m in fans[:BY_SOCKET]])
        await asyncio.gather(*[rt.join(rid) for rt in sockets],
                             *[join(m) for m in fans[BY_SOCKET:BY_SOCKET + BY_HTTP]],
                             *[join_directly(m) for m in fans[BY_SOCKET + BY_HTTP:LISTENERS]])
        total = LISTENERS + 1
        for rt in (host, seat):
            await rt.wait_for(lambda rt=rt: rt.room["audience_count"] == total)  # type: ignore[misc]

        batches = [e for e in room_events(host, host_start)]
        assert {e["type"] for e in batches} == {"audience_changed"}, "only audience batches"
        assert len(batches) <= LISTENERS // 5, f"{len(batches)} frames for {LISTENERS} joins"
        counts = [e["count"] for e in batches]
        assert counts == sorted(counts) and counts[-1] == total
        named = {m["user_id"] for e in batches for m in e["joined"]}
        assert any(e["truncated"] for e in batches) or named == {f.id for f in
                                                                 fans[:LISTENERS]}
        assert all(len(e["joined"]) <= 100 for e in batches)
        assert [e for e in room_events(seat, seat_start)] == batches  # same frames for everyone
        fresh = ok(await alice.http.get(f"/rooms/{rid}"))
        assert fresh["audience_count"] == total
        assert ok(await alice.http.get(f"/rooms/{rid}/audience"))["count"] == total

        # A stage change goes out at once, after the audience batch it follows. With a long
        # window nothing but the stage change can flush these ten joins.
        server.settings.audience_coalesce_seconds = 60.0
        for m in fans[LISTENERS:]:
            await join_directly(m)
        start = len(seat.events)
        speaker = sockets[0]
        await host.send("invite_to_speak", user_id=speaker.user["id"])
        await speaker.send("accept_invite")
        await seat.wait_event("role_changed", after=start)
        await marker(host, seat, speaker)
        events = room_events(seat, start)
        assert [e["type"] for e in events] == ["audience_changed", "role_changed",
                                               "audience_changed", "mute_changed"], events
        assert events[0]["count"] == total + 10
        assert {m["user_id"] for m in events[0]["joined"]} == {f.id for f in fans[LISTENERS:]}
        assert events[1]["user_id"] == speaker.user["id"] and events[1]["role"] == "speaker"
        # The speaker left the audience: the exact count follows, whether or not this client
        # knew them by name (the first batch was too big to name everyone).
        assert events[2] == {"type": "audience_changed", "count": total + 9, "joined": [],
                             "left": [], "truncated": False}
        # The moderator saw the batch before the (private) invitation it had to follow.
        kinds = [e["type"] for e in room_events(host, host_start)][-5:]
        assert kinds == ["audience_changed", "speak_invited", "role_changed", "audience_changed",
                         "mute_changed"], kinds
        for rt, m in ((host, alice), (seat, watcher)):
            assert_gapless(seqs(rt))
            await assert_matches_fresh_view(rt, m)
        assert_gapless(seqs(speaker))
        assert ok(await alice.http.get(f"/rooms/{rid}"))["audience_count"] == total + 9

"""The hallway: ranked for each viewer (people they follow on stage first), paged, live."""

from __future__ import annotations

from tests.api.helpers import members, ok
from tests.conftest import Server
from tests.social.helpers import follow, hallway_ids, room


async def test_ranking_followed_first_then_size_then_freshness(server: Server) -> None:
    viewer, star, a, b, c, x, y, z, w = await members(
        server, "viewer", "star", "aa", "bb", "cc", "xx", "yy", "zz", "ww")
    await follow(viewer, star)
    big = await room(a, "open", "Big")  # 3 members
    for m in (x, y):
        ok(await m.http.post(f"/rooms/{big}/join"))
    server.clock.advance(10)
    followed = await room(star, "open", "Star")  # 1 member, but the viewer follows its speaker
    server.clock.advance(10)
    older = await room(b, "open", "Older")  # 2 members
    ok(await z.http.post(f"/rooms/{older}/join"))
    server.clock.advance(10)
    newer = await room(c, "open", "Newer")  # 2 members, newer
    ok(await w.http.post(f"/rooms/{newer}/join"))
    await room(x, "closed", "Hidden")  # never shown to the viewer
    assert await hallway_ids(viewer) == [followed, big, newer, older]
    body = ok(await viewer.http.get("/rooms", params={"offset": 1, "limit": 2}))
    assert [r["id"] for r in body["rooms"]] == [big, newer]
    assert body["total"] == 4 and body["offset"] == 1 and body["limit"] == 2
    first = ok(await viewer.http.get("/rooms"))["rooms"][0]
    assert first["followed_on_stage"] == [star.id]
    # Someone else follows nobody: plain size order.
    assert (await hallway_ids(z))[:1] == [big]


async def test_live_hallway_frames_are_filtered_per_viewer(server: Server) -> None:
    host, viewer, other = await members(server, "host", "viewer", "other")
    rt = await viewer.client.connect()
    reply = await rt.send("subscribe_hallway")
    assert reply["rooms"] == []
    social = await room(host, "social", "Friends")
    closed = await room(host, "closed", "Secret")
    opened = await room(host, "open", "Everyone")

    def updated(room_id: str) -> bool:
        return any(f["type"] == "hallway" and f["event"]["type"] == "room_updated"
                   and f["event"]["room"]["id"] == room_id for f in rt.events)

    await rt.wait_for(lambda: updated(opened))
    assert not updated(social) and not updated(closed)
    # The host follows the viewer: the social room is now theirs to see, from its next update.
    await follow(host, viewer)
    ok(await other.http.post(f"/rooms/{opened}/join"))
    ok(await host.http.post(f"/rooms/{social}/leave"))
    ok(await host.http.post(f"/rooms/{social}/join"))
    await rt.wait_for(lambda: updated(social))
    frame = next(f for f in rt.events if f["type"] == "hallway"
                 and f["event"].get("room", {}).get("id") == social)
    assert frame["event"]["room"]["followed_on_stage"] == []
    assert not updated(closed)
    # Unfollowed again: the room leaves this viewer's hallway with a room_removed frame.
    ok(await host.http.delete("/users/viewer/follow"))
    ok(await host.http.post(f"/rooms/{social}/leave"))
    await rt.wait_for(lambda: any(
        f["type"] == "hallway" and f["event"] == {"type": "room_removed", "room_id": social}
        for f in rt.events))
    await rt.close()

"""The notification centre: pushed live over the WebSocket, unread count, mark read, pages."""

from __future__ import annotations

from tests.api.helpers import act, assert_error, members, ok
from tests.conftest import Server
from tests.social.helpers import follow, notes, room


async def test_pushed_live_to_every_session_and_kept_on_resume(server: Server) -> None:
    alice, bob = await members(server, "alice", "bob")
    first = await bob.client.connect()
    second = await bob.client.connect()
    await follow(alice, bob)
    for rt in (first, second):
        await rt.wait_for(lambda rt=rt: any(f["type"] == "notification" for f in rt.events))
        frame = next(f for f in rt.events if f["type"] == "notification")
        assert frame["unread"] == 1 and frame["seq"] >= 1
        note = frame["notification"]
        assert note["kind"] == "new_follower" and note["actor"]["username"] == "alice"
        assert note["read"] is False and isinstance(note["id"], int)
    # Missed while disconnected: replayed on resume, like every numbered frame.
    await first.drop()
    room = ok(await alice.http.post("/rooms", json={"title": "Hi"}), 201)
    ok(await alice.http.post(f"/rooms/{room['id']}/join"))
    ok(await alice.http.post(f"/rooms/{room['id']}/ping", json={"user_id": bob.id}))
    await first.open()
    assert first.resumed
    await first.wait_for(lambda: sum(f["type"] == "notification" for f in first.events) == 2)
    assert first.events[-1]["notification"]["kind"] == "ping"
    assert first.events[-1]["unread"] == 2
    # Alice's own session hears nothing of Bob's notifications.
    mine = await alice.client.connect()
    await follow(bob, alice)
    await mine.wait_for(lambda: any(f["type"] == "notification" for f in mine.events))
    assert [f["notification"]["kind"] for f in mine.events if f["type"] == "notification"] == [
        "new_follower"]
    for rt in (first, second, mine):
        await rt.close()


async def test_unread_count_mark_read_and_pages(server: Server) -> None:
    star, *fans = await members(server, "star", "fan1", "fan2", "fan3", "fan4", "fan5")
    for fan in fans:
        await follow(fan, star)
    assert ok(await star.http.get("/notifications/unread")) == {"unread": 5}
    page = ok(await star.http.get("/notifications", params={"limit": 2}))
    assert [n["actor"]["username"] for n in page["notifications"]] == ["fan5", "fan4"]
    assert page["unread"] == 5 and page["next_before"] == page["notifications"][-1]["id"]
    page2 = ok(await star.http.get("/notifications", params={"limit": 2,
                                                              "before": page["next_before"]}))
    assert [n["actor"]["username"] for n in page2["notifications"]] == ["fan3", "fan2"]
    last = ok(await star.http.get("/notifications", params={"limit": 2,
                                                             "before": page2["next_before"]}))
    assert len(last["notifications"]) == 1 and last["next_before"] is None
    one = page["notifications"][0]["id"]
    assert ok(await star.http.post(f"/notifications/{one}/read")) == {"unread": 4}
    assert ok(await star.http.post(f"/notifications/{one}/read")) == {"unread": 4}
    assert (await notes(star))[0]["read"] is True
    unread = ok(await star.http.get("/notifications", params={"unread": True}))
    assert len(unread["notifications"]) == 4
    # Someone else's notification is not yours to read.
    assert_error(await fans[0].http.post(f"/notifications/{one}/read"), 404)
    assert_error(await star.http.post("/notifications/0/read"), 422)
    assert ok(await star.http.post("/notifications/read-all")) == {"unread": 0}
    assert ok(await star.http.get("/notifications/unread")) == {"unread": 0}
    assert_error(await (await server.anonymous()).http.get("/notifications"), 401)


async def test_an_accepted_or_declined_invitation_to_speak_is_no_longer_unread(
        server: Server) -> None:
    host, guest = await members(server, "host", "guest")
    rid = await room(host)
    ok(await guest.http.post(f"/rooms/{rid}/join"))
    rt = await guest.client.connect()
    ok(await act(host, rid, "speakers", user_id=guest.id))
    [invite] = await notes(guest)
    assert invite["kind"] == "speak_invite" and invite["read"] is False
    assert invite["room_live"] is True
    ok(await act(guest, rid, "invitation/accept"))
    assert (await notes(guest))[0]["read"] is True
    assert ok(await guest.http.get("/notifications/unread")) == {"unread": 0}
    await rt.wait_for(lambda: any(f["type"] == "notifications_read" for f in rt.events))
    frame = next(f for f in rt.events if f["type"] == "notifications_read")
    assert frame["ids"] == [invite["id"]] and frame["unread"] == 0

    # Declining settles it too (a second invitation, after the quiet time).
    ok(await act(host, rid, "audience", user_id=guest.id))
    server.clock.advance(10 * 60 + 1)
    ok(await act(host, rid, "speakers", user_id=guest.id))
    assert [n["read"] for n in await notes(guest)] == [False, True]
    ok(await act(guest, rid, "invitation/decline"))
    assert [n["read"] for n in await notes(guest)] == [True, True]
    await rt.close()


async def test_joining_the_room_settles_its_ping_and_an_ended_room_says_so(
        server: Server) -> None:
    host, fan, other = await members(server, "host", "fan", "other")
    await follow(fan, host)
    await follow(other, host)
    rid = await room(host)
    ok(await host.http.post(f"/rooms/{rid}/ping", json={"user_id": fan.id}))
    assert sorted(n["kind"] for n in await notes(fan)) == ["followed_started_room", "ping"]
    assert all(n["room_live"] is True and n["read"] is False for n in await notes(fan))
    ok(await fan.http.post(f"/rooms/{rid}/join"))
    assert all(n["read"] is True for n in await notes(fan))
    # Someone who never came keeps theirs unread, and sees that the room has ended.
    ok(await act(host, rid, "end"))
    [started] = await notes(other)
    assert started["read"] is False and started["room_live"] is False
    # A notification about no room says nothing about rooms.
    await follow(other, fan)
    assert (await notes(fan))[0]["kind"] == "new_follower"
    assert (await notes(fan))[0]["room_live"] is None

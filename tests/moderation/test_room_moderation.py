"""Moderator powers: remove and ban (with expiry), unban, revoke moderator, end the room, mute,
and who may raise a hand. Each effect reaches everyone at once and goes to the audit log."""

from __future__ import annotations

from tests.api.helpers import act, assert_error, member, members, ok
from tests.conftest import Server
from tests.moderation.helpers import audit_actions, ban, media_spy
from tests.realtime.helpers import RawSocket
from tests.social.helpers import follow, room


async def test_a_removed_member_is_kept_out_until_the_ban_expires(server: Server) -> None:
    host, bob, carol = await members(server, "host", "bob", "carol")
    admin = await member(server, "admin", admin=True)
    room_id = await room(host)
    ok(await carol.http.post(f"/rooms/{room_id}/join"))
    watcher = await RawSocket.open(server, carol.token)
    await watcher.recv()
    await watcher.send({"id": 1, "type": "join", "room_id": room_id})
    await watcher.until(lambda f: f.get("type") == "snapshot")
    ok(await bob.http.post(f"/rooms/{room_id}/join"))
    calls = media_spy(server)

    body = ok(await ban(host, room_id, bob, minutes=10), 201)
    assert body["user_id"] == bob.id and body["expires_at"] == server.clock.now() + 600
    # Everyone in the room sees it at once; the removed person's media is closed.
    frame = await watcher.until(lambda f: f.get("event", {}).get("type") == "member_removed")
    assert frame["event"]["user_id"] == bob.id and frame["event"]["by"] == host.id
    assert (room_id, bob.id) in calls
    view = ok(await host.http.get(f"/rooms/{room_id}"))
    assert bob.id not in [m["user_id"] for m in view["audience"]]

    refused = assert_error(await bob.http.post(f"/rooms/{room_id}/join"), 403, "banned")
    assert "removed you" in refused["message"]
    bans = ok(await host.http.get(f"/rooms/{room_id}/bans"))
    assert [b["user_id"] for b in bans] == [bob.id]
    server.clock.advance(599)
    assert_error(await bob.http.post(f"/rooms/{room_id}/join"), 403, "banned")
    server.clock.advance(2)
    ok(await bob.http.post(f"/rooms/{room_id}/join"))
    assert ok(await host.http.get(f"/rooms/{room_id}/bans")) == []

    # For good, then unbanned.
    ok(await ban(host, room_id, bob), 201)
    server.clock.advance(10**7)
    assert_error(await bob.http.post(f"/rooms/{room_id}/join"), 403, "banned")
    ok(await host.http.delete(f"/rooms/{room_id}/bans/{bob.id}"))
    assert_error(await host.http.delete(f"/rooms/{room_id}/bans/{bob.id}"), 404, "not_banned")
    ok(await bob.http.post(f"/rooms/{room_id}/join"))
    actions = await audit_actions(admin)
    assert actions == [("room_ban", "bob"), ("room_ban", "bob"), ("room_unban", "bob")]
    await watcher.close()


async def test_nobody_removes_the_host_and_only_moderators_remove(server: Server) -> None:
    host, mod, bob = await members(server, "host", "mod", "bob")
    room_id = await room(host)
    for m in (mod, bob):
        ok(await m.http.post(f"/rooms/{room_id}/join"))
    ok(await act(host, room_id, "speakers", user_id=mod.id))
    ok(await act(mod, room_id, "invitation/accept"))
    ok(await act(host, room_id, "moderators", user_id=mod.id))
    assert_error(await ban(mod, room_id, host), 403, "forbidden")
    assert_error(await ban(bob, room_id, mod), 403, "forbidden")
    assert_error(await ban(host, room_id, host), 422, "invalid_target")
    assert_error(await host.http.post(f"/rooms/{room_id}/bans",
                                      json={"user_id": bob.id, "minutes": 0}), 422)
    # A moderator may remove another moderator (not the host).
    ok(await ban(mod, room_id, bob, minutes=5), 201)


async def test_revoke_moderator_and_moderators_end_rooms(server: Server) -> None:
    host, mod = await members(server, "host", "mod")
    admin = await member(server, "admin", admin=True)
    room_id = await room(host)
    ok(await mod.http.post(f"/rooms/{room_id}/join"))
    ok(await act(host, room_id, "speakers", user_id=mod.id))
    ok(await act(mod, room_id, "invitation/accept"))
    ok(await act(host, room_id, "moderators", user_id=mod.id))
    # Not the host, by anyone else.
    assert_error(await act(mod, room_id, "moderators/revoke", user_id=host.id), 403, "forbidden")
    ok(await act(host, room_id, "moderators/revoke", user_id=mod.id))
    view = ok(await host.http.get(f"/rooms/{room_id}"))
    assert {m["user_id"]: m["role"] for m in view["stage"]}[mod.id] == "speaker"
    assert_error(await act(mod, room_id, "end"), 403, "forbidden")
    ok(await act(host, room_id, "moderators", user_id=mod.id))
    ok(await act(mod, room_id, "end"))
    assert_error(await host.http.get(f"/rooms/{room_id}"), 404)
    actions = [a for a, _ in await audit_actions(admin)]
    assert actions == ["invite_to_speak", "make_moderator", "revoke_moderator",
                       "make_moderator", "end_room"]


async def test_hand_raising_policy(server: Server) -> None:
    host, speaker, fan, stranger = await members(server, "host", "speaker", "fan", "stranger")
    room_id = await room(host)
    for m in (speaker, fan, stranger):
        ok(await m.http.post(f"/rooms/{room_id}/join"))
    ok(await act(host, room_id, "speakers", user_id=speaker.id))
    ok(await act(speaker, room_id, "invitation/accept"))
    await follow(speaker, fan)  # someone on stage (not a moderator) follows the fan
    assert ok(await host.http.get(f"/rooms/{room_id}"))["hand_policy"] == "everyone"
    watcher = await RawSocket.open(server, stranger.token)
    await watcher.recv()
    await watcher.send({"id": 1, "type": "join", "room_id": room_id})
    await watcher.until(lambda f: f.get("type") == "snapshot")

    assert_error(await speaker.http.put(f"/rooms/{room_id}/hand-policy",
                                        json={"policy": "nobody"}), 403, "forbidden")
    assert_error(await host.http.put(f"/rooms/{room_id}/hand-policy",
                                     json={"policy": "some"}), 422)
    ok(await host.http.put(f"/rooms/{room_id}/hand-policy", json={"policy": "nobody"}))
    frame = await watcher.until(lambda f: f.get("event", {}).get("type") == "hand_policy_changed")
    assert frame["event"]["policy"] == "nobody"
    assert ok(await stranger.http.get(f"/rooms/{room_id}"))["hand_policy"] == "nobody"
    body = assert_error(await act(fan, room_id, "hand/raise"), 403, "hands_closed")
    assert "turned off" in body["message"]

    ok(await host.http.put(f"/rooms/{room_id}/hand-policy", json={"policy": "followed"}))
    body = assert_error(await act(stranger, room_id, "hand/raise"), 403, "hands_closed")
    assert "followed by someone on stage" in body["message"]
    ok(await act(fan, room_id, "hand/raise"))

    ok(await host.http.put(f"/rooms/{room_id}/hand-policy", json={"policy": "everyone"}))
    ok(await act(stranger, room_id, "hand/raise"))
    # Over the WebSocket too.
    await watcher.send({"id": 2, "type": "set_hand_policy", "policy": "nobody"})
    reply = await watcher.until(lambda f: f.get("id") == 2)
    assert reply["type"] == "error" and reply["error"] == "forbidden"
    await watcher.close()


async def test_a_muted_speaker_is_not_heard(server: Server) -> None:
    host, bob = await members(server, "host", "bob")
    room_id = await room(host)
    ok(await bob.http.post(f"/rooms/{room_id}/join"))
    ok(await act(host, room_id, "speakers", user_id=bob.id))
    ok(await act(bob, room_id, "invitation/accept"))
    live = server.services.rooms.get(room_id)
    assert bob.id in live.heard
    ok(await act(host, room_id, "muted", user_id=bob.id))
    assert bob.id not in live.heard  # the engine was told the heard set without bob
    ok(await act(host, room_id, "audience", user_id=bob.id))
    assert bob.id not in live.heard

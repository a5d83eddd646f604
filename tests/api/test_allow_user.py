"""Letting someone into a room who does not exist: 404 ``user_not_found``, never a 500 (the
database's foreign key), over HTTP and the WebSocket alike (security issue #18, item 11)."""

from __future__ import annotations

from tests.api.helpers import act, assert_error, members, ok
from tests.conftest import Server
from tests.realtime.helpers import RawSocket

UNKNOWN = 987_654_321


async def test_allowing_an_unknown_or_suspended_member_is_404(server: Server) -> None:
    host, bob, zed = await members(server, "host", "bob", "zed")
    rid = ok(await host.http.post("/rooms", json={"title": "Closed", "kind": "closed"}), 201)["id"]
    ok(await act(host, rid, "join"))
    await server.services.accounts.set_suspended(zed.id, True)
    for user_id in (UNKNOWN, zed.id):
        assert_error(await act(host, rid, "allowed", user_id=user_id), 404, "user_not_found")
    assert server.services.rooms.get(rid).state.allowed == frozenset()  # nothing half-done
    ok(await act(host, rid, "allowed", user_id=bob.id))  # the room carries on
    ok(await act(bob, rid, "join"))
    assert await server.services.rooms.allowed_rooms(bob.id) == [rid]


async def test_allow_user_command_with_an_unknown_id_is_an_error_frame(server: Server) -> None:
    host, bob = await members(server, "host", "bob")
    rid = ok(await host.http.post("/rooms", json={"title": "Closed", "kind": "closed"}), 201)["id"]
    ws = await RawSocket.open(server, host.token)
    await ws.recv()
    await ws.send({"id": 1, "type": "join", "room_id": rid})
    await ws.until(lambda f: f.get("id") == 1)
    rev = server.services.rooms.get(rid).rev
    await ws.send({"id": 2, "type": "allow_user", "user_id": UNKNOWN})
    refused = await ws.until(lambda f: f.get("id") == 2)
    assert refused["type"] == "error" and refused["error"] == "user_not_found", refused
    assert refused["message"]
    live = server.services.rooms.get(rid)
    assert live.state.allowed == frozenset() and live.rev == rev
    await ws.send({"id": 3, "type": "allow_user", "user_id": bob.id})  # the socket stays open
    assert (await ws.until(lambda f: f.get("id") == 3))["type"] == "reply"
    await ws.close()

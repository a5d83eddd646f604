"""Leaving a room by any road ends that room's events on every socket of the member.

Before: after ``POST /rooms/{id}/leave`` the member's WebSocket kept receiving the room's events
(stage changes, mutes...) as if they were still inside.
"""

from __future__ import annotations

from typing import Any

from tests.api.helpers import act, members, ok
from tests.conftest import Server
from tests.realtime.helpers import RawSocket


async def _in_room(server: Server, token: str, room_id: str) -> RawSocket:
    sock = await RawSocket.open(server, token)
    await sock.recv()  # hello
    await sock.send({"id": "j", "type": "join", "room_id": room_id})
    await sock.until(lambda f: f.get("id") == "j")
    return sock


async def _frames_until_pong(sock: RawSocket) -> list[dict[str, Any]]:
    """Everything queued for the socket so far: a pong is queued behind it."""
    await sock.send({"type": "ping"})
    frames = []
    while (frame := await sock.recv())["type"] != "pong":
        frames.append(frame)
    return frames


async def test_http_leave_stops_the_rooms_events_on_the_socket(server: Server) -> None:
    host, bob = await members(server, "host", "bob")
    room_id = ok(await host.http.post("/rooms", json={"title": "Leaving"}), 201)["id"]
    host_sock = await _in_room(server, host.token, room_id)
    bob_sock = await _in_room(server, bob.token, room_id)
    await host_sock.send({"id": "m1", "type": "set_muted", "muted": True})
    await host_sock.until(lambda f: f.get("id") == "m1")
    seen = await _frames_until_pong(bob_sock)
    assert any(f.get("event", {}).get("type") == "mute_changed" for f in seen), seen

    ok(await act(bob, room_id, "leave"))
    await host_sock.send({"id": "m2", "type": "set_muted", "muted": False})
    await host_sock.until(lambda f: f.get("id") == "m2")
    after = await _frames_until_pong(bob_sock)
    # The news of his own leaving, at most, and nothing after it.
    others = [f for f in after if f.get("room_id") == room_id
              and (f["event"].get("type"), f["event"].get("user_id")) != ("member_left", bob.id)]
    assert others == [], after
    # Still a working socket: joining again brings the room back.
    await bob_sock.send({"id": "j2", "type": "join", "room_id": room_id})
    snapshot = await bob_sock.until(lambda f: f.get("type") == "snapshot")
    assert snapshot["room"]["room_id"] == room_id

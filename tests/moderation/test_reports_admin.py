"""Reports, the admins' review, suspension everywhere at once, and the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.api.helpers import assert_error, member, members, ok
from tests.conftest import Server
from tests.moderation.helpers import audit_actions, media_spy
from tests.realtime.helpers import RawSocket
from tests.social.helpers import room


def report_body(username: str, **extra: Any) -> dict[str, Any]:
    return {"username": username, "category": "harassment", "text": "Rude\u200b words.",
            **extra}


async def test_report_review_resolve_and_dismiss(server: Server) -> None:
    alice, bob = await members(server, "alice", "bob")
    admin = await member(server, "admin", admin=True)
    room_id = await room(bob, title="Bob's room")
    created = ok(await alice.http.post("/reports", json=report_body("bob", room_id=room_id)),
                 201)
    ok(await alice.http.post("/reports", json=report_body("bob", category="spam")), 201)
    assert_error(await alice.http.post("/reports", json=report_body("alice")), 422,
                 "cannot_report_self")
    assert_error(await alice.http.post("/reports", json=report_body("bob", category="x")), 422)
    assert_error(await alice.http.post("/reports", json=report_body("bob", text=" \u200b ")),
                 422, "invalid_text")
    assert_error(await alice.http.post("/reports", json=report_body("nobody")), 404)
    # Only admins review.
    assert_error(await alice.http.get("/admin/reports"), 403, "forbidden")
    assert_error(await alice.http.post(f"/admin/reports/{created['id']}",
                                       json={"action": "resolve"}), 403)
    page = ok(await admin.http.get("/admin/reports"))
    assert page["total"] == 2
    first = next(r for r in page["reports"] if r["id"] == created["id"])
    assert first["text"] == "Rude words."  # cleaned
    assert first["reporter"]["username"] == "alice" and first["reported"]["username"] == "bob"
    assert first["room"] == {"id": room_id, "title": "Bob's room", "live": True}
    assert first["created_at"] == server.clock.now()
    ok(await admin.http.post(f"/admin/reports/{created['id']}",
                             json={"action": "resolve", "note": "Warned."}))
    assert_error(await admin.http.post(f"/admin/reports/{created['id']}",
                                       json={"action": "dismiss"}), 409, "report_closed")
    other = next(r["id"] for r in page["reports"] if r["id"] != created["id"])
    ok(await admin.http.post(f"/admin/reports/{other}", json={"action": "dismiss"}))
    assert ok(await admin.http.get("/admin/reports"))["total"] == 0
    resolved = ok(await admin.http.get("/admin/reports", params={"status": "resolved"}))
    assert [(r["note"], r["handled_by"]) for r in resolved["reports"]] == [("Warned.", "admin")]
    assert await audit_actions(admin) == [("report_resolved", "bob"),
                                          ("report_dismissed", "bob")]


async def test_reports_are_rate_limited(make_server: Callable[..., Any]) -> None:
    async with make_server(media_workers=0, rate_report="2/3600") as server:
        alice, _ = await members(server, "alice", "bob")
        for _ in range(2):
            ok(await alice.http.post("/reports", json=report_body("bob")), 201)
        response = await alice.http.post("/reports", json=report_body("bob"))
        assert_error(response, 429)
        assert int(response.headers["retry-after"]) > 0


async def test_suspension_takes_effect_everywhere(server: Server) -> None:
    bob, carol, alice = await members(server, "bob", "carol", "alice")
    admin = await member(server, "admin", admin=True)
    hosted = await room(bob, title="Bob's")
    elsewhere = await room(carol, title="Carol's")
    watcher = await RawSocket.open(server, alice.token)
    await watcher.recv()
    await watcher.send({"id": 1, "type": "join", "room_id": hosted})
    await watcher.until(lambda f: f.get("type") == "snapshot")
    sock = await RawSocket.open(server, bob.token)
    await sock.recv()
    await sock.send({"id": 1, "type": "join", "room_id": elsewhere})
    await sock.until(lambda f: f.get("type") == "snapshot")
    calls = media_spy(server)
    assert_error(await alice.http.post("/admin/users/bob/suspend", json={}), 403)

    body = ok(await admin.http.post("/admin/users/bob/suspend", json={"note": "Spam."}))
    assert body["rooms_ended"] == [hosted]
    assert await sock.close_code() == 4003  # the live socket closes with the documented code
    frame = await watcher.until(lambda f: f.get("event", {}).get("type") == "room_ended")
    assert frame["event"]["reason"] == "host_suspended"
    assert (elsewhere, bob.id) in calls  # their media peer is gone
    assert bob.id not in server.services.rooms.get(elsewhere).state.members
    assert_error(await bob.http.get("/auth/me"), 401)  # the token stops working
    again = await RawSocket.open(server, bob.token)
    assert await again.close_code() == 4001
    assert_error(await admin.http.post("/admin/users/admin/suspend", json={}), 422)

    ok(await admin.http.delete("/admin/users/bob/suspend"))
    ok(await bob.http.get("/auth/me"))
    assert await audit_actions(admin) == [("suspend", "bob"), ("reinstate", "bob")]
    page = ok(await admin.http.get("/admin/audit", params={"limit": 1}))
    assert page["total"] == 2 and page["entries"][0]["action"] == "reinstate"
    assert ok(await admin.http.get("/admin/audit"))["entries"][1]["detail"] == {
        "note": "Spam.", "rooms_ended": [hosted]}
    await watcher.close()


async def test_remove_member_over_the_websocket(server: Server) -> None:
    host, bob = await members(server, "host", "bob")
    room_id = await room(host)
    sock = await RawSocket.open(server, bob.token)
    await sock.recv()
    await sock.send({"id": 1, "type": "join", "room_id": room_id})
    await sock.until(lambda f: f.get("type") == "snapshot")
    mod = await RawSocket.open(server, host.token)
    await mod.recv()
    await mod.send({"id": 1, "type": "join", "room_id": room_id})
    await mod.until(lambda f: f.get("type") == "snapshot")
    await mod.send({"id": 2, "type": "remove_member", "user_id": bob.id, "minutes": 0})
    reply = await mod.until(lambda f: f.get("id") == 2)
    assert reply["error"] == "invalid_request"
    await mod.send({"id": 3, "type": "remove_member", "user_id": bob.id, "minutes": 30})
    reply = await mod.until(lambda f: f.get("id") == 3)
    assert reply["type"] == "reply" and reply["data"]["user_id"] == bob.id
    frame = await sock.until(lambda f: f.get("event", {}).get("type") == "member_removed")
    assert frame["event"]["user_id"] == bob.id
    await sock.send({"id": 2, "type": "join", "room_id": room_id})
    reply = await sock.until(lambda f: f.get("id") == 2)
    assert reply["error"] == "banned"
    await sock.close()
    await mod.close()

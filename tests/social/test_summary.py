"""A host who ends a room gets a summary of it: duration, peak audience, people who came,
speakers and hands raised; its moderators too, nobody else."""

from __future__ import annotations

from podium.storage.tables import Room
from tests.api.helpers import act, assert_error, member, members, ok
from tests.conftest import Server
from tests.social.helpers import room


async def test_the_host_and_moderators_get_the_rooms_summary_when_it_ends(
        server: Server) -> None:
    host, mod, guest, late, outsider = await members(
        server, "host", "mod", "guest", "late", "outsider")
    admin = await member(server, "root", admin=True)
    rid = await room(host)
    host_rt = await host.client.connect()
    mod_rt = await mod.client.connect()
    guest_rt = await guest.client.connect()
    for m in (mod, guest, late):
        ok(await m.http.post(f"/rooms/{rid}/join"))
    ok(await act(host, rid, "speakers", user_id=mod.id))
    ok(await act(mod, rid, "invitation/accept"))
    ok(await act(host, rid, "moderators", user_id=mod.id))
    ok(await act(guest, rid, "hand/raise"))
    ok(await late.http.post(f"/rooms/{rid}/leave"))
    assert_error(await host.http.get(f"/rooms/{rid}/summary"), 404)  # still live
    server.clock.advance(125)
    ok(await act(host, rid, "end"))

    expected = {"room_id": rid, "title": "Room", "reason": "ended_by_host",
                "duration_seconds": 125, "peak_listeners": 3, "people": 4, "speakers": 2,
                "hands_raised": 1}
    for rt in (host_rt, mod_rt):
        await rt.wait_for(lambda rt=rt: any(f["type"] == "room_summary" for f in rt.events))
        frame = next(f for f in rt.events if f["type"] == "room_summary")
        assert frame["summary"] == expected
    assert ok(await host.http.get(f"/rooms/{rid}/summary"))["people"] == 4
    assert ok(await mod.http.get(f"/rooms/{rid}/summary"))["peak_listeners"] == 3
    assert not any(f["type"] == "room_summary" for f in guest_rt.events)
    assert_error(await guest.http.get(f"/rooms/{rid}/summary"), 403)
    assert_error(await outsider.http.get(f"/rooms/{rid}/summary"), 403)
    ok(await admin.http.get(f"/rooms/{rid}/summary"))
    # The peak is kept with the room.
    async with server.services.db.transaction() as s:
        row = await s.get(Room, rid)
        assert row is not None and row.peak_listeners == 3
    for rt in (host_rt, mod_rt, guest_rt):
        await rt.close()

from __future__ import annotations

from tests.conftest import Server


async def test_room_lifecycle_smoke(server: Server) -> None:
    host = await server.user("hosty")
    guest = await server.user("guest")
    room = await host.create_room("Hello")
    rt_host = await host.connect()
    await rt_host.join(room["id"])
    assert rt_host.my_role() == "moderator"
    rt_guest = await guest.connect()
    await rt_guest.join(room["id"])
    await rt_guest.send("raise_hand")
    await rt_host.wait_for(lambda: len(rt_host.room["hands"]) == 1)
    await rt_host.send("invite_to_speak", user_id=rt_guest.user["id"])
    await rt_guest.wait_for(lambda: rt_guest.room["me"]["invited"])
    await rt_guest.send("accept_invite")
    await rt_host.wait_for(lambda: len(rt_host.room["stage"]) == 2)
    await rt_host.close()
    await rt_guest.close()

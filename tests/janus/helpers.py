"""Steps the Janus tests share: a member with audio, a promotion, hanging everyone up."""

from __future__ import annotations

from typing import Any

from podium.cli.bot import connect_audio
from podium.client import Realtime


async def member_with_audio(server: Any, name: str, room_id: str) -> tuple[Realtime, Any]:
    client = await server.user(name)
    rt = await client.connect()
    await rt.join(room_id)
    return rt, await connect_audio(rt)


async def promote(host: Realtime, guest: Realtime, observer: Realtime) -> None:
    """The guest raises a hand, the host invites, the guest accepts; ``observer`` sees it."""
    await guest.send("raise_hand")
    await host.wait_for(lambda: len(host.room["hands"]) == 1)  # type: ignore[index]
    await host.send("invite_to_speak", user_id=guest.user["id"])
    await guest.wait_for(lambda: guest.room["me"]["invited"])  # type: ignore[index]
    await guest.send("accept_invite")
    await observer.wait_event("role_changed", match=lambda e: e["role"] == "speaker")


async def hang_up(peers: tuple[tuple[Realtime, Any], ...]) -> None:
    for rt, peer in peers:
        await peer.close()
        await rt.send("leave")
        await rt.close()

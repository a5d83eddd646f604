"""Helpers for the moderation tests."""

from __future__ import annotations

from typing import Any

from tests.api.helpers import Member, ok
from tests.conftest import Server


def media_spy(server: Server) -> list[tuple[str, int]]:
    """Record the engine's ``disconnect`` calls (the engine's own work still runs)."""
    media = server.services.rooms.media
    calls: list[tuple[str, int]] = []
    original = media.disconnect

    async def disconnect(room_id: str, user_id: int) -> None:
        calls.append((room_id, user_id))
        await original(room_id, user_id)

    media.disconnect = disconnect  # type: ignore[method-assign]
    return calls


async def audit_actions(admin: Member) -> list[tuple[str, str | None]]:
    body = ok(await admin.http.get("/admin/audit", params={"limit": 200}))
    return [(e["action"], e["target"]) for e in reversed(body["entries"])]


async def ban(mod: Member, room_id: str, target: Member, minutes: int | None = None) -> Any:
    body: dict[str, Any] = {"user_id": target.id}
    if minutes is not None:
        body["minutes"] = minutes
    return await mod.http.post(f"/rooms/{room_id}/bans", json=body)

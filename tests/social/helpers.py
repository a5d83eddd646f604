"""Helpers for the social-layer tests."""

from __future__ import annotations

from typing import Any

from tests.api.helpers import Member, ok


async def follow(who: Member, whom: Member, notify: bool = True) -> dict[str, Any]:
    return ok(await who.http.post(  # type: ignore[no-any-return]
        f"/users/{whom.account.username}/follow", json={"notify": notify}))


async def room(host: Member, kind: str = "open", title: str = "Room") -> str:
    """Start a room and join it (so the host is a moderator present)."""
    created = ok(await host.http.post("/rooms", json={"title": title, "kind": kind}), 201)
    ok(await host.http.post(f"/rooms/{created['id']}/join"))
    return str(created["id"])


async def hallway_ids(m: Member, **params: Any) -> list[str]:
    body = ok(await m.http.get("/rooms", params=params))
    return [r["id"] for r in body["rooms"]]


async def notes(m: Member, **params: Any) -> list[dict[str, Any]]:
    return ok(await m.http.get("/notifications", params=params))[  # type: ignore[no-any-return]
        "notifications"]


async def kinds(m: Member) -> list[str]:
    return [n["kind"] for n in await notes(m)]

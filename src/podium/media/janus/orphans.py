"""Removing what a dead Podium node left in shared Janus instances (``JanusEngine.clear_orphans``).

Each node records the RTP forwarders and cascade participants it makes as items
``f:INSTANCE:ROOM:STREAM`` and ``p:INSTANCE:ROOM:PARTICIPANT`` (``RedisRoomLog.own``); a survivor
takes a dead node's items (``RedisRoomLog.reclaim``) and undoes them here.
"""

from __future__ import annotations

import logging

from podium.media.janus.api import JanusError, JanusSession, Json

log = logging.getLogger(__name__)
MAX_KICKED = 10_000  # remembered kicks (Janus forgets a kicked participant long before this)


def parse_owned(item: str) -> tuple[str | None, int, int, int]:
    """``kind:instance:janus room:id`` (``f`` a forwarder's stream, ``p`` a participant)."""
    parts = item.split(":")
    if len(parts) != 4 or parts[0] not in ("f", "p") or not all(p.isdigit() for p in parts[1:]):
        return None, 0, 0, 0
    return parts[0], int(parts[1]), int(parts[2]), int(parts[3])


async def remove_orphans(sessions: list[JanusSession], plugin: str, items: list[str],
                         kicked: set[tuple[int, int, int]]) -> int:
    """Stop the forwarders and kick the participants named by ``items``; the kicked are added
    to ``kicked`` (Janus still lists them for a moment). Returns how many were removed."""
    removed = 0
    handles: dict[int, int] = {}
    for item in items:
        kind, index, janus_room, ident = parse_owned(item)
        if kind is None or index >= len(sessions):
            continue
        session = sessions[index]
        if index not in handles:
            handles[index] = await session.attach(plugin)
        request: Json = ({"request": "stop_rtp_forward", "stream_id": ident} if kind == "f"
                         else {"request": "kick", "id": ident})
        try:
            await session.request(handles[index], {**request, "room": janus_room})
        except JanusError:
            continue  # gone already (the room ended, or Janus dropped the participant)
        removed += 1
        if kind == "p":
            if len(kicked) >= MAX_KICKED:
                kicked.clear()
            kicked.add((index, janus_room, ident))
    for index, handle in handles.items():
        await sessions[index].detach(handle)
    if removed:
        log.info("janus: removed %d forwarders and cascades of dead nodes", removed)
    return removed

"""Roles on a room's stage and the pure predicates that decide who may do what."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    MODERATOR = "moderator"
    SPEAKER = "speaker"
    LISTENER = "listener"

    @property
    def on_stage(self) -> bool:
        return self is not Role.LISTENER


class RoomKind(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class RoomStatus(StrEnum):
    LIVE = "live"
    ENDED = "ended"


def is_moderator(role: Role | None) -> bool:
    return role is Role.MODERATOR


def may_join(kind: RoomKind, user_id: int, host_id: int, allowed: frozenset[int]) -> bool:
    """Open rooms admit any member; closed rooms only the host and people a moderator let in."""
    return kind is RoomKind.OPEN or user_id == host_id or user_id in allowed


def may_act_on(actor_id: int, target_id: int, host_id: int) -> bool:
    """Nobody but the host may demote, mute or otherwise act on the host."""
    return target_id != host_id or actor_id == host_id

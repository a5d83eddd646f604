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
    OPEN = "open"  # any member
    SOCIAL = "social"  # people a moderator follows, and people let in or pinged
    CLOSED = "closed"  # only people a moderator let in or pinged


class RoomStatus(StrEnum):
    LIVE = "live"
    ENDED = "ended"


class HandPolicy(StrEnum):
    NOBODY = "nobody"
    EVERYONE = "everyone"
    FOLLOWED = "followed"  # only people followed by someone on stage


def may_raise_hand(policy: HandPolicy, followed_by_stage: bool) -> bool:
    if policy is HandPolicy.EVERYONE:
        return True
    return policy is HandPolicy.FOLLOWED and followed_by_stage


def hand_refusal(policy: HandPolicy) -> str:
    if policy is HandPolicy.NOBODY:
        return "Hand raising is turned off in this room."
    return "In this room only people followed by someone on stage can raise a hand."


def is_moderator(role: Role | None) -> bool:
    return role is Role.MODERATOR


def may_join(kind: RoomKind, user_id: int, host_id: int, allowed: frozenset[int],
             followed_by_moderator: bool = False) -> bool:
    """Open rooms admit any member. Social rooms admit people a moderator of the room follows;
    closed rooms do not. Both admit the host and people a moderator let in (or someone pinged).

    ``followed_by_moderator`` is a fact the caller looked up: the rules do no I/O.
    """
    if kind is RoomKind.OPEN or user_id == host_id or user_id in allowed:
        return True
    return kind is RoomKind.SOCIAL and followed_by_moderator


def refusal(kind: RoomKind) -> str:
    """Why ``may_join`` said no, for people."""
    if kind is RoomKind.SOCIAL:
        return ("This room is social: only people a moderator follows, or people a moderator "
                "let in or someone pinged, can join.")
    return "This room is closed: a moderator has to let you in or ping you."


def may_ping(kind: RoomKind, actor_is_moderator: bool, target_follows_actor: bool) -> bool:
    """Moderators ping anyone; in open and social rooms anyone present pings their followers."""
    if actor_is_moderator:
        return True
    return kind is not RoomKind.CLOSED and target_follows_actor


def may_act_on(actor_id: int, target_id: int, host_id: int) -> bool:
    """Nobody but the host may demote, mute or otherwise act on the host."""
    return target_id != host_id or actor_id == host_id

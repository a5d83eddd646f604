"""Intents sent to a room, and the events and errors that come out of ``apply``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Join:
    actor: int
    username: str
    display_name: str
    followed_by_moderator: bool = False  # looked up by the service: social rooms admit these
    banned: bool = False  # a live ban from this room (looked up by the service)
    blocked_by_moderator: bool = False  # a moderator of the room blocked this person


@dataclass(frozen=True, slots=True)
class Leave:
    actor: int


@dataclass(frozen=True, slots=True)
class RaiseHand:
    actor: int
    followed_by_stage: bool = False  # someone on stage follows the actor (looked up)


@dataclass(frozen=True, slots=True)
class LowerHand:
    actor: int
    target: int | None = None  # a moderator may lower someone else's hand


@dataclass(frozen=True, slots=True)
class InviteToSpeak:
    actor: int
    target: int


@dataclass(frozen=True, slots=True)
class AcceptInvite:
    actor: int


@dataclass(frozen=True, slots=True)
class DeclineInvite:
    actor: int


@dataclass(frozen=True, slots=True)
class MoveToAudience:
    actor: int
    target: int


@dataclass(frozen=True, slots=True)
class MakeModerator:
    actor: int
    target: int


@dataclass(frozen=True, slots=True)
class Mute:
    """A moderator mutes someone on stage; only that person may unmute."""

    actor: int
    target: int


@dataclass(frozen=True, slots=True)
class SetMuted:
    """Someone on stage mutes or unmutes themself."""

    actor: int
    muted: bool


@dataclass(frozen=True, slots=True)
class StepDown:
    actor: int


@dataclass(frozen=True, slots=True)
class AllowUser:
    """A moderator lets someone into a closed room."""

    actor: int
    target: int


@dataclass(frozen=True, slots=True)
class Ping:
    """Someone in the room asks ``target`` (not in it) to come; pinging lets them in."""

    actor: int
    target: int
    target_follows_actor: bool = False  # looked up by the service


@dataclass(frozen=True, slots=True)
class RevokeModerator:
    """A moderator takes moderation back: the target stays on stage as a speaker."""

    actor: int
    target: int


@dataclass(frozen=True, slots=True)
class RemoveMember:
    """A moderator removes someone from the room (the service records any ban). ``reason``
    "blocked": the service removes someone the moderator blocked (docs/moderation.md)."""

    actor: int
    target: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SetHandPolicy:
    actor: int
    policy: str  # a HandPolicy value


@dataclass(frozen=True, slots=True)
class SetCaptions:
    """The host turns live captions on or off for the room (speakers still opt in)."""

    actor: int
    on: bool


@dataclass(frozen=True, slots=True)
class SetRecording:
    """The host turns recording on or off (``reason`` set by the service only: "disk_full")."""

    actor: int
    on: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class EndRoom:
    actor: int
    reason: str | None = None  # set by the service only (e.g. "host_suspended")


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed: ends a room whose stage has been empty past its grace period."""


Command = (
    Join | Leave | RaiseHand | LowerHand | InviteToSpeak | AcceptInvite | DeclineInvite
    | MoveToAudience | MakeModerator | Mute | SetMuted | StepDown | AllowUser | Ping | EndRoom
    | RevokeModerator | RemoveMember | SetHandPolicy | SetCaptions | SetRecording | Tick
)


class EventType(StrEnum):
    MEMBER_JOINED = "member_joined"
    MEMBER_LEFT = "member_left"
    ROLE_CHANGED = "role_changed"
    MUTE_CHANGED = "mute_changed"
    HAND_RAISED = "hand_raised"
    HAND_LOWERED = "hand_lowered"
    SPEAK_INVITED = "speak_invited"
    INVITE_DECLINED = "invite_declined"
    USER_ALLOWED = "user_allowed"
    ROOM_ENDED = "room_ended"
    MEMBER_REMOVED = "member_removed"
    HAND_POLICY_CHANGED = "hand_policy_changed"
    CAPTIONS_CHANGED = "captions_changed"
    RECORDING_CHANGED = "recording_changed"


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """Something that happened in a room.

    ``private`` events reach only the room's moderators and ``subject``; the rest reach everyone.
    """

    type: EventType
    data: Mapping[str, object] = field(default_factory=dict)
    subject: int | None = None
    private: bool = False

    @property
    def is_audience_only(self) -> bool:
        """An audience member came or went: these are coalesced for large rooms."""
        return (
            self.type in (EventType.MEMBER_JOINED, EventType.MEMBER_LEFT)
            and self.data.get("role") == "listener"
        )

    def to_dict(self) -> dict[str, object]:
        return {"type": self.type.value, **self.data}


class RoomError(Exception):
    """A command that the rules refuse. ``code`` is stable; ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

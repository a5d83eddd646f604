"""Room state: immutable values, replaced wholesale by ``apply``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from podium.domain.roles import HandPolicy, Role, RoomKind, RoomStatus


@dataclass(frozen=True, slots=True)
class Member:
    """One person present in a room."""

    user_id: int
    username: str
    display_name: str
    role: Role
    joined_at: float
    stage_since: float | None = None
    muted: bool = False
    hand_raised_at: float | None = None
    invited_at: float | None = None  # a pending invitation to speak

    def public(self) -> dict[str, object]:
        """What everyone in the room may see of this member.

        ``joined_at`` and ``stage_since`` are the keys the stage and the audience are ordered by:
        without them a client cannot tell where a member who changes role belongs.
        """
        return {
            "user_id": self.user_id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role.value,
            "muted": self.muted,
            "joined_at": self.joined_at,
            "stage_since": self.stage_since,
        }


@dataclass(frozen=True, slots=True)
class _Derived:
    stage: tuple[Member, ...]
    hands: tuple[Member, ...]
    listeners: tuple[Member, ...]
    audience_count: int
    moderators: frozenset[int]
    heard: frozenset[int]


@dataclass(frozen=True, slots=True)
class RoomState:
    room_id: str
    host_id: int
    kind: RoomKind
    created_at: float
    grace_seconds: float
    status: RoomStatus = RoomStatus.LIVE
    members: Mapping[int, Member] = field(default_factory=dict)
    allowed: frozenset[int] = frozenset()
    empty_stage_since: float | None = None
    ended_at: float | None = None
    hand_policy: HandPolicy = HandPolicy.EVERYONE
    captions: bool = False  # the host turned live captions on (docs/captions.md)
    recording: bool = False  # everyone in the room is told (consent); the host decides
    # What the properties below derive from ``members``, made on first use: each is a pass
    # over every member, and a room with thousands of listeners asks for them on every join.
    # The state never changes, so neither do they (``replace`` makes a new, empty cache).
    _derived: list[_Derived] = field(default_factory=list, init=False, repr=False,
                                     compare=False)

    def member(self, user_id: int) -> Member | None:
        return self.members.get(user_id)

    def role_of(self, user_id: int) -> Role | None:
        m = self.members.get(user_id)
        return m.role if m else None

    def _derive(self) -> _Derived:
        if not self._derived:
            stage, raised, listeners = [], [], []
            for m in self.members.values():
                if m.role.on_stage:
                    stage.append(m)
                else:
                    listeners.append(m)
                if m.hand_raised_at is not None:
                    raised.append(m)
            stage.sort(key=lambda m: (m.role is not Role.MODERATOR, m.stage_since or 0.0,
                                      m.user_id))
            raised.sort(key=lambda m: (m.hand_raised_at or 0.0, m.user_id))
            listeners.sort(key=lambda m: (m.joined_at, m.user_id))
            self._derived.append(_Derived(
                tuple(stage), tuple(raised), tuple(listeners), len(listeners),
                frozenset(m.user_id for m in stage if m.role is Role.MODERATOR),
                frozenset(m.user_id for m in stage if not m.muted)))
        return self._derived[0]

    @property
    def stage(self) -> list[Member]:
        """On-stage members, moderators first, then by time on stage, then by user id."""
        return list(self._derive().stage)

    @property
    def moderator_ids(self) -> frozenset[int]:
        return self._derive().moderators

    @property
    def hand_queue(self) -> list[Member]:
        """Raised hands, earliest first."""
        return list(self._derive().hands)

    @property
    def listeners(self) -> tuple[Member, ...]:
        """The audience in the order they joined."""
        return self._derive().listeners

    @property
    def audience_count(self) -> int:
        return self._derive().audience_count

    @property
    def heard(self) -> frozenset[int]:
        """Exactly the unmuted people on stage: the server mixes these and drops the rest."""
        return self._derive().heard

    @property
    def live(self) -> bool:
        return self.status is RoomStatus.LIVE

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

    def member(self, user_id: int) -> Member | None:
        return self.members.get(user_id)

    def role_of(self, user_id: int) -> Role | None:
        m = self.members.get(user_id)
        return m.role if m else None

    @property
    def stage(self) -> list[Member]:
        """On-stage members, moderators first, then by time on stage, then by user id."""
        on = [m for m in self.members.values() if m.role.on_stage]
        return sorted(on, key=lambda m: (m.role is not Role.MODERATOR, m.stage_since or 0.0,
                                         m.user_id))

    @property
    def moderator_ids(self) -> frozenset[int]:
        return frozenset(u for u, m in self.members.items() if m.role is Role.MODERATOR)

    @property
    def hand_queue(self) -> list[Member]:
        """Raised hands, earliest first."""
        raised = [m for m in self.members.values() if m.hand_raised_at is not None]
        return sorted(raised, key=lambda m: (m.hand_raised_at or 0.0, m.user_id))

    @property
    def audience_count(self) -> int:
        return sum(1 for m in self.members.values() if m.role is Role.LISTENER)

    @property
    def heard(self) -> frozenset[int]:
        """Exactly the unmuted people on stage: the server mixes these and drops the rest."""
        return frozenset(
            u for u, m in self.members.items() if m.role.on_stage and not m.muted
        )

    @property
    def live(self) -> bool:
        return self.status is RoomStatus.LIVE

"""What one viewer sees of a room: the snapshot a client starts from."""

from __future__ import annotations

from podium.domain.roles import Role
from podium.domain.state import Member, RoomState

AUDIENCE_PAGE = 50


def audience(state: RoomState, offset: int = 0, limit: int = AUDIENCE_PAGE) -> list[Member]:
    """Listeners in the order they joined, one page at a time."""
    return list(state.listeners[offset:offset + limit])


def hand_entry(member: Member) -> dict[str, object]:
    return {"user_id": member.user_id, "username": member.username,
            "display_name": member.display_name, "at": member.hand_raised_at,
            "invited": member.invited_at is not None}


def snapshot(state: RoomState, viewer_id: int) -> dict[str, object]:
    """The room as ``viewer_id`` may see it. Raised hands are shown to moderators only."""
    me = state.member(viewer_id)
    moderator = me is not None and me.role is Role.MODERATOR
    return {
        "room_id": state.room_id,
        "host_id": state.host_id,
        "kind": state.kind.value,
        "status": state.status.value,
        "hand_policy": state.hand_policy.value,
        "captions": state.captions,
        "recording": state.recording,
        "stage": [m.public() for m in state.stage],
        "audience_count": state.audience_count,
        "audience": [m.public() for m in audience(state)],
        "hands": [hand_entry(m) for m in state.hand_queue] if moderator else None,
        "me": _me(me),
    }


def _me(me: Member | None) -> dict[str, object] | None:
    if me is None:
        return None
    return {
        "user_id": me.user_id,
        "role": me.role.value,
        "muted": me.muted,
        "hand_raised": me.hand_raised_at is not None,
        "invited": me.invited_at is not None,
    }

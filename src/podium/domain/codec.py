"""Room state and commands as JSON-safe values, so several nodes can share one room.

Nodes replicate a room by applying the same commands in the same order (``apply`` is pure
and is given the time), starting from a checkpoint of the state; both cross Redis as JSON.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from podium.domain import commands as c
from podium.domain.roles import HandPolicy, Role, RoomKind, RoomStatus
from podium.domain.state import Member, RoomState

COMMANDS: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (
        c.Join, c.Leave, c.RaiseHand, c.LowerHand, c.InviteToSpeak, c.AcceptInvite,
        c.DeclineInvite, c.MoveToAudience, c.MakeModerator, c.Mute, c.SetMuted, c.StepDown,
        c.AllowUser, c.Ping, c.EndRoom, c.RevokeModerator, c.RemoveMember, c.SetHandPolicy,
        c.SetCaptions, c.SetRecording, c.Tick)
}


class CodecError(ValueError):
    """A value that is not a command or a state this version understands."""


def encode_command(command: c.Command) -> dict[str, Any]:
    # Commands hold only ints, strings, bools and None: no conversion needed.
    return {"t": type(command).__name__,
            **{f.name: getattr(command, f.name) for f in fields(command)}}


def decode_command(data: dict[str, Any]) -> c.Command:
    cls = COMMANDS.get(str(data.get("t")))
    if cls is None:
        raise CodecError(f"unknown command {data.get('t')!r}")
    try:
        command: c.Command = cls(**{k: v for k, v in data.items() if k != "t"})
    except TypeError as exc:
        raise CodecError(str(exc)) from None
    return command


def _encode_member(m: Member) -> list[Any]:
    return [m.user_id, m.username, m.display_name, m.role.value, m.joined_at, m.stage_since,
            m.muted, m.hand_raised_at, m.invited_at]


def _decode_member(row: list[Any]) -> Member:
    user_id, username, display_name, role, joined_at, stage_since, muted, hand, invited = row
    return Member(int(user_id), str(username), str(display_name), Role(role), float(joined_at),
                  stage_since, bool(muted), hand, invited)


def encode_state(state: RoomState) -> dict[str, Any]:
    return {
        "room_id": state.room_id, "host_id": state.host_id, "kind": state.kind.value,
        "created_at": state.created_at, "grace_seconds": state.grace_seconds,
        "status": state.status.value, "allowed": sorted(state.allowed),
        "members": [_encode_member(m) for m in state.members.values()],
        "empty_stage_since": state.empty_stage_since, "ended_at": state.ended_at,
        "hand_policy": state.hand_policy.value, "captions": state.captions,
        "recording": state.recording,
    }


def decode_state(data: dict[str, Any]) -> RoomState:
    try:
        members = [_decode_member(row) for row in data["members"]]
        return RoomState(
            room_id=str(data["room_id"]), host_id=int(data["host_id"]),
            kind=RoomKind(data["kind"]), created_at=float(data["created_at"]),
            grace_seconds=float(data["grace_seconds"]), status=RoomStatus(data["status"]),
            members={m.user_id: m for m in members},
            allowed=frozenset(int(u) for u in data["allowed"]),
            empty_stage_since=data["empty_stage_since"], ended_at=data["ended_at"],
            hand_policy=HandPolicy(data["hand_policy"]),
            captions=bool(data.get("captions", False)),  # absent in older checkpoints
            recording=bool(data.get("recording", False)))
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"bad room state: {exc}") from None
